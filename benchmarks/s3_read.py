"""S3 GetObject throughput of AICC's S3 endpoint (issue 60.2) against `aicc data pull` of the same
file and against the moto S3 server the tests run (the goal: at least 0.8x moto's).

.venv/bin/python benchmarks/s3_read.py                 # 256 MiB, best and median of three
.venv/bin/python benchmarks/s3_read.py --size-mib 32   # a quick one

One file of SIZE random bytes is pushed as a data set version to `aicc serve` (a child process,
SQLite, chunks on local disk, on loopback), and put as one object to moto's server
(`aicc/testing/s3.py`). Then, each three times: (a) boto3 `get_object` of the version's file from
`SERVER/s3`, the body read to its end; (b) the SDK's `datasets.pull` (what `aicc data pull` runs)
into an empty directory; (c) boto3 `get_object` of the object from moto. MiB/s is SIZE over the
wall time of the whole call. The client runs in this process, the servers in their own.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import boto3
import httpx
from botocore.config import Config

from aicc import Client
from aicc.testing.s3 import start_s3
from aicc.testing.servers import ServerProcess, free_port
from aicc.testing.tenants import make_tenant


def timed(runs: int, work: Callable[[], int], size: int) -> list[float]:
    speeds = []
    for _ in range(runs):
        start = time.perf_counter()
        got = work()
        seconds = time.perf_counter() - start
        assert got == size, (got, size)
        speeds.append(size / seconds / 2**20)
    return speeds


def client(endpoint: str, key: str, secret: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def body_size(s3: object, bucket: str, key: str) -> int:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]  # type: ignore[attr-defined]
    total = 0
    for piece in body.iter_chunks(1 << 20):
        total += len(piece)
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = args.size_mib * 2**20
    tmp = Path(tempfile.mkdtemp(prefix="aicc-s3-bench-"))
    moto = start_s3("bench")
    server = ServerProcess(tmp / "home", free_port())
    try:
        server.home.mkdir(parents=True)  # no rate limit: a pull asks for every chunk apart
        (server.home / "config.yaml").write_text("limits:\n  rate_limit:\n    enabled: false\n")
        server.start()
        admin = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}
        )
        tenant = make_tenant(admin, "bench")
        source = tmp / "source"
        source.mkdir()
        data = os.urandom(size)
        (source / "big.bin").write_bytes(data)
        sdk = Client(server=server.url, token=tenant.token, timeout=600)
        sdk.datasets.push("big", source)
        made = sdk.s3_keys.create("bench")
        assert made.secret
        aicc_s3 = client(server.url + "/s3", made.access_key_id, made.secret)
        moto_s3 = client(moto.endpoint_url, moto.access_key_id, moto.secret_access_key)
        moto_s3.put_object(Bucket=moto.bucket, Key="big.bin", Body=data)  # type: ignore[attr-defined]
        del data

        def pull() -> int:
            target = tmp / "pulled"
            shutil.rmtree(target, ignore_errors=True)
            sdk.datasets.pull("big@1", target)
            return (target / "big.bin").stat().st_size

        results = {
            "AICC S3 GetObject": timed(
                args.runs, lambda: body_size(aicc_s3, "default", "big/1/big.bin"), size
            ),
            "aicc data pull (SDK)": timed(args.runs, pull, size),
            "moto S3 GetObject": timed(
                args.runs, lambda: body_size(moto_s3, moto.bucket, "big.bin"), size
            ),
        }
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        print(
            f"{args.size_mib} MiB, {args.runs} runs; {platform.node()}, {os.cpu_count()} CPUs, "
            f"{time.strftime('%Y-%m-%d')}, commit {commit}"
        )
        for name, speeds in results.items():
            print(
                f"{name:24} best {max(speeds):7.1f} MiB/s  median {statistics.median(speeds):7.1f}"
            )
        ratio = statistics.median(results["AICC S3 GetObject"]) / statistics.median(
            results["moto S3 GetObject"]
        )
        print(f"AICC S3 / moto (medians): {ratio:.2f}x (goal >= 0.8x)")
        sdk.close()
        admin.close()
    finally:
        server.close()
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
