"""The pure part of GA4GH TES (aicc/core/tes.py): a job's state as a TES state, one to one; which
images are generic bases; what a task becomes (resources, data sets, notes) and what is refused;
the runner script quotes every word of the task and runs it with `sh`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from aicc.core import tes
from aicc.core.tes import State, state_of


@pytest.mark.parametrize(
    ("job", "reason", "cancelling", "system", "want"),
    [
        ("pending", "submitted", False, False, State.QUEUED),
        ("admitted", "admitted", False, False, State.QUEUED),
        ("scheduled", "bound", False, False, State.INITIALIZING),
        ("running", "started", False, False, State.RUNNING),
        ("running", "started", True, False, State.CANCELING),
        ("preempted", "preempted", False, False, State.PREEMPTED),
        ("succeeded", "succeeded", False, False, State.COMPLETE),
        ("failed", "exit_code", False, False, State.EXECUTOR_ERROR),
        ("failed", "oom_killed", False, False, State.EXECUTOR_ERROR),
        ("failed", "exit_code", False, True, State.SYSTEM_ERROR),
        ("failed", "node_lost", False, False, State.SYSTEM_ERROR),
        ("failed", "image_unavailable", False, False, State.SYSTEM_ERROR),
        ("failed", "preempted", False, False, State.PREEMPTED),
        ("cancelled", "cancelled_by_user", False, False, State.CANCELED),
        ("strange", "x", False, False, State.UNKNOWN),
    ],
)
def test_a_jobs_state_is_one_tes_state(
    job: str, reason: str, cancelling: bool, system: bool, want: State
) -> None:
    assert state_of(job, reason, cancel_requested=cancelling, system_error=system) is want
    if want is not State.UNKNOWN:
        assert job in tes.job_states(want)


@pytest.mark.parametrize(
    ("image", "generic"),
    [
        ("python:3.12-slim", True),
        ("docker.io/library/debian:12", True),
        ("alpine@sha256:" + "a" * 64, True),
        ("opensuse/leap:15", True),
        ("quay.io/biocontainers/samtools:1.17", False),
        ("localhost:5000/python:3", False),
        ("snakemake/snakemake:v8", False),
        ("tools:1", False),
    ],
)
def test_generic_base_images(image: str, generic: bool) -> None:
    assert tes.is_generic(image) is generic


def task(**fields: Any) -> tes.TesTaskIn:
    base: dict[str, Any] = {"executors": [{"image": "alpine", "command": ["true"]}]}
    return tes.TesTaskIn.model_validate({**base, **fields})


def test_resources_and_backend_parameters_become_the_jobs() -> None:
    plan = tes.plan(
        task(
            resources={
                "cpu_cores": 4,
                "ram_gb": 2.5,
                "preemptible": True,
                "zones": ["gpu-lane"],
                "backend_parameters": {"AICC_Accelerator": "H100", "aicc_accelerators": "2"},
            },
            inputs=[{"path": "/data/x.csv", "url": "aicc://alpha/beta/genomes@3/x.csv"}],
        )
    )
    assert plan.fields["resources"] == {
        "cpu_milli": 4000,
        "memory_mib": 2560,
        "accelerator": {"count": 2, "model": ["H100-SXM"]},
    }
    assert plan.fields["priority"] == 0 and plan.queue == "gpu-lane"
    assert plan.fields["datasets"] == ["alpha/beta/genomes@3"]
    assert plan.backend_parameters == {"aicc_accelerator": "H100", "aicc_accelerators": "2"}
    assert not plan.internet and plan.images == ()


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"inputs": [{"path": "/d", "url": "gs://b/x"}]}, "gs://"),
        ({"inputs": [{"path": "/d", "url": "aicc://no@version@x/y"}]}, "aicc://NAME@VERSION"),
        ({"inputs": [{"path": "/d", "url": "aicc://set@1/../x"}]}, "aicc://NAME@VERSION"),
        ({"inputs": [{"path": "/proc/x", "content": "x"}]}, "system's"),
        ({"inputs": [{"path": "/d/x", "content": "x", "type": "DIRECTORY"}]}, "DIRECTORY"),
        ({"outputs": [{"path": "/d/x", "url": "aicc://outputs/.tes/x"}]}, ".tes"),
        ({"outputs": [{"path": "/d/*.txt", "url": "aicc://outputs/t"}]}, "path_prefix"),
        ({"resources": {"zones": ["a", "b"]}}, "one zone"),
        ({"resources": {"backend_parameters": {"aicc_accelerators": "0"}}}, "whole number"),
        ({"resources": {"backend_parameters": {"aicc_priority": "urgent"}}}, "aicc_priority"),
        ({"resources": {"backend_parameters": {"aicc_max_runtime": "soon"}}}, "max_runtime"),
        (
            {
                "inputs": [
                    {"path": "/a", "url": "aicc://set@1/a"},
                    {"path": "/b", "url": "aicc://set@2/b"},
                ]
            },
            "one version",
        ),
    ],
)
def test_what_is_refused_says_why(fields: dict[str, Any], says: str) -> None:
    with pytest.raises(tes.Refusal, match=None) as refused:
        tes.plan(task(**fields))
    assert says in str(refused.value)


WRITE = 'printf %s "$1" > out.txt; printf %s "$V" > x.log'


def test_the_runner_runs_the_task_with_every_word_quoted(tmp_path: Path) -> None:
    """Without a sandbox, in a folder of the test's: paths under it, a command and environment
    full of shell syntax that must reach the program as written."""
    out, data = tmp_path / "out", tmp_path / "data"
    hostile = "$(touch PWNED) `touch PWNED` ; touch PWNED 'quote\" \n newline"
    body = task(
        inputs=[{"path": f"{data}/in.txt", "content": "hello\n"}],
        outputs=[
            {"path": f"{data}/out.txt", "url": "aicc://outputs/a/out.txt"},
            {"path": f"{data}/*.log", "path_prefix": f"{data}/", "url": "aicc://outputs/logs"},
        ],
        volumes=[f"{data}/vol"],
        executors=[
            {
                "image": "alpine",
                "command": [
                    "sh",
                    "-c",
                    'printf %s "$1" > out.txt; printf %s "$V" > x.log',
                    "-",
                    hostile,
                ],
                "env": {"V": hostile},
                "workdir": str(data),
            },
            {"image": "alpine", "command": ["sh", "-c", "exit 7"], "ignore_error": True},
            {"image": "alpine", "command": ["cat", f"{data}/in.txt"]},
        ],
    )
    (tmp_path / "aicc-tes" / "inputs").mkdir(parents=True)
    (tmp_path / "aicc-tes" / "inputs" / "0").write_text("hello\n")
    script = tes.runner(body)
    env = {**os.environ, "AICC_OUTPUT_DIR": str(out)}
    done = subprocess.run(
        ["sh", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert not list(tmp_path.rglob("PWNED"))
    assert (out / "a" / "out.txt").read_text() == hostile
    assert (out / "logs" / "x.log").read_text() == hostile
    assert (data / "vol").is_dir()
    records = [(out / ".tes" / f"{i}.json").read_text() for i in range(3)]
    assert [r[r.index('"exit_code"') :].rstrip("}\n") for r in records] == [
        '"exit_code": 0',
        '"exit_code": 7',
        '"exit_code": 0',
    ]
    assert (out / ".tes" / "2.stdout").read_text() == "hello\n"
