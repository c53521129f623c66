"""What a job's route to the S3 endpoint costs (issue 60): boto3 GetObject throughput and HeadObject
latency from inside a job (local executor, bubblewrap sandbox, its own network namespace), at
`$AICC_S3_ENDPOINT` through its holder's relay and the server's job socket, against the same
calls from outside the job over TCP to the server's address.

.venv/bin/python benchmarks/s3_route.py                  # 64 MiB, 5 GETs and 50 HEADs each
.venv/bin/python benchmarks/s3_route.py --size-mib 256

One file of SIZE random bytes is pushed as a data set version to `aicc serve` (a child process,
SQLite, chunks on local disk, on loopback; no rate limit). The same script (`MEASURE`) runs
outside, in this process's Python, and inside, as a job of the same tenant with its S3 key: the
median GET in MiB/s (the body read to its end) and the median HEAD in ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from aicc import Client
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import ServerProcess, free_port
from aicc.testing.tenants import make_tenant

MEASURE = """
import json, os, statistics, sys, time
import boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["ENDPOINT"], region_name="us-east-1",
    aws_access_key_id=os.environ["KEY"], aws_secret_access_key=os.environ["SECRET"],
    config=Config(s3={"addressing_style": "path"}))
size, runs, key = int(os.environ["SIZE"]), int(os.environ["RUNS"]), "big/1/big.bin"
gets = []
for _ in range(runs):
    start = time.perf_counter()
    body = s3.get_object(Bucket="default", Key=key)["Body"]
    got = sum(len(piece) for piece in body.iter_chunks(1 << 20))
    gets.append(time.perf_counter() - start)
    assert got == size, (got, size)
heads = []
for _ in range(50):
    start = time.perf_counter()
    s3.head_object(Bucket="default", Key=key)
    heads.append(time.perf_counter() - start)
mib_s = size / statistics.median(gets) / 2**20
print("RESULT", json.dumps({"mib_s": mib_s, "best": size / min(gets) / 2**20,
                            "head_ms": statistics.median(heads) * 1000}), flush=True)
"""


def _result(text: str) -> dict[str, float]:
    line = next(line for line in text.splitlines() if line.startswith("RESULT "))
    found: dict[str, float] = json.loads(line.removeprefix("RESULT "))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    size = args.size_mib * 2**20
    tmp = Path(tempfile.mkdtemp(prefix="aicc-s3-route-"))
    server = ServerProcess(tmp / "home", free_port())
    try:
        server.home.mkdir(parents=True)
        (server.home / "config.yaml").write_text("limits:\n  rate_limit:\n    enabled: false\n")
        server.start()
        admin = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=600
        )
        tenant = make_tenant(admin, "bench")
        source = tmp / "source"
        source.mkdir()
        (source / "big.bin").write_bytes(os.urandom(size))
        with Client(server=server.url, token=tenant.token, timeout=600) as sdk:
            sdk.datasets.push("big", source)
            made = sdk.s3_keys.create("bench")
        assert made.secret
        env = {"KEY": made.access_key_id, "SECRET": made.secret}
        env |= {"SIZE": str(size), "RUNS": str(args.runs)}
        outside = subprocess.run(
            [sys.executable, "-c", MEASURE],
            env={**os.environ, **env, "ENDPOINT": server.url + "/s3"},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        script = f'ENDPOINT="$AICC_S3_ENDPOINT" exec {sys.executable} -c "$MEASURE"'
        spec = {
            "command": ["sh", "-c", script],
            "env": {**env, "MEASURE": MEASURE},
            "resources": {"cpu": 2, "memory": "1GiB"},
        }
        job = submit(admin, spec, **tenant.headers)
        done = wait_state(admin, job["id"], {"succeeded", "failed"}, timeout=600)
        log = admin.get(f"/api/v1/jobs/{job['id']}/logs").text
        assert done["state"] == "succeeded", (done, log)
        out, inside = _result(outside), _result(log)
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        print(
            f"{args.size_mib} MiB, {args.runs} GETs, 50 HEADs; {platform.node()}, "
            f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, commit {commit}"
        )
        for name, found in (("outside, TCP", out), ("inside, the route", inside)):
            print(
                f"{name:18} GET median {found['mib_s']:7.1f} MiB/s (best {found['best']:.1f})"
                f"  HEAD median {found['head_ms']:.2f} ms"
            )
        print(f"inside / outside (GET medians): {inside['mib_s'] / out['mib_s']:.2f}x")
        admin.close()
    finally:
        server.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
