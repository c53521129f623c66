"""Jobs in images and the center registry, measured (issue 39):

- `start`: submit → first line of output of a job, bare (the bubblewrap sandbox) and in a cached
  image (podman), through a real server on the local executor, alternating, medians;
- `pull`: a random image of `--gib` GiB pushed to a real registry whose token server is a real
  AICC server, then pulled by podman as a node does (`podman pull` with the tenant's
  credential), first into one node's storage, then into a second, empty storage (a second
  node), in MB/s;
- `shared`: two tenants push images on the same base layer: what the registry stores against
  what each project is charged;
- `build`: submit → succeeded of a build job (one small Containerfile: FROM a pushed base, COPY,
  RUN), cold (a new tenant's project: nothing in its build storage) and cached (the same build
  again in that project), alternating, medians; prints one JSON line with the figures.

    .venv/bin/python benchmarks/images.py start --runs 10
    .venv/bin/python benchmarks/images.py pull --gib 1
    .venv/bin/python benchmarks/images.py shared
    .venv/bin/python benchmarks/images.py build --runs 5
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from aicc.sdk.client import Client
from aicc.testing.images import cleaned, make_image, podman_or_skip, rootfs_tar
from aicc.testing.jobs import submit, wait_state
from aicc.testing.registry import center, layer_tar, oci_layout, random_layout
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant


def start(runs: int) -> None:
    box = podman_or_skip()
    tmp = Path(tempfile.mkdtemp(prefix="aicc-bench-images-"))
    image = make_image(box.podman, tmp, "1", {"etc/marker": b"x\n"})
    jobs: list[str] = []
    times: dict[str, list[float]] = {"bare": [], "image": []}
    try:
        with (
            cleaned(box.podman, [image], jobs),
            over_http(tmp / "home", sandbox="bwrap") as (
                url,
                token,
                _,
            ),
        ):
            api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
            for i in range(2 * runs + 2):  # the first of each warms up
                kind = "bare" if i % 2 == 0 else "image"
                spec = {"command": ["/bin/sh", "-c", "echo hi"]}
                spec["resources"] = {"cpu": 0.5, "memory": "64MiB"}  # type: ignore[assignment]
                if kind == "image":
                    spec["image"] = image  # type: ignore[assignment]
                began = time.monotonic()
                job = submit(api, spec)
                jobs.append(job["id"])
                while "hi" not in api.get(f"/api/v1/jobs/{job['id']}/logs").text:
                    time.sleep(0.005)
                if i >= 2:
                    times[kind].append((time.monotonic() - began) * 1000)
                wait_state(api, job["id"], {"succeeded", "failed"})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bare, boxed = (statistics.median(times[k]) for k in ("bare", "image"))
    print(
        f"submit -> first output, median of {runs}: bare {bare:.0f} ms, cached image "
        f"{boxed:.0f} ms, +{boxed - bare:.0f} ms"
    )


def _podman_pull(ref: str, token: str, root: Path) -> float:
    """Seconds podman takes to pull `ref` into the storage at `root` (a node of its own)."""
    argv = ["podman", "--root", str(root), "--runroot", str(root / "run"), "pull", "--quiet"]
    argv += ["--tls-verify=false", "--creds", f"aicc:{token}", ref]
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"podman pull failed: {done.stderr.strip()}")
    return took


def pull(gib: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aicc-bench-pull-", dir="/var/tmp"))
    try:
        random_layout(tmp / "img", int(gib * (1 << 30)), layers=4)
        size = sum(f.stat().st_size for f in (tmp / "img").rglob("*") if f.is_file())
        with center(tmp / "home") as c:
            api = Client(c.url, c.token, timeout=600)
            began = time.perf_counter()
            ref = api.images.push("big:1", tmp / "img").reference
            pushed = time.perf_counter() - began
            mb = size / 1e6
            print(f"push {mb:.0f} MB (SDK): {pushed:.2f} s, {mb / pushed:.0f} MB/s")
            for n, what in ((1, "first node"), (2, "second node")):
                took = _podman_pull(ref, c.token, tmp / f"node{n}")
                print(f"podman pull, {what} (empty storage): {took:.2f} s, {mb / took:.0f} MB/s")
            took = _podman_pull(ref, c.token, tmp / "node1")
            print(f"podman pull again on the first node (cached): {took:.2f} s")
    finally:
        for n in (1, 2):
            root = tmp / f"node{n}"
            if root.exists():
                subprocess.run(
                    [
                        "podman",
                        "--root",
                        str(root),
                        "--runroot",
                        str(root / "run"),
                        "system",
                        "reset",
                        "--force",
                    ],
                    capture_output=True,
                )
        shutil.rmtree(tmp, ignore_errors=True)


def shared() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="aicc-bench-shared-"))
    try:
        base = os.urandom(64 << 20)  # a 64 MiB base layer both tenants build on
        with center(tmp / "home") as c:
            admin = httpx.Client(base_url=c.url, headers={"Authorization": f"Bearer {c.token}"})
            clients = []
            for n, name in enumerate(("alpha", "beta")):
                who = make_tenant(admin, name)  # type: ignore[arg-type]
                token = who.headers["Authorization"].removeprefix("Bearer ")
                own = layer_tar({f"app/{name}.txt": f"{name}'s own code\n".encode()})
                oci_layout(tmp / f"img{n}", layer_tar({"base.bin": base}), own)
                clients.append(Client(c.url, token))
                clients[-1].images.push("app:1", tmp / f"img{n}")
            time.sleep(2)  # the registry's notifications are booked
            stored = sum(f.stat().st_size for f in c.registry.storage.rglob("data"))
            charged = [api.images.storage().bytes for api in clients]
            print(
                f"registry stores {stored / 1e6:.1f} MB; projects are charged "
                f"{charged[0] / 1e6:.1f} MB and {charged[1] / 1e6:.1f} MB"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def build(runs: int) -> None:
    podman_or_skip()
    tmp = Path(tempfile.mkdtemp(prefix="aicc-bench-build-"))
    times: dict[str, list[float]] = {"cold": [], "cached": []}
    steps = "FROM base:1\nCOPY hello.txt /srv/\nRUN echo built > /srv/stamp\n"
    ctx = tmp / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Containerfile").write_text(steps)
    oci_layout(tmp / "base", rootfs_tar({"etc/base-release": b"base 1\n"}))
    try:
        with center(tmp / "home", sandbox="bwrap") as c:
            for i in range(runs):
                (who,) = c.tenants(f"builder{i}")
                api = c.sdk(who)
                api.images.push("base:1", tmp / "base")
                http = httpx.Client(base_url=c.url, headers=who.headers, timeout=30)
                for kind in ("cold", "cached"):
                    began = time.monotonic()
                    job = api.jobs.submit(
                        {"kind": "build", "build": {"image": "app:1"}, "resources": {"cpu": 1}},
                        workdir=ctx,
                    )
                    ended = wait_state(http, job.id, {"succeeded", "failed"}, timeout=300)
                    took = time.monotonic() - began
                    assert ended["state"] == "succeeded", ended["message"]
                    times[kind].append(took)
                    print(f"{kind} {i}: {took:.2f} s", flush=True)
        figures = {k: round(statistics.median(v), 2) for k, v in times.items()}
        print(json.dumps({"median_s": figures, "runs": runs, "all_s": times}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("start").add_argument("--runs", type=int, default=10)
    sub.add_parser("pull").add_argument("--gib", type=float, default=1.0)
    sub.add_parser("shared")
    sub.add_parser("build").add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if args.what == "start":
        start(args.runs)
    elif args.what == "pull":
        pull(args.gib)
    elif args.what == "build":
        build(args.runs)
    else:
        shared()


if __name__ == "__main__":
    main()
