"""The isolation suite's probes, run from a job in an image (podman, local executor, real
server): tenant B's container reads none of the control plane ($AICC_HOME/admin.token, the
database, tenant A's run directory and outputs), reaches neither the server's API (its port
inside the job is the route to the S3 endpoint alone: the admin's token gets a 404), a listener
on the machine's loopback nor one on the node's own addresses, and sees no process of the host.

The image is busybox and marker files (aicc/testing/images.py); each probe prints one
`PROBE name ok|refused` line, and the test's listeners count what they accepted."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from aicc.executors import netns
from aicc.testing.images import cleaned, make_image, podman_or_skip
from aicc.testing.isolation import Listener, listening
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

SMALL = {"cpu": 0.5, "memory": "128MiB"}
A_SECRET = "tenant-a-secret-5c1d"


def _files(targets: dict[str, str]) -> str:
    return "".join(
        f'if cat "{path}" >/dev/null 2>&1 || ls "{path}" >/dev/null 2>&1; '
        f"then echo PROBE {name} ok; else echo PROBE {name} refused; fi; "
        for name, path in targets.items()
    )


def _ports(targets: dict[str, str]) -> str:
    return "".join(
        f"if echo x | nc -w 3 {address.rsplit(':', 1)[0]} {address.rsplit(':', 1)[1]} "
        f">/dev/null 2>&1; then echo PROBE {name} ok; else echo PROBE {name} refused; fi; "
        for name, address in targets.items()
    )


@pytest.fixture
def outside() -> Iterator[Listener]:
    with listening("0.0.0.0") as opened:  # the machine's loopback and its own addresses
        yield opened


def test_a_job_in_an_image_reaches_nothing_of_the_control_plane_or_another_tenant(
    tmp_path: Path, outside: Listener
) -> None:
    box = podman_or_skip()
    image = make_image(box.podman, tmp_path, "1", {"etc/marker": b"image\n"})
    jobs: list[str] = []
    home = tmp_path / "home"
    with cleaned(box.podman, [image], jobs), over_http(home) as (url, token, _state):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        a, b = make_tenant(api, "img-a").headers, make_tenant(api, "img-b").headers
        write = f'echo {A_SECRET} > "$AICC_OUTPUT_DIR/a.txt"'
        job_a = submit(
            api, {"command": ["/bin/sh", "-c", write], "image": image, "resources": SMALL}, **a
        )
        jobs.append(job_a["id"])
        assert wait_state(api, job_a["id"], {"succeeded", "failed"}, 120)["state"] == "succeeded"
        a_dir = home / "runs" / job_a["id"]
        files = {
            "admin-token": str(home / "admin.token"),
            "database": str(home / "aicc.db"),
            "tenant-a-run-dir": str(a_dir),
            "tenant-a-output": str(a_dir / "outputs" / "a.txt"),
        }
        assert all(Path(p).exists() for p in files.values())  # there, on the machine
        server_port = int(urlsplit(url).port or 0)
        node = [a for a in netns.node_addresses() if a != "127.0.0.1" and ":" not in a]
        ports = {
            "machine-loopback": f"127.0.0.1:{outside.port}",
            **{f"node-address-{i}": f"{a}:{outside.port}" for i, a in enumerate(node)},
        }
        processes = (
            'n=$(ls /proc | grep -c "^[0-9]"); echo PROCESSES $n; '
            f"if test -e /proc/{os.getpid()}/environ; then echo PROBE host-pid ok; "
            "else echo PROBE host-pid refused; fi; "
        )
        listing = f"echo HOME $(ls {home}); echo RUNS $(ls {home / 'runs'}); "
        # the server's port is the job's route to its S3 endpoint (api/jobroute.py): the API
        # behind it answers nothing, the admin's token or not
        api_call = (
            f"printf 'GET /api/v1/jobs HTTP/1.0\\r\\nAuthorization: Bearer {token}\\r\\n\\r\\n' "
            f"| nc -w 3 127.0.0.1 {server_port} | head -1 | sed 's/^/SERVER /'; "
        )
        script = _files(files) + _ports(ports) + api_call + processes + listing
        script += "cat /etc/marker"
        job_b = submit(
            api, {"command": ["/bin/sh", "-c", script], "image": image, "resources": SMALL}, **b
        )
        jobs.append(job_b["id"])
        done = wait_state(api, job_b["id"], {"succeeded", "failed"}, timeout=180)
        log = api.get(f"/api/v1/jobs/{job_b['id']}/logs", headers=b).text
        assert done["state"] == "succeeded", log
        assert log.rstrip().endswith("image")  # it ran in its image
        names = [*files, *ports, "host-pid"]
        reached = [n for n in names if f"PROBE {n} ok" in log]
        refused = [n for n in names if f"PROBE {n} refused" in log]
        assert (reached, len(refused)) == ([], len(names)), log
        assert "SERVER HTTP/1.1 404" in log, log  # the route's gate, not the API
        assert outside.accepted == 0
        count = int(log.split("PROCESSES ", 1)[1].split()[0])
        assert count <= 6, log  # its own init, shell, ls and grep: none of the host's
        assert A_SECRET not in log
        # the home holds only the mount points of B's own run directory
        assert f"HOME runs\nRUNS {job_b['id']}\n" in log, log
