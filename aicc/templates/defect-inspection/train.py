"""Trains a small convolutional network that sorts surface photos into their defect classes
(one subfolder of images per class), and saves it as TorchScript with `classes.json`."""

from __future__ import annotations

import json

import aicc_template
import torch
from torch import nn


def network(classes: int, width: int) -> nn.Module:
    """Three convolution blocks and a max over the image: a defect anywhere counts."""

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(1, width),
        nn.MaxPool2d(2),
        *block(width, 2 * width),
        nn.MaxPool2d(2),
        *block(2 * width, 2 * width),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, classes),
    )


def load(paths: list, size: int) -> torch.Tensor:
    """Images as a float tensor N x 1 x size x size, scaled to 0..1 (resized where needed)."""
    out = []
    for path in paths:
        image = torch.from_numpy(aicc_template.read_image(path)).permute(2, 0, 1)[None].float()
        if image.shape[2:] != (size, size):
            image = nn.functional.interpolate(image, (size, size), mode="area")
        out.append(image)
    return torch.cat(out) / 255


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    torch.set_num_threads(1)  # a net this small gains nothing from threads on shared cores
    classes = sorted(d.name for d in run.data.iterdir() if d.is_dir() and aicc_template.images(d))
    if len(classes) < 2:
        raise SystemExit(f"{run.data} needs at least two class folders of images")
    files = [
        (p, c) for c, name in enumerate(classes) for p in aicc_template.images(run.data / name)
    ]
    train_idx, test_idx = aicc_template.split(len(files), hp["test_fraction"], hp["seed"])
    size = hp["image_size"]
    x = load([p for p, _ in files], size)
    y = torch.tensor([c for _, c in files])
    device = aicc_template.device()
    model = network(len(classes), hp["width"]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=hp["learning_rate"])
    xtr, ytr = x[train_idx].to(device), y[train_idx].to(device)
    xte, yte = x[test_idx].to(device), y[test_idx].to(device)
    mean, std = float(xtr.mean()), float(xtr.std()) + 1e-6
    for epoch in range(1, hp["epochs"] + 1):
        model.train()
        order = torch.randperm(len(xtr), device=device)
        total = 0.0
        for i in range(0, len(order), hp["batch_size"]):
            batch = order[i : i + hp["batch_size"]]
            images = (xtr[batch] - mean) / std
            if hp["augment"]:  # defects look the same mirrored
                images = torch.where(torch.rand(()) < 0.5, images.flip(3), images)
                images = torch.where(torch.rand(()) < 0.5, images.flip(2), images)
            loss = nn.functional.cross_entropy(model(images), ytr[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch)
        predicted = classify(model, (xte - mean) / std)
        run.log(epoch, loss=total / len(xtr), accuracy=float((predicted == yte).float().mean()))

    predicted = classify(model, (xte - mean) / std).cpu()
    accuracy = float((predicted == yte.cpu()).float().mean())
    scripted = torch.jit.trace(Normalised(model.cpu(), mean, std), torch.zeros(1, 1, size, size))
    scripted.save(str(run.model_dir / "model.pt"))
    (run.model_dir / "classes.json").write_text(
        json.dumps({"classes": classes, "image_size": size}, indent=2) + "\n"
    )
    per_class = {
        name: float((predicted[yte.cpu() == c] == c).float().mean())
        for c, name in enumerate(classes)
        if (yte.cpu() == c).any()
    }
    run.finish(
        {"accuracy": accuracy},
        {
            "summary": {
                "en": f"Sorts {size}x{size} surface photos into {len(classes)} classes "
                f"({', '.join(classes)}); right on {accuracy:.0%} of {len(test_idx)} "
                "held-out photos.",
                "zh-CN": f"将 {size}x{size} 的表面图像分为 {len(classes)} 类"
                f"（{'、'.join(classes)}）；在 {len(test_idx)} 张预留测试图像上"
                f"准确率为 {accuracy:.0%}。",
            },
            "images": len(files),
            "train_images": len(train_idx),
            "test_images": len(test_idx),
            "classes": classes,
            "test_accuracy_per_class": per_class,
            "predicts": "the class of each image (label) and its probability (score)",
        },
    )


class Normalised(nn.Module):
    """The network with its input scaling and a softmax, so the saved model takes 0..1 pixels
    and answers probabilities."""

    def __init__(self, net: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net((x - self.mean) / self.std), dim=1)


@torch.no_grad()
def classify(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The predicted class of each image, a batch at a time (bounded memory)."""
    model.eval()
    return torch.cat([model(x[i : i + 256]).argmax(1) for i in range(0, len(x), 256)])


if __name__ == "__main__":
    main()
