"""Train a small MLP on a synthetic regression task: an AICC example that needs no GPU.

The data set is generated from a fixed seed, so nothing is downloaded and every run sees the
same numbers. What the script shows about running under AICC:

- it prints `epoch N loss X` lines, which `aicc job logs --follow` streams, and appends the same
  to `$AICC_OUTPUT_DIR/metrics.jsonl` (`{"step": N, "loss": X}`), which `aicc job metrics` and
  the job's page draw as a curve while it trains (`aicc.log_metrics(step=N, loss=X)` does the
  same where the `aicc` package is at hand);
- it writes the trained model to `$AICC_OUTPUT_DIR/model.pt`, which `aicc job download` fetches;
- it saves `$AICC_CHECKPOINT_DIR/last.pt` after every epoch and resumes from it, so a retried
  attempt (after a lost node, say) carries on where the previous one stopped;
- with `replicas: 2` or more it trains data-parallel (DDP over gloo), taking WORLD_SIZE, RANK,
  MASTER_ADDR and MASTER_PORT from the environment AICC sets for every replica. Every rank draws
  the same sample order and takes its share of each global batch of `--batch-size` samples, so
  any number of replicas follows the same path as one and prints the same losses (up to
  floating-point rounding) when the batch splits evenly.

Outside AICC it runs too: without the variables, outputs and checkpoints go to ./outputs and
./checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from datetime import timedelta
from pathlib import Path

# PyTorch warns on import when NumPy is absent; this script never needs NumPy.
warnings.filterwarnings("ignore", message="Failed to initialize NumPy")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn.parallel import DistributedDataParallel  # noqa: E402

FEATURES = 16
HIDDEN = 64
SEED = 0


def synthetic_data(samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed, mildly non-linear target so that the hidden layer has something to learn."""
    generator = torch.Generator().manual_seed(SEED)
    x = torch.randn(samples, FEATURES, generator=generator)
    weights = torch.randn(FEATURES, 1, generator=generator)
    noise = 0.1 * torch.randn(samples, 1, generator=generator)
    y = x @ weights + 0.5 * torch.sin(2 * x[:, :1]) + noise
    return x, y


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(FEATURES, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, 1))


def save_atomically(obj: object, path: Path) -> None:
    """Write beside the target and rename, so a replica killed mid-save leaves the old file."""
    partial = path.with_name(path.name + ".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=int(os.environ.get("EPOCHS", "5")))
    parser.add_argument("--batch-size", type=int, default=128, help="global, over all replicas")
    parser.add_argument("--samples", type=int, default=4096)
    parser.add_argument("--lr", type=float, default=0.01)
    args = parser.parse_args()

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if args.batch_size % world_size:
        parser.error(f"--batch-size {args.batch_size} does not split over {world_size} replicas")
    if "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)  # a tiny model: more threads only contend
    store = None
    if world_size > 1:
        # The rendezvous store is made here rather than by env://, so that the script holds it
        # and rank 0, its host, can outlive the others at the end (see `leave`).
        store = dist.TCPStore(
            os.environ["MASTER_ADDR"],
            int(os.environ["MASTER_PORT"]),
            world_size,
            is_master=rank == 0,
            timeout=timedelta(minutes=5),
        )
        dist.init_process_group("gloo", store=store, world_size=world_size, rank=rank)
        share = f"{args.batch_size // world_size} of every {args.batch_size} samples"
        print(f"rank {rank} of {world_size}: {share}", flush=True)

    output_dir = Path(os.environ.get("AICC_OUTPUT_DIR", "outputs"))
    checkpoint_dir = Path(os.environ.get("AICC_CHECKPOINT_DIR", "checkpoint"))
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = checkpoint_dir / "last.pt"

    torch.manual_seed(SEED)  # the same initial weights on every rank
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    first_epoch = 1
    if checkpoint.exists():
        state = torch.load(checkpoint, map_location="cpu")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        first_epoch = state["epoch"] + 1
        if rank == 0:
            print(f"resumed from {checkpoint} after epoch {state['epoch']}", flush=True)
    trained = DistributedDataParallel(model) if world_size > 1 else model

    x, y = synthetic_data(args.samples)
    loss_fn = nn.MSELoss()
    for epoch in range(first_epoch, args.epochs + 1):
        # The same seed on every rank, and per epoch, so that all ranks (and a resumed attempt)
        # draw the same order as a single uninterrupted replica would.
        order = torch.randperm(len(x), generator=torch.Generator().manual_seed(SEED + epoch))
        total = torch.zeros(2)  # the sum of this rank's losses, and its number of samples
        for start in range(0, len(x), args.batch_size):
            batch = order[start : start + args.batch_size]
            mine = batch.tensor_split(world_size)[rank]  # this rank's share of the global batch
            optimizer.zero_grad()
            loss = loss_fn(trained(x[mine]), y[mine])
            loss.backward()  # DDP averages the gradients: equal shares give the batch's gradient
            optimizer.step()
            total += torch.tensor([loss.item() * len(mine), len(mine)])
        if world_size > 1:
            dist.all_reduce(total)  # the mean over every rank's samples
        if rank == 0:
            mean = total[0].item() / total[1].item()
            print(f"epoch {epoch} loss {mean:.6f}", flush=True)
            with open(output_dir / "metrics.jsonl", "a", encoding="utf-8") as curve:
                curve.write(json.dumps({"step": epoch, "loss": mean}) + "\n")
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict()}
            save_atomically({**state, "epoch": epoch}, checkpoint)

    if rank == 0:
        save_atomically(model.state_dict(), output_dir / "model.pt")
        print(f"saved {output_dir / 'model.pt'}", flush=True)
    if store is not None:
        leave(store, rank, world_size)


def leave(store: dist.TCPStore, rank: int, world_size: int) -> None:
    """Tear down in order and exit at once. Every rank waits for the others to finish, and rank
    0, which hosts the store, leaves last (torchrun keeps the store in its agent, which outlives
    every worker). Then the process ends without Python's exit: DDP keeps its process group
    alive past `destroy_process_group` (its gloo threads still run afterwards), so gloo would be
    torn down by C++ after the interpreter is gone, and under load a rank aborted there ("terminate
    called without an active exception", exit 134, seen in CI four times)."""
    dist.barrier()
    dist.destroy_process_group()
    if rank:
        store.add("left", 1)
    else:
        deadline = time.monotonic() + 60
        while store.add("left", 0) < world_size - 1 and time.monotonic() < deadline:
            time.sleep(0.05)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # every file this script wrote is closed already


if __name__ == "__main__":
    main()
