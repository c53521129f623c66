"""Templates: each built-in template trained on its example, bare and through AICC.

Bare: `train.py` in its own process, as `aicc/testing/templates.py` runs it (the template's own
cost). Through AICC: a real server over HTTP (SQLite, the local executor with its sandbox), the
example pushed as a data set, `POST /templates/{name}/runs`, until the model version is
registered: the platform's overhead is the difference (packing, scheduling, mounting the data,
starting the sandbox, registering the outputs). Prints seconds, the metric against the
manifest's `expected`, and the overhead.

    .venv/bin/python benchmarks/templates.py [--only credit-risk,review-sentiment] [--dir DIR]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from aicc.core import templates as core
from aicc.testing import templates
from aicc.testing.datasets import push
from aicc.testing.jobs import wait_state
from aicc.testing.servers import over_http


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def through_aicc(api: httpx.Client, name: str, example: Path) -> tuple[float, float]:
    """(seconds from the run's submit to the registered version, its metric)."""
    data = f"{name}-example"
    push(api, data, files_of(example))
    started = time.monotonic()
    answer = api.post(f"/api/v1/templates/{name}/runs", json={"data": f"{data}@1"})
    answer.raise_for_status()
    job = wait_state(api, answer.json()["id"], {"succeeded", "failed"}, timeout=900)
    if job["state"] != "succeeded":
        raise SystemExit(f"{name}: the job {job['state']}: {job['message']}")
    while True:
        versions = api.get(f"/api/v1/models/{name}").json().get("versions") or []
        if versions:
            break
        time.sleep(0.05)
    seconds = time.monotonic() - started
    metric = templates.manifest(name).metric.name
    return seconds, float(versions[0]["metrics"][metric])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma-separated template names")
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    names = [n for n in templates.names() if not args.only or n in args.only.split(",")]
    work = args.dir or Path(tempfile.mkdtemp(prefix="aicc-templates-bench-"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    rows = []
    with over_http(work / "home") as (url, token, _state):
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as api:
            for name in names:
                manifest = templates.manifest(name)
                example = templates.example(name, work / name / "example")
                bare = templates.train(name, example, work / name / "bare")
                value = bare.metrics[manifest.metric.name]
                via, via_value = through_aicc(api, name, example)
                rows.append((name, manifest, bare.seconds, value, via, via_value))
                print(f"{name}: bare {bare.seconds:.1f} s, through AICC {via:.1f} s", flush=True)
    print()
    print(
        "| template | metric (expected) | bare s | bare metric | AICC s | AICC metric | overhead |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, m, bare_s, value, via, via_value in rows:
        ok = (
            "ok"
            if core.reached(m.metric, value) and core.reached(m.metric, via_value)
            else "MISSED"
        )
        sign = ">=" if m.metric.goal == "maximize" else "<="
        print(
            f"| {name} | {m.metric.name} {sign} {m.metric.expected:g} | {bare_s:.1f} | "
            f"{value:.4g} | {via:.1f} | {via_value:.4g} {ok} | {via - bare_s:+.1f} |"
        )
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
