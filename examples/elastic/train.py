"""Elastic data-parallel training: as many workers as the job has replicas now, resumed from the
last checkpoint whenever that number changes (torchrun restarts the workers on each change).

Every worker starts from $AICC_CHECKPOINT_DIR/last.pt, which all replicas of the job share, and
rank 0 writes it after every step (atomically); each step's global batch is split over the
ranks, so the path does not depend on how many there are. Rank 0 prints one line a step:
`step N world W loss L`.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

BATCH = 96  # samples a step, over all ranks


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between steps")
    args = parser.parse_args()
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    checkpoint = Path(os.environ.get("AICC_CHECKPOINT_DIR", ".")) / "last.pt"
    torch.manual_seed(0)
    model = nn.Linear(16, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    step = 0
    if checkpoint.exists():
        state = torch.load(checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
    truth = torch.linspace(-2, 2, 16)
    while step < args.steps:
        batch = torch.Generator().manual_seed(step)  # the same global batch for any world
        x = torch.randn(BATCH, 16, generator=batch)
        y = x @ truth + 0.1 * torch.randn(BATCH, generator=batch)
        mine = slice(rank * BATCH // world, (rank + 1) * BATCH // world)
        loss = nn.functional.mse_loss(model(x[mine]).squeeze(-1), y[mine])
        optimizer.zero_grad()
        loss.backward()
        for p in model.parameters():
            assert p.grad is not None
            dist.all_reduce(p.grad)
            p.grad /= world
        optimizer.step()
        step += 1
        if rank == 0:
            part = checkpoint.with_suffix(".part")
            torch.save(
                {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step},
                part,
            )
            os.replace(part, checkpoint)
            print(f"step {step} world {world} loss {loss.item():.4f}", flush=True)
        time.sleep(args.pause)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
