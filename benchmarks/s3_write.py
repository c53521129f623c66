"""S3 writes to AICC's S3 endpoint (issue 60.2): a multipart upload of a large file into
`DATASET/new/`, then `_COMMIT`, against moto's S3 server the tests run, and how much the server's
memory grows meanwhile (the goal: a part is streamed, never held whole).

.venv/bin/python benchmarks/s3_write.py                 # 256 MiB in 64 MiB parts, three runs
.venv/bin/python benchmarks/s3_write.py --size-mib 64   # a quick one

One file of SIZE random bytes on disk; `aicc serve` a child process (SQLite, chunks on local
disk, loopback). Each run: boto3 `upload_file` (multipart, PART MiB parts, THREADS at once,
boto3's defaults otherwise: the payload's SHA-256 signed over HTTP) to `SERVER/s3` under a new
data set, then the empty `_COMMIT`; the same upload to moto. MiB/s is SIZE over the wall time of
the upload (and, for AICC, the commit). The server's peak resident memory (`VmHWM` of its
process) is read before the first run and after the last: its growth is the memory the uploads
needed at most.
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
from pathlib import Path

import boto3
import httpx
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from aicc.testing.s3 import start_s3
from aicc.testing.servers import ServerProcess, free_port
from aicc.testing.tenants import make_tenant

MIB = 2**20


def client(endpoint: str, key: str, secret: str) -> object:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--part-mib", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4, help="parts sent at once")
    args = parser.parse_args()
    size = args.size_mib * MIB
    tmp = Path(tempfile.mkdtemp(prefix="aicc-s3w-bench-"))
    moto = start_s3("bench")
    server = ServerProcess(tmp / "home", free_port())
    transfer = TransferConfig(
        multipart_threshold=args.part_mib * MIB,
        multipart_chunksize=args.part_mib * MIB,
        max_concurrency=args.threads,
    )
    try:
        server.home.mkdir(parents=True)
        (server.home / "config.yaml").write_text("limits:\n  rate_limit:\n    enabled: false\n")
        server.start()
        assert server.proc is not None
        admin = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=60
        )
        tenant = make_tenant(admin, "bench")
        made = admin.post(
            "/api/v1/s3-keys", json={"name": "bench", "writable": True}, headers=tenant.headers
        ).json()
        aicc_s3 = client(server.url + "/s3", made["access_key_id"], made["secret"])
        moto_s3 = client(moto.endpoint_url, moto.access_key_id, moto.secret_access_key)
        source = tmp / "big.bin"
        with source.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(MIB))
        # warm the server's paths with a small version, then read its peak memory
        aicc_s3.put_object(Bucket="default", Key="warm/new/x", Body=b"x")  # type: ignore[attr-defined]
        aicc_s3.put_object(Bucket="default", Key="warm/new/_COMMIT", Body=b"")  # type: ignore[attr-defined]
        before = peak_rss_mib(server.proc.pid)
        aicc, peer = [], []
        for run in range(args.runs):
            start = time.perf_counter()
            aicc_s3.upload_file(str(source), "default", f"big{run}/new/big.bin", Config=transfer)  # type: ignore[attr-defined]
            aicc_s3.put_object(Bucket="default", Key=f"big{run}/new/_COMMIT", Body=b"")  # type: ignore[attr-defined]
            aicc.append(size / (time.perf_counter() - start) / MIB)
            start = time.perf_counter()
            moto_s3.upload_file(str(source), moto.bucket, f"big{run}.bin", Config=transfer)  # type: ignore[attr-defined]
            peer.append(size / (time.perf_counter() - start) / MIB)
        after = peak_rss_mib(server.proc.pid)
        got = aicc_s3.head_object(Bucket="default", Key="big0/1/big.bin")["ContentLength"]  # type: ignore[attr-defined]
        assert got == size, got
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        print(
            f"{args.size_mib} MiB in {args.part_mib} MiB parts, {args.threads} at once, "
            f"{args.runs} runs; "
            f"{platform.node()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}, "
            f"commit {commit}"
        )
        for name, speeds in (("AICC S3 multipart + commit", aicc), ("moto S3 multipart", peer)):
            print(
                f"{name:28} best {max(speeds):7.1f} MiB/s  median {statistics.median(speeds):7.1f}"
            )
        ratio = statistics.median(aicc) / statistics.median(peer)
        print(f"AICC / moto (medians): {ratio:.2f}x")
        print(
            f"server peak RSS {before:.0f} MiB before, {after:.0f} MiB after: "
            f"+{after - before:.0f} MiB, {(after - before) / args.threads:.0f} MiB a part in "
            f"flight, for {args.part_mib} MiB parts (goal: the same whatever the part's size)"
        )
        admin.close()
    finally:
        server.close()
        moto.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
