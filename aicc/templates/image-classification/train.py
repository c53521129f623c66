"""Image classification for any folders of images, one folder per class (CLASS/IMAGE.png|jpg).

Two models compete on a validation split within the time budget, and the better one is kept
(validation accuracy, then log loss):
- gradient-orientation histograms (HOG) and a coarse thumbnail of the image, fed to a logistic
  regression: seconds to train, strong on few images and simple shapes;
- a small convolutional network trained from scratch (no pretrained weights: nothing is
  downloaded), with random shifts and, when mirrored images keep their class, mirroring; it
  stops early when the validation accuracy stops rising, or when the budget is spent.
Either is saved as one TorchScript module that takes pixels scaled to 0..1 (N x C x S x S) and
answers each class's probability, so predict.py runs both the same way.

Writes, beside what every template writes, `model/schema.json` and the report's `facts` and
`charts` (the confusion matrix on the held-out images).
"""

from __future__ import annotations

import json
import math
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import aicc_template
import numpy as np
import torch
from torch import nn

ORIENTATIONS = 9
MIN_PER_CLASS = 2
MAX_EPOCHS = 200
MAX_LISTED = 50  # classes with a probability column and a confusion matrix, at most
PATIENCE = 10  # epochs without a better validation accuracy before the network stops, at least


def load(paths: list[Path], size: int, channels: int) -> torch.Tensor:
    """Images as a float tensor N x channels x size x size in 0..1, each resized (squashed)
    to size x size: area-averaged when shrunk, bilinear when enlarged. Pillow decodes and
    resizes where it is installed (fast, and every format); else the runtime's PNG reader."""
    out = [torch.from_numpy(pixels(path, size, channels).copy()) for path in paths]
    if not out:
        return torch.zeros(0, channels, size, size)
    return torch.stack(out).permute(0, 3, 1, 2).float() / 255


def pixels(path: Path, size: int, channels: int) -> np.ndarray:
    """One image as uint8 size x size x channels."""
    try:
        from PIL import Image
    except ImportError:  # PNG only, with the runtime's reader
        array = aicc_template.read_image(path, channels)
        image = torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None].float()
        if image.shape[2:] != (size, size):
            shrink = image.shape[2] >= size and image.shape[3] >= size
            mode = "area" if shrink else "bilinear"
            image = nn.functional.interpolate(image, (size, size), mode=mode)
        return image[0].permute(1, 2, 0).round().clamp(0, 255).byte().numpy()
    with Image.open(path) as opened:
        image = opened.convert("RGB" if channels == 3 else "L")
        if image.size != (size, size):
            shrink = image.size[0] >= size and image.size[1] >= size
            image = image.resize((size, size), Image.BOX if shrink else Image.BILINEAR)
        return np.asarray(image, dtype=np.uint8).reshape(size, size, channels)


def readable(found: list[tuple[Path, str]]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """The images that open, and those that do not (a broken or unknown file)."""
    good, bad = [], []
    for path, name in found:
        try:
            pixels(path, 8, 1)
        except (OSError, ValueError, SystemExit):
            bad.append(path)
        else:
            good.append((path, name))
    return good, bad


def labelled(data: Path) -> list[tuple[Path, str]]:
    """Every image under `data` whose folder (the image's parent, inside `data`) is its class."""
    found = []
    for path in aicc_template.images(data):
        if path.parent != data:
            found.append((path, path.parent.name))
    return found


def colour(paths: list[Path]) -> bool:
    """Whether the images are in colour: some of the first 200 have R, G, B that differ."""
    for path in paths[:200]:
        rgb = pixels(path, 32, 3).astype(np.int16)
        if np.abs(rgb[:, :, 0] - rgb[:, :, 1]).max() > 8:
            return True
        if np.abs(rgb[:, :, 1] - rgb[:, :, 2]).max() > 8:
            return True
    return False


def side(paths: list[Path]) -> int:
    """The side the images are scaled to: their median side, at least 16 and a multiple of 8,
    at most 32 on CPU (64 with a GPU)."""
    sides = []
    for path in paths[:200]:
        try:
            from PIL import Image

            with Image.open(path) as image:
                sides.append(min(image.size))
        except ImportError:
            sides.append(min(aicc_template.read_image(path, 1).shape[:2]))
    most = 64 if aicc_template.device() == "cuda" else 32
    return int(min(most, max(16, 8 * math.ceil(float(np.median(sides)) / 8))))


class Hog(nn.Module):
    """Histograms of gradient orientations (unsigned, 9 bins): per cell (each scaled to unit
    length), and for the whole image and its four quarters the size of each frequency of the
    histogram around the circle, which stays the same when the object turns (a square's
    edges make the second, a triangle's the third); and a 4x4-per-channel thumbnail."""

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        self.channels = channels
        self.cell = max(2, size // 8)
        kernel = torch.tensor([[-1.0, 0.0, 1.0]])
        self.register_buffer("dx", kernel.view(1, 1, 1, 3))
        self.register_buffer("dy", kernel.view(1, 1, 3, 1))
        smooth = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("blur", (smooth[:, None] * smooth[None, :] / 16).view(1, 1, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Smoothed first: pixel noise otherwise drowns the edges' orientations.
        gray = nn.functional.pad(x.mean(dim=1, keepdim=True), (1, 1, 1, 1), mode="replicate")
        gray = nn.functional.conv2d(gray, self.blur)
        gx = nn.functional.conv2d(nn.functional.pad(gray, (1, 1, 0, 0), mode="replicate"), self.dx)
        gy = nn.functional.conv2d(nn.functional.pad(gray, (0, 0, 1, 1), mode="replicate"), self.dy)
        magnitude = torch.sqrt(gx * gx + gy * gy + 1e-12)
        angle = torch.remainder(torch.atan2(gy, gx), math.pi) / math.pi * ORIENTATIONS
        low = torch.floor(angle)
        upper = angle - low  # the share of the next bin (bins wrap around)
        low_bin = torch.remainder(low, ORIENTATIONS).long()
        high_bin = torch.remainder(low + 1, ORIENTATIONS).long()
        bins = torch.zeros_like(magnitude).repeat(1, ORIENTATIONS, 1, 1)
        bins = bins.scatter_add(1, low_bin, magnitude * (1 - upper))
        bins = bins.scatter_add(1, high_bin, magnitude * upper)
        cells = nn.functional.avg_pool2d(bins, self.cell)
        cells = cells / (cells.norm(dim=1, keepdim=True) + 1e-3)
        regions = torch.cat(
            [
                bins.mean(dim=(2, 3))[:, :, None],
                nn.functional.adaptive_avg_pool2d(bins, 2).flatten(2),
            ],
            dim=2,
        )  # N x bins x 5: the whole image, then its quarters
        regions = regions / (regions.sum(dim=1, keepdim=True) + 1e-6)
        turning = torch.fft.rfft(regions, dim=1).abs()[:, 1:]
        thumb = nn.functional.adaptive_avg_pool2d(x, 4)
        return torch.cat([cells.flatten(1), turning.flatten(1), thumb.flatten(1)], dim=1)


class Linear(nn.Module):
    """HOG features, standardised, and a logistic regression: pixels in, probabilities out."""

    def __init__(self, hog: Hog, mean: torch.Tensor, scale: torch.Tensor, coef: Any, bias: Any):
        super().__init__()
        self.hog = hog
        self.register_buffer("mean", mean)
        self.register_buffer("scale", scale)
        self.out = nn.Linear(coef.shape[1], coef.shape[0])
        with torch.no_grad():
            self.out.weight.copy_(torch.as_tensor(coef, dtype=torch.float32))
            self.out.bias.copy_(torch.as_tensor(bias, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.out((self.hog(x) - self.mean) / self.scale)
        if logits.shape[1] == 1:  # two classes: one logit for the second
            return torch.cat([torch.sigmoid(-logits), torch.sigmoid(logits)], dim=1)
        return torch.softmax(logits, dim=1)


def network(channels: int, classes: int, width: int) -> nn.Module:
    """Four convolution blocks, each but the last halving the image, and an average over it:
    about 3.5 million multiply-adds for a 32x32 image at width 16 (CPU-friendly)."""

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]

    return nn.Sequential(
        *block(channels, width),
        nn.MaxPool2d(2),
        *block(width, 2 * width),
        nn.MaxPool2d(2),
        *block(2 * width, 4 * width),
        nn.MaxPool2d(2),
        *block(4 * width, 4 * width),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(0.2),
        nn.Linear(4 * width, classes),
    )


class Network(nn.Module):
    """The network with its input scaling and a softmax: pixels in 0..1 in, probabilities out."""

    def __init__(self, net: nn.Module, mean: float, std: float) -> None:
        super().__init__()
        self.net, self.mean, self.std = net, mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.net((x - self.mean) / self.std), dim=1)


@torch.no_grad()
def probabilities(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Each class's probability for each image, a batch at a time (bounded memory)."""
    model.eval()
    parts = [model(x[i : i + 256]) for i in range(0, len(x), 256)]
    return torch.cat(parts) if parts else torch.zeros(0)


def features(hog: Hog, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return torch.cat([hog(x[i : i + 512]) for i in range(0, len(x), 512)]).numpy()


def fit_linear(
    hog: Hog, x: torch.Tensor, y: np.ndarray, xv: torch.Tensor, yv: np.ndarray, seed: int
) -> tuple[float, Linear, dict[str, Any]]:
    """The logistic regression on HOG features with the best validation accuracy (C searched)."""
    from sklearn.linear_model import LogisticRegression

    train_f, val_f = features(hog, x), features(hog, xv)
    mean, scale = train_f.mean(0), train_f.std(0) + 1e-6
    train_f, val_f = (train_f - mean) / scale, (val_f - mean) / scale
    best: tuple[float, Any, float] | None = None
    for c in (0.01, 0.1, 1.0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # lbfgs may stop short of convergence
            model = LogisticRegression(C=c, max_iter=500, random_state=seed).fit(train_f, y)
        score = float((model.predict(val_f) == yv).mean())
        if best is None or score > best[0]:
            best = (score, model, c)
    assert best is not None
    score, model, c = best
    coef, bias = np.asarray(model.coef_), np.asarray(model.intercept_)
    linear = Linear(hog, torch.tensor(mean), torch.tensor(scale), coef, bias)
    return score, linear, {"C": c}


def mirrored_keeps_class(hog: Hog, x: torch.Tensor, y: np.ndarray, seed: int) -> bool:
    """Whether a mirror image is still of its class, asked of the data: a linear model
    trained on half the images recognises the other half's mirror images (nearly) as well
    as the images themselves (a mirrored 7 or 2 is not a 7 or a 2)."""
    from sklearn.linear_model import LogisticRegression

    half = np.random.default_rng(seed).permutation(len(y))
    fit_idx, check_idx = half[: len(y) // 2], half[len(y) // 2 :]
    if len(set(y[fit_idx].tolist())) < 2 or not len(check_idx):
        return False
    train_f = features(hog, x[fit_idx])
    mean, scale = train_f.mean(0), train_f.std(0) + 1e-6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(C=0.1, max_iter=300).fit((train_f - mean) / scale, y[fit_idx])
    plain = (model.predict((features(hog, x[check_idx]) - mean) / scale) == y[check_idx]).mean()
    flipped_f = features(hog, x[check_idx].flip(3))
    flipped = (model.predict((flipped_f - mean) / scale) == y[check_idx]).mean()
    return bool(flipped >= plain - 0.03)


def fit_network(
    x: torch.Tensor,
    y: np.ndarray,
    xv: torch.Tensor,
    yv: np.ndarray,
    *,
    hp: dict[str, Any],
    classes: int,
    mirror: bool,
    deadline: float,
    run: Any,
) -> tuple[float, Network, dict[str, Any]]:
    """The small CNN, trained until the validation accuracy stops rising or the deadline; the
    epoch with the best validation accuracy is kept. The learning rate follows a cosine from
    the first epoch's pace: as many epochs as the budget holds."""
    device = aicc_template.device()
    size, channels = x.shape[2], x.shape[1]
    net = network(channels, classes, hp["width"]).to(device)
    mean, std = float(x.mean()), float(x.std()) + 1e-6
    xtr, ytr = ((x - mean) / std).to(device), torch.as_tensor(y).to(device)
    xva, yva = ((xv - mean) / std).to(device), torch.as_tensor(yv)
    opt = torch.optim.AdamW(net.parameters(), lr=hp["learning_rate"], weight_decay=5e-4)
    batch, pad = hp["batch_size"], max(1, size // 8)
    generator = torch.Generator(device="cpu").manual_seed(hp["seed"])
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, {})
    planned, epoch, started = MAX_EPOCHS, 0, time.monotonic()
    while epoch < min(planned, hp["max_epochs"]):
        epoch += 1
        began = time.monotonic()
        net.train()
        progress = (epoch - 1) / max(1, min(planned, hp["max_epochs"]))
        for group in opt.param_groups:
            group["lr"] = hp["learning_rate"] * 0.5 * (1 + math.cos(math.pi * min(progress, 1)))
        order = torch.randperm(len(xtr), generator=generator).to(device)
        total = 0.0
        for i in range(0, len(order), batch):
            index = order[i : i + batch]
            if len(index) < 2:
                continue  # batch norm needs two images
            images = shifted(xtr[index], pad, generator)
            if mirror:
                flip = (torch.rand(len(index), generator=generator) < 0.5).to(device)
                images = torch.where(flip[:, None, None, None], images.flip(3), images)
            loss = nn.functional.cross_entropy(net(images), ytr[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(index)
        net.eval()
        with torch.no_grad():
            guess = torch.cat(
                [net(xva[i : i + 256]).argmax(1).cpu() for i in range(0, len(xva), 256)]
            )
        accuracy = float((guess == yva).float().mean())
        run.log(epoch, loss=total / len(xtr), val_accuracy=accuracy)
        if accuracy >= best[0]:  # on a tie the later epoch: trained longer, at a smaller step
            state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            best = (accuracy, epoch, state)
        now = time.monotonic()
        if epoch == 1:  # the budget's epochs, at this pace
            planned = max(2, int((deadline - started) / max(now - started, 1e-3)))
        # Patience grows with the plan: early epochs, at a large step, wander.
        patience = max(PATIENCE, min(planned, hp["max_epochs"]) // 3)
        if now + (now - began) > deadline or epoch - best[1] >= patience:  # no epoch past it
            break
    net.load_state_dict(best[2])
    net = net.cpu().eval()
    return best[0], Network(net, mean, std), {"epochs": epoch, "best_epoch": best[1]}


def shifted(images: torch.Tensor, pad: int, generator: torch.Generator) -> torch.Tensor:
    """Each image moved by up to `pad` pixels each way (edges repeated): a random crop."""
    size = images.shape[2]
    padded = nn.functional.pad(images, (pad, pad, pad, pad), mode="replicate")
    dx = torch.randint(0, 2 * pad + 1, (len(images),), generator=generator).tolist()
    dy = torch.randint(0, 2 * pad + 1, (len(images),), generator=generator).tolist()
    return torch.stack(
        [
            padded[i, :, y : y + size, x : x + size]
            for i, (x, y) in enumerate(zip(dx, dy, strict=True))
        ]
    )


def stratified(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A split with every class on both sides when it can be (else a shuffled one)."""
    from sklearn.model_selection import train_test_split

    classes = len(set(y.tolist()))
    count = max(round(len(y) * fraction), classes)
    index = np.arange(len(y))
    can = count <= len(y) - classes and min(Counter(y.tolist()).values()) >= 2
    a, b = train_test_split(index, test_size=count, stratify=y if can else None, random_state=seed)
    return np.sort(a), np.sort(b)


def confusion(truth: list[int], guess: list[int], classes: int) -> list[list[int]]:
    matrix = [[0] * classes for _ in range(classes)]
    for t, g in zip(truth, guess, strict=True):
        matrix[t][g] += 1
    return matrix


def macro_f1(truth: np.ndarray, guess: np.ndarray, classes: int) -> float:
    from sklearn.metrics import f1_score

    labels = list(range(classes))
    return float(f1_score(truth, guess, average="macro", labels=labels, zero_division=0))


def main() -> None:
    run = aicc_template.start()
    hp = run.hp
    if aicc_template.device() == "cpu":  # a small net on CPU: threads only wait on each other
        torch.set_num_threads(1)
    deadline = run.started + hp["time_budget_s"]
    found, unreadable = readable(labelled(run.data))
    counts = Counter(name for _, name in found)
    rare = {name: n for name, n in counts.items() if n < MIN_PER_CLASS}
    found = [(p, name) for p, name in found if name not in rare]
    classes = sorted({name for _, name in found})
    if len(classes) < 2:
        raise SystemExit(
            f"{run.data} needs at least two class folders with {MIN_PER_CLASS} or more images "
            f"each (CLASS/IMAGE.png); it has {len(classes)}"
        )
    paths = [p for p, _ in found]
    y_all = np.array([classes.index(name) for _, name in found])
    channels = 3 if colour(paths) else 1
    size = hp["image_size"] or side(paths)
    x_all = load(paths, size, channels)

    train_idx, test_idx = stratified(y_all, hp["test_fraction"], hp["seed"])
    fit_part, val_part = stratified(y_all[train_idx], 0.15, hp["seed"])
    fit_idx, val_idx = train_idx[fit_part], train_idx[val_part]
    x, y, xv, yv = x_all[fit_idx], y_all[fit_idx], x_all[val_idx], y_all[val_idx]

    hog = Hog(channels, size)
    mirror = {"on": True, "off": False}.get(hp["mirror"], False)
    tried: list[dict[str, Any]] = []
    candidates: list[tuple[float, nn.Module, str]] = []
    if hp["models"] in ("both", "linear"):
        score, linear, facts = fit_linear(hog, x, y, xv, yv, hp["seed"])
        tried.append({"model": "hog-linear", "val_accuracy": round(score, 4), **facts})
        candidates.append((score, linear, "hog-linear"))
    if hp["models"] == "cnn" or (hp["models"] == "both" and time.monotonic() < deadline):
        if hp["mirror"] == "auto":
            mirror = mirrored_keeps_class(hog, x_all[train_idx], y_all[train_idx], hp["seed"])
        score, net, facts = fit_network(
            x, y, xv, yv, hp=hp, classes=len(classes), mirror=mirror, deadline=deadline, run=run
        )
        tried.append({"model": "cnn", "val_accuracy": round(score, 4), **facts})
        candidates.append((score, net, "cnn"))
    # The better validation accuracy; on a tie the surer one (lower validation log loss), or
    # with under 50 validation images, where the surer one is as often the overfitted one,
    # the simpler (the linear model, first).
    for entry, (_, candidate, _) in zip(tried, candidates, strict=True):
        chances = probabilities(candidate, xv).clamp_min(1e-7)
        loss = float(-chances[torch.arange(len(yv)), torch.as_tensor(yv)].log().mean())
        entry["val_log_loss"] = round(loss, 4)
    few = len(yv) < 50
    best = max(
        range(len(candidates)),
        key=lambda i: (candidates[i][0], -i if few else -tried[i]["val_log_loss"]),
    )
    score, model, kind = candidates[best]

    chances = probabilities(model, x_all[test_idx])
    guess = chances.argmax(1).numpy()
    truth = y_all[test_idx]
    accuracy = float((guess == truth).mean())
    f1 = macro_f1(truth, guess, len(classes))
    common = Counter(y_all[train_idx].tolist()).most_common(1)[0][0]
    base_accuracy = float((truth == common).mean())
    base_f1 = macro_f1(truth, np.full_like(truth, common), len(classes))

    scripted = torch.jit.trace(model.cpu().eval(), torch.zeros(1, channels, size, size))
    scripted.save(str(run.model_dir / "model.pt"))
    config = {"classes": classes, "image_size": size, "channels": channels, "model": kind}
    (run.model_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", "utf-8")
    outputs = [
        {"name": "class_predicted", "type": "category"},
        {"name": "probability", "type": "number"},
    ]
    if len(classes) <= MAX_LISTED:  # a column per class's probability
        outputs += [{"name": f"probability_{c}", "type": "number"} for c in classes]
    schema = {
        "task": "image-classification",
        "target": "class",
        "inputs": [{"name": "image", "type": "image", "required": True}],
        "outputs": outputs,
        "classes": classes,
        "image_size": size,
        "channels": channels,
    }
    (run.model_dir / "schema.json").write_text(
        json.dumps(schema, indent=2, ensure_ascii=False) + "\n", "utf-8"
    )

    names = {
        "hog-linear": "logistic regression on HOG features",
        "cnn": "small convolutional network (trained from scratch)",
    }
    names_zh = {"hog-linear": "基于 HOG 特征的逻辑回归", "cnn": "小型卷积神经网络（从零训练）"}
    look = f"{size}x{size} {'colour' if channels == 3 else 'grayscale'}"
    look_zh = f"{size}x{size} {'彩色' if channels == 3 else '灰度'}"
    per_class = Counter(name for _, name in found)
    left_en = left_zh = ""
    if rare:
        left_en = f" Left out: {len(rare)} class folders with a single image ({', '.join(rare)})."
        left_zh = f"已剔除只有一张图像的 {len(rare)} 个类别文件夹（{'、'.join(rare)}）。"
    if unreadable:
        left_en += f" {len(unreadable)} files could not be read as images and were left out."
        left_zh += f"有 {len(unreadable)} 个文件无法作为图像读取，已剔除。"
    run.finish(
        {
            "accuracy": accuracy,
            "f1_macro": f1,
            "baseline_accuracy": base_accuracy,
            "baseline_f1_macro": base_f1,
        },
        {
            "summary": {
                "en": (
                    f"Sorts {look} images into {len(classes)} classes ({', '.join(classes)}) "
                    f"with a {names[kind]}. Learned from {len(train_idx)} images; right on "
                    f"{accuracy:.0%} of {len(test_idx)} held-out images (macro F1 {f1:.3f}), "
                    f"against {base_accuracy:.0%} for always answering the most common class."
                    + left_en
                ),
                "zh-CN": (
                    f"用{names_zh[kind]}把 {look_zh} 图像分为 {len(classes)} 类"
                    f"（{'、'.join(classes)}）。用 {len(train_idx)} 张图像训练；在 {len(test_idx)} "
                    f"张留出图像上准确率为 {accuracy:.0%}（宏平均 F1 {f1:.3f}），"
                    f"而总是预测最常见的类别的准确率为 {base_accuracy:.0%}。" + left_zh
                ),
            },
            "facts": {
                "rows": len(found),
                "rows_train": len(train_idx),
                "rows_test": len(test_idx),
                "target": "class",
                "task": "image-classification",
                "frequency": None,
                "metric": "accuracy",
                "score": round(accuracy, 4),
                "baseline": round(base_accuracy, 4),
                "baseline_name": {
                    "en": "always the most common class",
                    "zh-CN": "总是预测最常见的类别",
                },
                "f1_macro": round(f1, 4),
                "model": names[kind],
                "candidates": tried,
                "classes": {c: per_class[c] for c in classes},
                "image_size": size,
                "channels": channels,
                "mirrored_in_training": bool(mirror and kind == "cnn"),
                "left_out": [{"class": c, "rows": n} for c, n in sorted(rare.items())],
                "unreadable": [p.relative_to(run.data).as_posix() for p in unreadable][:50],
                "dropped": [],
            },
            "charts": {
                "confusion": {
                    "labels": classes,
                    "matrix": confusion(truth.tolist(), guess.tolist(), len(classes)),
                }
            }
            if len(classes) <= MAX_LISTED
            else {},
            "predicts": "class_predicted: the class of each image, probability: how sure",
        },
    )


if __name__ == "__main__":
    main()
