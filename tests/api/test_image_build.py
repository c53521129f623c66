"""A build is a job: tenant A pushes a busybox base, builds `app:1` from a Containerfile on it
(podman in the job's network and the build's sandbox, with its project's own storage;
unprivileged RUN steps without the network), the build pushes to A's repository, and A's job
runs in what it built. B may neither run A's private image nor build on A's private base; a RUN
step reaches neither the server nor its files; a second identical build reuses the project's
cached layers. The hostile tenant's probes are tests/hostile/test_build_hostile.py."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from aicc.core import images as refs
from aicc.executors.container import AUTH_FILE, storage_args
from aicc.executors.containerfile import BadContainerfile, images_of, read_containerfile, rewrite
from aicc.executors.image_build import BUILDS_DIR
from aicc.sdk.client import Client
from aicc.services.images.images import PUSHES, credential_access
from aicc.testing import registry
from aicc.testing.images import cleaned, podman_or_skip, rootfs_tar
from aicc.testing.jobs import run_job, wait_state
from aicc.testing.polling import wait
from aicc.testing.registry import Center, oci_layout

pytestmark = pytest.mark.skipif(not registry.installed(), reason=registry.INSTALL_HINT)

SMALL = {"cpu": 0.5, "memory": "256MiB"}


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    podman_or_skip()
    with registry.center(tmp_path / "home", sandbox="bwrap") as c:
        yield c


def context(where: Path, base: str, probe: str = "") -> Path:
    """A build context: hello.txt and a Containerfile on `base`, with an optional probe step."""
    where.mkdir(parents=True)
    (where / "hello.txt").write_text("hello from the context\n")
    steps = [f"FROM {base}", "COPY hello.txt /srv/", "RUN echo built > /srv/stamp"]
    steps += [f"RUN {probe}"] if probe else []
    (where / "Containerfile").write_text("\n".join(steps) + "\n")
    return where


def build(
    api: Client, http: httpx.Client, image: str, ctx: Path, env: dict[str, str] | None = None
) -> tuple[dict[str, Any], str]:
    """The build job once ended, and its whole log (podman writes to both streams)."""
    spec = {"kind": "build", "build": {"image": image}, "resources": SMALL, "env": env or {}}
    job = api.jobs.submit(spec, workdir=ctx)
    ended = wait_state(http, job.id, {"succeeded", "failed"}, timeout=180)
    logs = [
        http.get(f"/api/v1/jobs/{job.id}/logs", params={"stream": s}).text
        for s in ("stdout", "stderr")
    ]
    return ended, "\n".join(logs)


def test_a_build_pushes_to_its_tenant_runs_confined_and_reuses_the_cache(
    center: Center, tmp_path: Path
) -> None:
    a, b = center.tenants("alpha", "beta")
    oci_layout(tmp_path / "base", rootfs_tar({"etc/base-release": b"base 1\n"}))
    api_a, api_b = center.sdk(a), center.sdk(b)
    base = api_a.images.push("base:1", tmp_path / "base").reference
    app = base.replace("/base:1", "/app:1")
    wait("the push booked", lambda: any(i.name == "base" for i in api_a.images.list()))
    port = urlparse(center.url).port
    admin_token = tmp_path / "home" / "admin.token"
    probe = (  # the markers split by "", so the step's own line in the log is not them
        f"(wget -T 3 -q -O- http://127.0.0.1:{port}/api/v1/health"
        ' && echo PROBE-""REACHED-SERVER || echo PROBE-""REFUSED-SERVER);'
        f' (cat {admin_token} && echo PROBE-""READ-TOKEN || echo PROBE-""REFUSED-TOKEN)'
    )
    ctx = context(tmp_path / "ctx", "alpha/default/base:1", probe)
    podman = podman_or_skip().podman
    jobs: list[str] = []
    with (
        cleaned(podman, [app, base], jobs),
        httpx.Client(base_url=center.url, headers=a.headers, timeout=30) as http_a,
        httpx.Client(base_url=center.url, headers=b.headers, timeout=30) as http_b,
    ):
        # podman reads its configuration from the environment: the job's is not its own
        (tmp_path / "evil.conf").write_text("[engine\nruntime = 'nothing'\n")
        evil = {"CONTAINERS_CONF": str(tmp_path / "evil.conf"), "BUILDAH_ISOLATION": "chroot"}
        job, log = build(api_a, http_a, "app:1", ctx, env=evil)
        jobs.append(job["id"])
        assert job["state"] == "succeeded", (job["message"], log)
        assert job["spec"]["build"]["target"] == app
        assert f"aicc: pushed {app}" in log
        assert "PROBE-REFUSED-SERVER" in log and "PROBE-REACHED-SERVER" not in log
        assert "PROBE-REFUSED-TOKEN" in log and "PROBE-READ-TOKEN" not in log
        assert center.token not in log

        wait("the build's push booked", lambda: _tags(api_a, "app") == ["1"])
        job, out = run_job(
            http_a,
            {"command": ["cat", "/srv/hello.txt", "/srv/stamp"], "image": "app:1", **_small()},
        )
        jobs.append(job["id"])
        assert (job["state"], out) == ("succeeded", "hello from the context\nbuilt\n")

        refused = http_b.post(
            "/api/v1/jobs", json={"command": "true", "image": "alpha/default/app:1"}
        )
        assert refused.status_code == 422, refused.text
        assert "not yours to pull" in refused.text

        theirs = context(tmp_path / "theirs", "alpha/default/base:1")
        with pytest.raises(Exception, match="not yours to pull") as refusal:
            api_b.jobs.submit(
                {"kind": "build", "build": {"image": "mine:1"}, "resources": SMALL},
                workdir=theirs,
            )
        assert getattr(refusal.value, "status", 422) == 422

        again, log = build(api_a, http_a, "app:1", ctx)
        jobs.append(again["id"])
        assert again["state"] == "succeeded", (again["message"], log)
        assert log.count("Using cache") >= 3  # COPY, RUN and the probe's RUN
        assert "PROBE-REFUSED" not in log  # the probe's step was not run again

        api_a.images.share("app", "public")
        job, out = run_job(
            http_b,
            {"command": ["cat", "/srv/stamp"], "image": "alpha/default/app:1", **_small()},
        )
        jobs.append(job["id"])
        assert (job["state"], out) == ("succeeded", "built\n")


def test_a_cancelled_build_leaves_no_container_and_no_credential(
    center: Center, tmp_path: Path
) -> None:
    (a,) = center.tenants("alpha")
    oci_layout(tmp_path / "base", rootfs_tar({}))
    api_a = center.sdk(a)
    base = api_a.images.push("base:1", tmp_path / "base").reference
    wait("the push booked", lambda: any(i.name == "base" for i in api_a.images.list()))
    ctx = context(tmp_path / "ctx", "base:1", "echo STEP-STARTED; sleep 600")
    podman = podman_or_skip().podman
    jobs: list[str] = []
    with (
        cleaned(podman, [base], jobs),
        httpx.Client(base_url=center.url, headers=a.headers, timeout=30) as http_a,
    ):
        spec = {"kind": "build", "build": {"image": "slow:1"}, "resources": SMALL}
        job = api_a.jobs.submit(spec, workdir=ctx)
        jobs.append(job.id)
        storage = tmp_path / "home" / "runs" / BUILDS_DIR / job.project_id

        def logged() -> bool:
            answer = http_a.get(f"/api/v1/jobs/{job.id}/logs", params={"stream": "stdout"})
            return "STEP-STARTED" in answer.text

        wait("the slow step runs", logged, timeout=120)
        assert _external(podman, storage)  # its working container, in its project's storage
        assert http_a.post(f"/api/v1/jobs/{job.id}/cancel").status_code in (200, 202)
        ended = wait_state(http_a, job.id, {"cancelled"}, timeout=120)
        assert ended["state"] == "cancelled"
        wait("the build's containers are gone", lambda: not _external(podman, storage))
        assert not list((tmp_path / "home").rglob(AUTH_FILE))
        # its RUN step, in a session of its own, killed with its cgroup (no `sleep` left)
        assert not list(Path("/sys/fs/cgroup").glob(f"*/aicc-{job.id.lower()}-*-build"))
        assert not list(Path("/sys/fs/cgroup").glob(f"aicc-{job.id.lower()}-*-build"))


def _external(podman: str, storage: Path) -> set[str]:
    """The containers podman knows in a project's build storage, working containers too."""
    listed = subprocess.run(
        [podman, *storage_args(storage), "ps", "--all", "--external", "--format", "{{.ID}}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(listed.stdout.split())


def test_a_build_is_refused_what_it_may_not_push_or_read(center: Center, tmp_path: Path) -> None:
    a, b = center.tenants("alpha", "beta")
    with httpx.Client(base_url=center.url, headers=b.headers, timeout=30) as http_b:
        api_b = center.sdk(b)
        sha = api_b.upload_workdir(context(tmp_path / "ctx", "base:1"))
        spec = {"kind": "build", "workdir_sha256": sha, "resources": SMALL}
        cases = {
            "alpha/default/x:1": "not a repository you may push to",
            "x:1": "not in the center registry, or not yours to pull",  # base:1 of beta: none
        }
        for image, said in cases.items():
            answer = http_b.post("/api/v1/jobs", json={**spec, "build": {"image": image}})
            assert answer.status_code == 422 and said in answer.text, answer.text
        answer = http_b.post(
            "/api/v1/jobs",
            json={**spec, "build": {"image": "x:1", "containerfile": "Dockerfile"}},
        )
        assert answer.status_code == 422 and "Dockerfile is not a file" in answer.text
        answer = http_b.post(
            "/api/v1/jobs", json={**spec, "build": {"image": "x:1"}, "command": "make"}
        )
        assert answer.status_code == 422 and "leave command out" in answer.text
    del a


CONTAINERFILE = """\
# syntax comment
FROM base:1 AS tools
FROM alpha/default/py:3 \\
  AS app
COPY --from=tools /bin/x /bin/x
COPY --from=other:2 /a /a
RUN --mount=type=bind,from=cache:1,target=/c true
FROM scratch
"""


def test_the_images_a_containerfile_pulls_are_each_resolved_and_nothing_else() -> None:
    mentioned = [m.written for m in images_of(CONTAINERFILE)]
    assert mentioned == ["base:1", "alpha/default/py:3", "other:2", "cache:1"]
    full = {m: f"h:1/o/p/{m.rsplit('/', 1)[-1]}" for m in mentioned}
    text = rewrite(CONTAINERFILE, full)
    assert "FROM h:1/o/p/base:1 AS tools" in text and "FROM h:1/o/p/py:3 \\" in text
    assert "--from=tools " in text and "--from=h:1/o/p/other:2 " in text
    assert "from=h:1/o/p/cache:1,target" in text and "FROM scratch" in text
    with pytest.raises(BadContainerfile, match="not checked"):
        rewrite(CONTAINERFILE, {**full, "cache:1": None})  # type: ignore[dict-item]
    for bad, said in (("FROM $BASE\n", "variable"), ("RUN true\n", "no FROM")):
        with pytest.raises(BadContainerfile, match=said):
            images_of(bad)


def test_a_containerfile_that_two_parsers_could_read_apart_is_refused() -> None:
    """What the Dockerfile parser (Go) and this one could split, join or trim differently is
    refused, naming the line; what they read alike passes, CRLF and Chinese comments too."""
    refused = {
        "\ufeffFROM a:1\n": "line 1: character U+FEFF",
        "# escape=`\nFROM a:1\n": "line 1: the parser directive 'escape'",
        "# ESCAPE = `\nFROM a:1\n": "the parser directive 'escape'",
        "FROM a:1\nRUN x\x0bFROM b:1\n": "line 2: character U+000B",
        "FROM a:1\nRUN x\u2028FROM b:1\n": "U+2028",
        "FROM a:1\r\nRUN x\rFROM b:1\n": "line 2: character U+000D",
        "FROM a:1\nRUN echo \u2066x\n": "U+2066",
        "FROM containers-storage:a:1\n": "transport containers-storage:",
        "FROM a:1\nRUN --mount=type=bind,from=oci:/x,target=/c true\n": "transport oci:",
    }
    for text, said in refused.items():
        with pytest.raises(BadContainerfile, match=re.escape(said)):
            images_of(text)
    with pytest.raises(BadContainerfile, match="byte 12 is not UTF-8"):
        read_containerfile(b"FROM a:1\n# \xff\xfe\n")
    fine = "# syntax=docker/dockerfile:1\r\n# 中文注释\r\nFROM a:1 \\ \r\n  AS x\r\nFROM b:1\r\n"
    assert [m.written for m in images_of(fine)] == ["a:1", "b:1"]
    assert rewrite(fine, {"a:1": "h/a:1", "b:1": "h/b:1"}).count("\n") == 5
    # a continuation ends, as in Go, only at `\\` then spaces or tabs: after a no-break space
    # the next line is an instruction of its own, and its FROM is seen
    nbsp = "FROM a:1\nRUN echo \\\u00a0\nFROM b:1\n"
    assert [m.written for m in images_of(nbsp)] == ["a:1", "b:1"]


def test_a_build_credential_pushes_its_target_alone() -> None:
    claims = {
        PUSHES: True,
        "access": [
            {"type": "repository", "name": "a/p/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "a/p/base", "actions": ["pull"]},
        ],
    }
    asked = [
        refs.parse_scope(s)
        for s in ("repository:a/p/app:pull,push", "repository:a/p/base:pull,push",
                  "repository:b/p/other:pull,push")
    ]  # fmt: skip
    granted = [a.actions for a in credential_access(claims, asked)]
    assert granted == [("pull", "push"), ("pull",), ()]
    del claims[PUSHES]  # a job's pull credential never pushes, whatever its access says
    assert [a.actions for a in credential_access(claims, asked)] == [("pull",), ("pull",), ()]


def _tags(api: Client, name: str) -> list[str]:
    found = [i for i in api.images.list() if i.name == name]
    return [t.tag for t in found[0].tags] if found else []


def _small() -> dict[str, Any]:
    return {"resources": {"cpu": 0.5, "memory": "128MiB"}}
