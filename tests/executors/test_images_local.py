"""Jobs in images on the local executor, through a real server and real podman (runc here):
two tenants' jobs each see their own image's libraries, the memory request is enforced by the
container's cgroup, a job without an image runs as before, a missing image fails the job
`image_unavailable` with podman's message, a cancel keeps its grace, and no container is left
after a cancel or after the replica's supervisor is killed."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from aicc.testing.images import cleaned, containers_of, make_image, podman_or_skip
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

SMALL = {"cpu": 0.5, "memory": "64MiB"}


@dataclass
class Site:
    api: httpx.Client
    home: Path
    podman: str
    images: dict[str, str]  # "v1", "v2" -> reference
    tenants: dict[str, dict[str, str]]  # "a", "b" -> headers
    jobs: list[str]
    state: Any  # the server's, for what it reaches of a replica (services/endpoints)

    def run(self, spec: dict[str, Any], who: str = "a", timeout: float = 120) -> dict[str, Any]:
        job = submit(self.api, {"resources": SMALL, **spec}, **self.tenants[who])
        self.jobs.append(job["id"])
        return wait_state(self.api, job["id"], {"succeeded", "failed", "cancelled"}, timeout)

    def log(self, job_id: str, stream: str = "stdout", who: str = "a") -> str:
        answer = self.api.get(
            f"/api/v1/jobs/{job_id}/logs", params={"stream": stream}, headers=self.tenants[who]
        )
        return answer.text


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    box = podman_or_skip()
    tmp = tmp_path_factory.mktemp("images")
    images = {
        "v1": make_image(
            box.podman,
            tmp,
            "1",
            {"usr/lib/libdemo.so.1": b"libdemo 1.0\n", "srv/index.html": b"served from v1\n"},
        ),
        "v2": make_image(box.podman, tmp, "2", {"usr/lib/libdemo.so.2": b"libdemo 2.0\n"}),
    }
    jobs: list[str] = []
    with cleaned(box.podman, list(images.values()), jobs):
        home = tmp / "home"
        with over_http(home, limits={"grace_s": 2}) as (url, token, state):
            api = httpx.Client(
                timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}
            )
            tenants = {w: make_tenant(api, f"img-{w}").headers for w in ("a", "b")}
            yield Site(api, home, box.podman, images, tenants, jobs, state)


LIBS = "cat /usr/lib/libdemo.so.*; ls /usr/lib"


def test_two_tenants_jobs_each_see_their_own_images_libraries(site: Site) -> None:
    a = submit(
        site.api,
        {"command": ["/bin/sh", "-c", LIBS], "image": site.images["v1"], "resources": SMALL},
        **site.tenants["a"],
    )
    b = submit(
        site.api,
        {"command": ["/bin/sh", "-c", LIBS], "image": site.images["v2"], "resources": SMALL},
        **site.tenants["b"],
    )
    site.jobs += [a["id"], b["id"]]
    done = {
        who: wait_state(site.api, job["id"], {"succeeded", "failed"}, timeout=120)
        for who, job in (("a", a), ("b", b))
    }
    logs = {who: site.log(job["id"], who=who) for who, job in (("a", a), ("b", b))}
    assert [done[w]["state"] for w in "ab"] == ["succeeded", "succeeded"], logs
    assert logs["a"] == "libdemo 1.0\nlibdemo.so.1\n"
    assert logs["b"] == "libdemo 2.0\nlibdemo.so.2\n"


def test_the_memory_request_is_enforced_by_the_containers_cgroup(site: Site) -> None:
    """64 MiB asked, 200 MiB allocated: the kernel kills it, the job fails `oom_killed`."""
    argv = ["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"]
    job = site.run({"command": argv, "image": site.images["v1"]})
    assert job["state"] == "failed", job
    assert job["replicas"][0]["reason"] == "oom_killed", job
    assert job["reason"] == "oom_killed"


def test_a_job_without_an_image_runs_on_the_node_as_before(site: Site) -> None:
    script = "echo bare; test -e /usr/lib/libdemo.so.1 && echo IMAGE || echo node"
    job = site.run({"command": ["/bin/sh", "-c", script]})
    assert job["state"] == "succeeded", job
    assert site.log(job["id"]) == "bare\nnode\n"


def test_a_missing_image_fails_the_job_image_unavailable_saying_why(site: Site) -> None:
    missing = "localhost/aicc-test-no-such-image:1"
    job = site.run({"command": ["/bin/sh", "-c", "echo ran"], "image": missing})
    assert job["state"] == "failed", job
    assert job["replicas"][0]["reason"] == "image_unavailable", job
    assert missing in job["message"]
    assert site.log(job["id"]) == ""  # never ran
    assert f"image {missing} is unavailable" in site.log(job["id"], "stderr")


def _running(site: Site, spec: dict[str, Any], text: str) -> str:
    job = submit(site.api, {"resources": SMALL, **spec}, **site.tenants["a"])
    site.jobs.append(job["id"])
    deadline = time.monotonic() + 120
    while text not in site.log(job["id"]):
        state = site.api.get(f"/api/v1/jobs/{job['id']}").json()
        assert state["state"] not in ("failed", "succeeded", "cancelled"), state
        assert time.monotonic() < deadline, f"{job['id']} never printed {text!r}"
        time.sleep(0.1)
    return str(job["id"])


def test_a_service_in_an_image_is_reached_by_the_server_through_its_socket(site: Site) -> None:
    """Its job's namespace, its forwarder and socket work for a container as for the sandbox."""
    from aicc.services.jobs import endpoints

    script = "echo serving; exec httpd -f -p $PORT -h /srv"
    spec = {"kind": "service", "command": ["/bin/sh", "-c", script], "image": site.images["v1"]}
    job_id = _running(site, spec, "serving")
    try:
        deadline = time.monotonic() + 60
        answer = ""
        while answer != "served from v1\n":
            assert time.monotonic() < deadline, answer
            with site.state.db.reader() as session:
                found = [e for e in endpoints.of_job(session, job_id) if e.running]
            if found and found[0].socket is not None:
                with endpoints.reachable(found[0].socket) as short:
                    transport = httpx.HTTPTransport(uds=short)
                    with httpx.Client(transport=transport, timeout=10) as client:
                        try:
                            answer = client.get(found[0].url + "/index.html").text
                        except httpx.HTTPError as err:
                            answer = repr(err)
            time.sleep(0.2)
    finally:
        site.api.post(f"/api/v1/jobs/{job_id}/cancel", headers=site.tenants["a"])
        wait_state(site.api, job_id, {"cancelled", "failed"}, timeout=60)


def test_a_cancel_keeps_its_grace_and_leaves_no_container(site: Site) -> None:
    script = 'trap "echo got TERM; exit 0" TERM; echo up; while :; do sleep 0.1; done'
    job_id = _running(
        site, {"command": ["/bin/sh", "-c", script], "image": site.images["v1"]}, "up"
    )
    assert containers_of(site.podman, [job_id])  # it runs in its container
    site.api.post(f"/api/v1/jobs/{job_id}/cancel", headers=site.tenants["a"])
    job = wait_state(site.api, job_id, {"cancelled", "failed"}, timeout=60)
    assert job["state"] == "cancelled", job
    assert site.log(job_id) == "up\ngot TERM\n"  # the signal reached it through podman
    assert containers_of(site.podman, [job_id]) == []


def test_a_killed_supervisor_leaves_no_container_behind(site: Site) -> None:
    """The job ignores SIGTERM, so podman outlives its supervisor; after the grace the
    server's polls kill podman, whose container lives on until they remove it."""
    script = "trap '' TERM; echo up; while :; do sleep 0.1; done"
    job_id = _running(
        site, {"command": ["/bin/sh", "-c", script], "image": site.images["v2"]}, "up"
    )
    status = json.loads(next((site.home / "runs" / job_id).glob("*/0/status.json")).read_text())
    os.kill(status["supervisor_pid"], signal.SIGKILL)
    job = wait_state(site.api, job_id, {"failed", "succeeded", "cancelled"}, timeout=90)
    assert job["replicas"][0]["reason"] == "supervisor_lost", job
    assert containers_of(site.podman, [job_id]) == []


def counting_podman(folder: Path, podman: str) -> tuple[Path, Path]:
    """A `podman` that records each pull's transcript (stderr) in a file, then is podman."""
    pulls, shim = folder / "pulls", folder / "bin" / "podman"
    shim.parent.mkdir(parents=True)
    shim.write_text(
        f'#!/bin/bash\n[ "$1" = pull ] || exec {podman} "$@"\n'
        f'echo "PULL $*" >>{pulls}\nexec {podman} "$@" 2> >(tee -a {pulls} >&2)\n'
    )
    shim.chmod(0o755)
    pulls.touch()
    return shim, pulls


def node_executor(home: Path, podman: str, insecure: tuple[str, ...]) -> Any:
    """The local executor of a node whose podman is `podman`, `insecure` pulled over http."""
    from aicc.executors import container as containers
    from aicc.executors import sandbox
    from aicc.executors.local.executor import LocalExecutor

    detected = containers.detected("auto", insecure)
    assert detected is not None
    found = dataclasses.replace(detected, podman=podman)
    return LocalExecutor(
        home=home,
        blobs=None,  # type: ignore[arg-type]
        sandbox=sandbox.detect("auto"),
        container=lambda: found,
    )


def replica(job: str, index: int, image: str, token: str | None = None) -> Any:
    from aicc.executors.base import ReplicaLaunch

    argv = ["/bin/sh", "-c", "cat /usr/lib/libdemo.so.*"]
    return ReplicaLaunch(
        job, 0, index, argv, {}, "n", (), 500, 64, None, image=image, image_pull_token=token
    )


@contextlib.contextmanager
def plain_registry(folder: Path) -> Iterator[str]:
    """Debian's docker-registry with no authentication on a loopback port: its HOST:PORT."""
    from aicc.testing import registry, startup
    from aicc.testing.servers import free_port

    if not registry.installed():
        pytest.skip(f"PULLS FROM A REGISTRY UNTESTED: {registry.INSTALL_HINT}")
    port = free_port()
    config = folder / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'storage'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    log = (folder / "registry.log").open("wb")
    process = subprocess.Popen([str(registry.BINARY), "serve", str(config)], stdout=log, stderr=log)
    try:

        def answers() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        startup.wait_started("docker-registry", answers, exited=process.poll, progress=lambda: 0)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_concurrent_replicas_of_one_image_pull_it_once_per_node(tmp_path: Path) -> None:
    """Two replicas started together on one node: one pull (the other waits on its lock and
    finds the image held); a third later pulls nothing either."""
    box = podman_or_skip()
    local = make_image(box.podman, tmp_path, "1", {"usr/lib/libdemo.so.1": b"libdemo 1.0\n"})
    images = [local]
    with plain_registry(tmp_path) as host, cleaned(box.podman, images, ["job_01PULLONCE"]):
        ref = f"{host}/demo/once:1"
        push = [box.podman, "push", "--quiet", "--tls-verify=false", local, ref]
        done = subprocess.run(push, capture_output=True)
        assert done.returncode == 0, done.stderr.decode()
        images.append(ref)
        subprocess.run([box.podman, "rmi", "--force", ref], capture_output=True)  # not held
        shim, pulls = counting_podman(tmp_path, box.podman)
        executor = node_executor(tmp_path / "node", str(shim), (host,))
        handles = [executor.launch(replica("job_01PULLONCE", i, ref)) for i in (0, 1)]
        assert [until_exited(executor, h).reason for h in handles] == ["succeeded"] * 2
        third = executor.launch(replica("job_01PULLONCE", 2, ref))
        assert until_exited(executor, third).reason == "succeeded"
        assert [executor.logs(h) for h in (*handles, third)] == ["libdemo 1.0\n"] * 3
        said = pulls.read_text()
        assert said.count("PULL ") == 1, said
        assert "--tls-verify=false" in said  # the registry the settings mark insecure alone


def test_a_center_registry_image_is_pulled_with_its_tenants_credential(tmp_path: Path) -> None:
    """Tenant A pushes an image to a real center registry (AICC its token server); two replicas
    of A's job on one node pull it with A's credential, one after the other, the 0600
    credential file gone after the pull; B's replica with B's credential is refused by the
    registry although the node holds the image, and fails `image_unavailable`."""
    from aicc.executors import container as containers
    from aicc.testing import registry

    box = podman_or_skip()
    if not registry.installed():
        pytest.skip(f"CENTER REGISTRY PULLS UNTESTED: {registry.INSTALL_HINT}")
    local = make_image(box.podman, tmp_path, "1", {"usr/lib/libdemo.so.1": b"libdemo 1.0\n"})
    jobs = ["job_01REGISTRYA", "job_01REGISTRYB"]
    pushed: list[str] = [local]
    with cleaned(box.podman, pushed, jobs), registry.center(tmp_path / "home") as c:
        api = httpx.Client(
            timeout=60, base_url=c.url, headers={"Authorization": f"Bearer {c.token}"}
        )
        secrets = {
            w: make_tenant(api, w).headers["Authorization"].split()[1] for w in ("alpha", "beta")
        }
        ref = f"{c.registry.host}/alpha/default/demo:1"
        push = [box.podman, "push", "--quiet", "--tls-verify=false"]
        done = subprocess.run(
            [*push, "--creds", f"aicc:{secrets['alpha']}", local, ref], capture_output=True
        )
        assert done.returncode == 0, done.stderr.decode()
        pushed.append(ref)
        subprocess.run([box.podman, "rmi", "--force", ref], capture_output=True)  # not held
        shim, pulls = counting_podman(tmp_path, box.podman)
        executor = node_executor(tmp_path / "node", str(shim), (c.registry.host,))
        a = [executor.launch(replica(jobs[0], i, ref, secrets["alpha"])) for i in (0, 1)]
        ended = [until_exited(executor, h) for h in a]
        assert [s.reason for s in ended] == ["succeeded", "succeeded"]
        assert [executor.logs(h) for h in a] == ["libdemo 1.0\n"] * 2
        assert not any((Path(h) / containers.AUTH_FILE).exists() for h in a)
        said = pulls.read_text()
        # one pull after the other (the lock), each asking the registry with A's credential
        assert said.count("PULL ") == 2 and said.count("--authfile") == 2, said
        first_end, second = said.index("Storing signatures"), said.rindex("PULL ")
        assert first_end < second, said

        b = until_exited(executor, executor.launch(replica(jobs[1], 0, ref, secrets["beta"])))
        assert b.reason == "image_unavailable", b
        assert "unauthorized" in b.message or "denied" in b.message, b.message


def until_exited(executor: Any, handle: str) -> Any:
    deadline = time.monotonic() + 120
    while (state := executor.poll(handle)).phase not in ("exited", "lost"):
        assert time.monotonic() < deadline, f"{handle} never ended"
        time.sleep(0.1)
    return state
