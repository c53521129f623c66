"""Trains a small U-Net that marks the lesion pixels of grayscale scans, from a table pairing
each image with its binary mask (`image`, `mask`: paths relative to the data set), and saves it
as TorchScript with `config.json`."""

from __future__ import annotations

import json
from pathlib import Path

import aicc_template
import torch
from torch import nn


def block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(),
    )


class UNet(nn.Module):
    """Two levels down and up with skip connections; answers a lesion logit per pixel."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.down1, self.down2 = block(1, width), block(width, 2 * width)
        self.bottom = block(2 * width, 4 * width)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = block(4 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec1 = block(2 * width, width)
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.down1(x)
        b = self.down2(nn.functional.max_pool2d(a, 2))
        c = self.bottom(nn.functional.max_pool2d(b, 2))
        b = self.dec2(torch.cat([self.up2(c), b], 1))
        return self.out(self.dec1(torch.cat([self.up1(b), a], 1)))


class Scaled(nn.Module):
    """The U-Net with its input scaling and a sigmoid: takes 0..1 pixels, answers lesion
    probabilities (what the saved model does)."""

    def __init__(self, net: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net((x - self.mean) / self.std))


def load(path: Path, size: int, mode: str = "area") -> torch.Tensor:
    """An image as a 1 x 1 x size x size float tensor of 0..1, resized where needed."""
    image = torch.from_numpy(aicc_template.read_image(path)).permute(2, 0, 1)[None].float()
    if image.shape[2:] != (size, size):
        image = nn.functional.interpolate(image, (size, size), mode=mode)
    return image / 255


def iou(predicted: torch.Tensor, truth: torch.Tensor) -> float:
    """Foreground intersection over union, over all the pixels given."""
    union = float((predicted | truth).sum())
    return float((predicted & truth).sum()) / union if union else 1.0


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    torch.set_num_threads(1)  # a net this small gains nothing from threads on shared cores
    size = hp["image_size"]
    pairs = run.read_table(["image", "mask"])
    x = torch.cat([load(run.data / p, size) for p in pairs["image"]])
    y = torch.cat([load(run.data / p, size, "nearest") for p in pairs["mask"]]) > 0  # 0/1 or 0/255
    train_idx, test_idx = aicc_template.split(len(x), hp["test_fraction"], hp["seed"])
    device = aicc_template.device()
    xtr, ytr = x[train_idx].to(device), y[train_idx].float().to(device)
    xte, yte = x[test_idx].to(device), y[test_idx].to(device)
    mean, std = float(xtr.mean()), float(xtr.std()) + 1e-6
    model = Scaled(UNet(hp["width"]), mean, std).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=hp["learning_rate"])
    for epoch in range(1, hp["epochs"] + 1):
        model.train()
        order = torch.randperm(len(xtr), device=device)
        total = 0.0
        for i in range(0, len(order), hp["batch_size"]):
            batch = order[i : i + hp["batch_size"]]
            images, masks = xtr[batch], ytr[batch]
            if hp["augment"]:  # a lesion is a lesion mirrored
                if torch.rand(()) < 0.5:
                    images, masks = images.flip(3), masks.flip(3)
                if torch.rand(()) < 0.5:
                    images, masks = images.flip(2), masks.flip(2)
            logits = model.net((images - mean) / std)
            p = torch.sigmoid(logits)
            dice = 1 - (2 * (p * masks).sum() + 1) / (p.sum() + masks.sum() + 1)
            loss = nn.functional.binary_cross_entropy_with_logits(logits, masks) + dice
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        run.log(epoch, loss=total / len(xtr), iou=iou(segment(model, xte, hp["threshold"]), yte))

    predicted = segment(model, xte, hp["threshold"])
    score = iou(predicted, yte)
    scripted = torch.jit.trace(model.cpu(), torch.zeros(1, 1, size, size))
    scripted.save(str(run.model_dir / "model.pt"))
    config = {"image_size": size, "threshold": hp["threshold"]}
    (run.model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    found = int((predicted.flatten(1).any(1) == yte.flatten(1).any(1)).sum())
    run.finish(
        {"iou": score, "lesion_share": float(y.float().mean())},
        {
            "summary": {
                "en": f"Marks lesion pixels on {size}x{size} grayscale scans; on {len(test_idx)} "
                f"held-out scans the marked area overlaps the true lesions by {score:.0%} (IoU).",
                "zh-CN": f"在 {size}x{size} 灰度影像上逐像素标出病灶；在 {len(test_idx)} 张预留"
                f"测试影像上，预测区域与真实病灶的交并比（IoU）为 {score:.0%}。",
            },
            "scans": len(x),
            "train_scans": len(train_idx),
            "test_scans": len(test_idx),
            "lesion_pixel_share": round(float(y.float().mean()), 4),
            "test_scans_with_lesion_found_right": found,
            "predicts": "a mask per scan: white where a lesion is, and its size in pixels",
        },
    )


@torch.no_grad()
def segment(model: nn.Module, x: torch.Tensor, threshold: float) -> torch.Tensor:
    """The lesion mask of each scan, a batch at a time (bounded memory)."""
    model.eval()
    return torch.cat([model(x[i : i + 64]) > threshold for i in range(0, len(x), 64)])


if __name__ == "__main__":
    main()
