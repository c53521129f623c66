"""A training step that fills one GPU: a stack of bf16 feed-forward blocks under AdamW, run for
a fixed time. benchmarks/accelerator.py runs it bare and as an AICC job and compares.

    python step.py [--seconds 30] [--dim 8192] [--layers 4] [--tokens 16384]

Prints `RESULT {json}` last: steps, steady steps/s, achieved TFLOP/s, and the wall-clock times
(Unix seconds) of the process start and of the end of the first step.
"""

from __future__ import annotations

import time

STARTED = time.time()  # before torch's import: a job's start-up includes it

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402

import torch  # noqa: E402
from torch import nn  # noqa: E402


class Block(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.up = nn.Linear(dim, 4 * dim)
        self.down = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.down(nn.functional.gelu(self.up(self.norm(x))))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--dim", type=int, default=8192)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    torch.manual_seed(0)
    model = nn.Sequential(*(Block(args.dim) for _ in range(args.layers)))
    model = model.to(device=device, dtype=torch.bfloat16)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(args.tokens, args.dim, device=device, dtype=torch.bfloat16)
    params = sum(p.numel() for p in model.parameters())
    flops = 6.0 * params * args.tokens  # forward and backward, per step

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model(x).float().pow(2).mean().backward()
        optimizer.step()

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize()

    step()
    sync()
    first_step = time.time()
    for _ in range(args.warmup):
        step()
    sync()
    steps, began = 0, time.perf_counter()
    while time.perf_counter() - began < args.seconds:
        for _ in range(5):
            step()
        sync()
        steps += 5
    took = time.perf_counter() - began
    result = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "visible": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "params": params,
        "steps": steps,
        "steps_per_s": steps / took,
        "tflops": flops * steps / took / 1e12,
        "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else 0.0,
        "started": STARTED,
        "first_step": first_step,
        "ended": time.time(),
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
