"""Real PyTorch on CPU through the CLI: the train-mlp example, and a two-replica gloo gang."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Cli, Servers

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "train-mlp"
LOSS = re.compile(r"^epoch (\d+) loss ([0-9.eE+-]+)$", re.MULTILINE)

# Used only while examples/train-mlp is absent: the same contract in a few lines.
FALLBACK_TRAIN = """\
import os
import torch
from torch import nn

torch.manual_seed(0)
x = torch.randn(1024, 8)
y = x @ torch.randn(8, 1)
model = nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 1))
optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
for epoch in range(1, 6):
    for start in range(0, len(x), 64):
        optimizer.zero_grad()
        loss = nn.functional.mse_loss(model(x[start : start + 64]), y[start : start + 64])
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch} loss {nn.functional.mse_loss(model(x), y).item():.4f}", flush=True)
torch.save(model.state_dict(), os.path.join(os.environ["AICC_OUTPUT_DIR"], "model.pt"))
"""
FALLBACK_JOB = """\
name: train-mlp
command: python train.py
workdir: .
resources: {cpu: 1, memory: 2GiB}
max_runtime: 10m
"""

ALL_REDUCE = """\
import os
import torch
import torch.distributed as dist

dist.init_process_group("gloo", init_method="env://")
rank, world = dist.get_rank(), dist.get_world_size()
assert (rank, world) == (int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]))
total = torch.tensor([float(rank + 1)])
dist.all_reduce(total)
print(f"rank {rank} of {world} via {os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
      f" sum {total.item():g}", flush=True)
dist.destroy_process_group()
"""


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """One `aicc serve` for the module (a start is 5 to 10 s of a loaded machine): each test
    submits its own jobs and waits until they end, so none runs beside another's."""
    pytest.importorskip("torch")
    with Servers(tmp_path_factory.mktemp("training")) as started:
        started.start()
        yield started


@pytest.fixture
def aicc(servers: Servers) -> Cli:
    return servers.cli(servers.started[0])


def test_train_mlp_example_learns_and_its_model_downloads(aicc: Cli, tmp_path: Path) -> None:
    import torch

    project = tmp_path / "train-mlp"
    if (EXAMPLE / "job.yaml").exists() and (EXAMPLE / "train.py").exists():
        shutil.copytree(EXAMPLE, project)
    else:
        project.mkdir()
        (project / "train.py").write_text(FALLBACK_TRAIN)
        (project / "job.yaml").write_text(FALLBACK_JOB)

    job_id = aicc("job", "submit", "-f", str(project / "job.yaml")).stdout.strip()
    waited = aicc("job", "wait", job_id, "--timeout", "240", check=False, timeout=300)
    logs = aicc("job", "logs", job_id).stdout
    assert waited.returncode == 0, (
        f"{waited.stderr}\n{logs}\n{aicc('job', 'logs', job_id, '--stderr').stdout}"
    )

    losses = [(int(n), float(value)) for n, value in LOSS.findall(logs)]
    assert len(losses) >= 2, logs
    assert [n for n, _ in losses] == list(range(losses[0][0], losses[0][0] + len(losses)))
    assert losses[-1][1] < losses[0][1], losses

    target = tmp_path / "downloaded"
    aicc("job", "download", job_id, str(target))
    state = torch.load(target / "model.pt", map_location="cpu", weights_only=True)
    assert isinstance(state, dict) and state, state
    assert all(isinstance(tensor, torch.Tensor) for tensor in state.values())
    assert any(tensor.dim() == 2 for tensor in state.values())  # the weights of a linear layer


def test_two_replica_gang_all_reduces_over_gloo(aicc: Cli, tmp_path: Path) -> None:
    project = tmp_path / "gang"
    project.mkdir()
    (project / "all_reduce.py").write_text(ALL_REDUCE)
    (project / "job.yaml").write_text(
        textwrap.dedent(
            """\
            name: gloo-gang
            command: python all_reduce.py
            workdir: .
            replicas: 2
            resources: {cpu: 500m, memory: 1GiB}
            max_runtime: 5m
            """
        )
    )

    job_id = aicc("job", "submit", "-f", str(project / "job.yaml")).stdout.strip()
    waited = aicc("job", "wait", job_id, "--timeout", "180", check=False, timeout=240)
    stderr = [aicc("job", "logs", job_id, "--replica", str(r), "--stderr").stdout for r in (0, 1)]
    assert waited.returncode == 0, f"{waited.stderr}\n{stderr}"

    for rank in (0, 1):
        out = aicc("job", "logs", job_id, "--replica", str(rank)).stdout
        assert re.fullmatch(rf"rank {rank} of 2 via 127\.0\.0\.1:\d+ sum 3\n", out), out
    assert aicc("job", "logs", job_id, "--replica", "2", check=False).returncode != 0


def final_loss(logs: str) -> float:
    losses = LOSS.findall(logs)
    assert losses, logs
    return float(losses[-1][1])


DDP_JOB = """\
name: mlp-ddp-{replicas}
command: python train.py --epochs 3 --samples 1024
workdir: .
replicas: {replicas}
resources: {{cpu: 500m, memory: 1GiB}}
max_runtime: 5m
"""


def test_ddp_over_two_replicas_trains_to_the_same_loss_as_one(aicc: Cli, tmp_path: Path) -> None:
    """The example splits every global batch over the ranks and draws the same order on all of
    them, so two replicas follow one replica's path up to floating-point rounding."""
    project = tmp_path / "train-mlp"
    shutil.copytree(EXAMPLE, project)
    jobs = {}
    for replicas in (1, 2):  # both at once: together they fit this machine
        job_file = project / f"ddp-{replicas}.yaml"
        job_file.write_text(DDP_JOB.format(replicas=replicas))
        jobs[replicas] = aicc("job", "submit", "-f", str(job_file)).stdout.strip()

    logs = {}
    for replicas, job_id in jobs.items():
        waited = aicc("job", "wait", job_id, "--timeout", "180", check=False, timeout=240)
        logs[replicas] = [
            aicc("job", "logs", job_id, "--replica", str(r)).stdout for r in range(replicas)
        ]
        errors = [
            aicc("job", "logs", job_id, "--replica", str(r), "--stderr").stdout
            for r in range(replicas)
        ]
        assert waited.returncode == 0, f"{waited.stderr}\n{logs[replicas]}\n{errors}"

    one, two = final_loss(logs[1][0]), final_loss(logs[2][0])
    assert two == pytest.approx(one, rel=1e-3), (logs[1][0], logs[2][0])
    for rank in (0, 1):
        assert f"rank {rank} of 2: 64 of every 128 samples\n" in logs[2][rank], logs[2][rank]
    assert not LOSS.search(logs[2][1])  # rank 1 trains but leaves the reporting to rank 0
