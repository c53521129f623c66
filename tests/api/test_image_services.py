"""Notebooks, deployments and templates name images too (issue 39): a deployment of a command
in a tenant's pushed busybox image becomes ready and answers through the gateway; a notebook's
job carries its image as the center registry names it; a template's manifest pins the image its
runs' jobs run in. An image the caller may not pull, or a malformed one, is a 422 that says so,
and nothing is made."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from aicc.testing import registry, templates
from aicc.testing.images import cleaned, podman_or_skip, rootfs_tar
from aicc.testing.polling import wait
from aicc.testing.registry import Center, oci_layout
from aicc.testing.tenants import make_tenant

SMALL = {"cpu": 0.5, "memory": "128MiB"}
# One HTTP exchange on stdin and stdout, in the image's busybox sh: the readiness probe's and
# the gateway's alike get {"v": 42} (busybox httpd serves no POST outside /cgi-bin/).
REPLY = b"""\
read -r line
length=0
while read -r header; do
  case "$header" in
    [Cc]ontent-[Ll]ength:*) length=${header#*:}; length=${length%?}; length=${length# } ;;
    ?) break ;;
    "") break ;;
  esac
done
[ "$length" -gt 0 ] 2>/dev/null && read -r -n "$length" _
body='{"v": 42}'
head='HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: %s\\r\\n\\r\\n'
printf "$head%s" "${#body}" "$body"
"""
SERVE = 'exec nc -ll -p "$PORT" -e sh /srv/reply'
NOT_YOURS = "not in the center registry, or not yours to pull"


@pytest.fixture
def center(tmp_path: Path) -> Iterator[Center]:
    if not registry.installed():
        pytest.skip(registry.INSTALL_HINT)
    podman_or_skip()
    with registry.center(tmp_path / "home", sandbox="bwrap") as c:
        yield c


def test_a_deployment_runs_its_replicas_in_its_image_and_answers_through_the_gateway(
    center: Center, tmp_path: Path
) -> None:
    (a,) = center.tenants("alpha")
    oci_layout(tmp_path / "img", rootfs_tar({"srv/reply": REPLY}))
    api_a = center.sdk(a)
    pushed = api_a.images.push("web:1", tmp_path / "img").reference
    wait("the push booked", lambda: any(i.name == "web" for i in api_a.images.list()))
    podman = podman_or_skip().podman
    jobs: list[str] = []
    with (
        cleaned(podman, [pushed], jobs),
        httpx.Client(base_url=center.url, headers=a.headers, timeout=30) as http,
    ):
        body = {"name": "web", "command": SERVE, "resources": SMALL}
        refused = http.post("/api/v1/deployments", json={**body, "image": "nothing:1"})
        assert refused.status_code == 422 and NOT_YOURS in refused.text, refused.text
        assert http.get("/api/v1/deployments/web").status_code == 404  # nothing was made

        made = http.post("/api/v1/deployments", json={**body, "image": "web:1"})
        assert made.status_code == 201, made.text
        assert made.json()["image"] == pushed  # resolved now: what its replicas pull

        def ready() -> dict[str, Any] | None:
            shown = http.get("/api/v1/deployments/web").json()
            jobs[:] = [r["job_id"] for r in shown["replicas"]]
            return shown if shown["state"] in ("ready", "failed") else None

        shown = wait("the deployment ready", ready, timeout=180)
        assert isinstance(shown, dict) and shown["state"] == "ready", shown
        job = http.get(f"/api/v1/jobs/{jobs[0]}").json()
        assert job["spec"]["image"] == pushed

        key = http.post("/api/v1/keys", json={"name": "web"})
        assert key.status_code == 201, key.text
        answer = httpx.post(
            center.url + "/v1/deployments/web/predict",
            json={},
            headers={"Authorization": f"Bearer {key.json()['secret']}"},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.json() == {"v": 42}, answer.text

        # a new revision may not name an image its author cannot pull either
        patched = http.patch("/api/v1/deployments/web", json={"image": "alpha/other/x:1"})
        assert patched.status_code == 422 and NOT_YOURS in patched.text, patched.text
        # a revision that changes something else keeps the image
        patched = http.patch("/api/v1/deployments/web", json={"env": {"MODE": "2"}})
        assert patched.status_code == 200 and patched.json()["image"] == pushed, patched.text
        revisions = http.get("/api/v1/deployments/web/revisions").json()
        items = revisions if isinstance(revisions, list) else revisions["items"]
        assert [(r["revision"], r["image"]) for r in items] == [(2, pushed), (1, pushed)]
        assert http.delete("/api/v1/deployments/web").status_code in (200, 204)
        listed = http.get("/api/v1/jobs").json()
        jobs[:] = [j["id"] for j in (listed if isinstance(listed, list) else listed["items"])]


def test_a_notebook_job_carries_its_resolved_image(center: Center, tmp_path: Path) -> None:
    (a,) = center.tenants("alpha")
    oci_layout(tmp_path / "img", rootfs_tar({"www/health": b"ok\n"}))
    api_a = center.sdk(a)
    pushed = api_a.images.push("lab:1", tmp_path / "img").reference
    podman = podman_or_skip().podman
    jobs: list[str] = []
    with (
        cleaned(podman, [pushed], jobs),
        httpx.Client(base_url=center.url, headers=a.headers, timeout=30) as http,
    ):
        for start in (True, False):  # refused whether it would start now or not
            refused = http.post(
                "/api/v1/notebooks", json={"name": "lab", "image": "nothing:1", "start": start}
            )
            assert refused.status_code == 422 and NOT_YOURS in refused.text, refused.text
        assert http.get("/api/v1/notebooks/lab").status_code == 404

        made = http.post("/api/v1/notebooks", json={"name": "lab", "image": "lab:1"})
        assert made.status_code == 201, made.text
        jobs.append(made.json()["job_id"])
        assert "image" not in made.json()["resources"]
        job = http.get(f"/api/v1/jobs/{jobs[0]}").json()
        assert job["spec"]["image"] == pushed and job["kind"] == "notebook"
        http.post("/api/v1/notebooks/lab/stop")


T = "/api/v1/templates"


def test_a_template_pins_the_image_its_runs_run_in(api: TestClient) -> None:
    pub = make_tenant(api, "publisher", role="org_admin")
    files = templates.own("mean-of-y")

    def pinned(image: str) -> dict[str, str]:
        return dict(files, **{"template.yaml": files["template.yaml"] + f"image: {image}\n"})

    bad = api.post(T, json={"files": pinned("Not An Image")}, headers=pub.headers)
    assert bad.status_code == 422 and "image" in bad.json()["detail"], bad.text

    # a center image nobody pushed: published, but its run is refused with the reason
    made = api.post(T, json={"files": pinned("publisher/default/torch:2")}, headers=pub.headers)
    assert made.status_code == 201, made.text
    run = api.post(f"{T}/mean-of-y/runs", json={}, headers=pub.headers)
    assert run.status_code == 422 and NOT_YOURS in run.text, run.text

    # one the nodes hold (`registry.external`): the run's job runs in it
    again = api.post(T, json={"files": pinned("localhost/torch:2")}, headers=pub.headers)
    assert again.status_code == 201, again.text
    run = api.post(f"{T}/mean-of-y/runs", json={}, headers=pub.headers)
    assert run.status_code == 201, run.text
    job = run.json().get("job", run.json())
    assert job["spec"]["image"] == "localhost/torch:2"
    api.post(f"/api/v1/jobs/{job['id']}/cancel", headers=pub.headers)
