"""`aicc image build NAME[:TAG] DIR --wait` against a real server, registry and podman: the
job id on stdout, the build's log followed, the pushed reference at the end, and the image in
`aicc image list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from aicc.cli.main import app
from aicc.sdk.client import Client
from aicc.testing import registry
from aicc.testing.images import cleaned, podman_or_skip, rootfs_tar
from aicc.testing.polling import wait
from aicc.testing.registry import oci_layout

pytestmark = pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)


def test_image_build_waits_and_names_what_it_pushed(tmp_path: Path) -> None:
    podman = podman_or_skip().podman
    oci_layout(tmp_path / "base", rootfs_tar({"etc/base-release": b"base 1\n"}))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "note.txt").write_text("a note\n")
    (ctx / "Dockerfile").write_text("FROM base:1\nCOPY note.txt /srv/\nRUN cat /srv/note.txt\n")
    with registry.center(tmp_path / "home", sandbox="bwrap") as c:
        env = {
            "AICC_SERVER": c.url,
            "AICC_TOKEN": c.token,
            "COLUMNS": "200",
            "AICC_HOME": str(tmp_path / "client"),
        }

        def aicc(*args: str, code: int = 0) -> Result:
            result = CliRunner().invoke(app, list(args), env=env)
            assert result.exit_code == code, result.output
            return result

        base = f"{c.registry.host}/default/default/base:1"
        built = f"{c.registry.host}/default/default/tool:2"
        jobs: list[str] = []
        with cleaned(podman, [built, base], jobs):
            aicc("image", "push", "base:1", str(tmp_path / "base"))
            api = Client(c.url, c.token)
            wait("the push booked", lambda: api.images.list())
            done = aicc(
                "image", "build", "tool:2", str(ctx), "-f", "Dockerfile", "--cpu", "0.5",
                "--memory", "256MiB", "--wait",
            )  # fmt: skip
            jobs.append(done.stdout.split()[0])
            assert done.stdout.startswith("job_"), done.output
            assert "STEP 3/3: RUN cat /srv/note.txt" in done.stdout
            assert "a note" in done.stdout
            assert done.output.rstrip().endswith(f"pushed {built}")
            wait("the build's push booked", lambda: len(api.images.list()) == 2)
            listed = json.loads(aicc("image", "list", "--json").stdout)["items"]
            assert {(i["name"], i["tags"][0]["tag"]) for i in listed} == {
                ("base", "1"),
                ("tool", "2"),
            }
            missing = aicc("image", "build", "tool:3", str(ctx), "--wait", code=1)
            assert "Containerfile is not a file in the workdir" in missing.output
