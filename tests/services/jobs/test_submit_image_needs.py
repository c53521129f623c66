"""Submitting a job in a catalog image (issue 39), through the real API: a job whose image needs
a newer driver than any node of the center has is refused with a 422 saying what it needs and
what each node has; where a node fits, it is accepted; a CPU-only job in the same image needs
no driver; an image the catalog does not know needs nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aicc.services.jobs import devenvs

CUDA_124 = "localhost/base/cuda:12.4-torch2.5"  # a catalog image the nodes hold


def gpu_node(name: str, cuda: str | None) -> dict[str, Any]:
    labels = {} if cuda is None else {"nvidia.com/cuda": cuda, "nvidia.com/driver": "535.0"}
    return {
        "name": name,
        "cpu": 8,
        "memory": "64GiB",
        "labels": labels,
        "devices": [{"model": "A100-80GB", "count": 2, "simulated": True}],
    }


def add_nodes(api: TestClient, *nodes: dict[str, Any]) -> None:
    answer = api.post("/api/v1/nodes/import", json={"nodes": list(nodes)})
    assert answer.status_code == 200, answer.text


def submit(api: TestClient, image: str, gpus: int = 1) -> Any:
    spec = {
        "command": "true",
        "image": image,
        "resources": {"cpu": 1, "memory": "1GiB", "accelerator": {"count": gpus}},
    }
    return api.post("/api/v1/jobs", json=spec)


def cancel(api: TestClient, job_id: str) -> None:
    api.post(f"/api/v1/jobs/{job_id}/cancel")


def test_a_job_no_node_can_run_in_its_image_is_refused_with_what_each_node_has(
    api: TestClient,
) -> None:
    add_nodes(api, gpu_node("gpu-old", "12.2"), gpu_node("gpu-bare", None))
    answer = submit(api, CUDA_124)
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith("image: no node of this center can ever run this job")
    assert f"image {CUDA_124}" in detail
    assert "needs nvidia.com/cuda >= 12.4" in detail
    assert "gpu-old: nvidia.com/cuda=12.2" in detail
    assert "gpu-bare: nvidia.com/cuda=-" in detail
    assert api.get("/api/v1/jobs").json()["items"] == []  # nothing was accepted


def test_the_same_job_is_accepted_where_a_node_has_a_new_enough_driver(api: TestClient) -> None:
    add_nodes(api, gpu_node("gpu-old", "12.2"), gpu_node("gpu-new", "12.6"))
    answer = submit(api, CUDA_124)
    assert answer.status_code == 201, answer.text
    cancel(api, answer.json()["id"])


def test_a_cpu_only_job_in_a_cuda_image_needs_no_driver(api: TestClient) -> None:
    add_nodes(api, gpu_node("gpu-old", "12.2"))
    answer = submit(api, CUDA_124, gpus=0)
    assert answer.status_code == 201, answer.text
    cancel(api, answer.json()["id"])


def test_an_image_the_catalog_does_not_know_needs_nothing(api: TestClient) -> None:
    add_nodes(api, gpu_node("gpu-old", "12.2"))
    assert devenvs.image_needs("localhost/acme/own:1") == ()
    answer = submit(api, "localhost/acme/own:1")
    assert answer.status_code == 201, answer.text
    cancel(api, answer.json()["id"])


def test_too_many_accelerators_is_still_a_resources_refusal(api: TestClient) -> None:
    # More devices than any node has: the resources are why, whatever the image needs.
    add_nodes(api, gpu_node("gpu-old", "12.2"))
    answer = submit(api, CUDA_124, gpus=4)
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("resources: no node of this center")


def test_a_site_points_images_catalog_at_its_own_file(tmp_path: Path) -> None:
    own = tmp_path / "catalog.yaml"
    own.write_text(
        "images:\n"
        "  - name: site-cann\n"
        "    image: vendor/cann:8.0\n"
        "    family: ascend\n"
        "    runtime: {name: cann, version: 8.0.RC1}\n"
        "    needs: {huawei.com/ascend-driver: 24.1.RC1}\n"
    )
    try:
        devenvs.configure(Path("catalog.yaml"), home=tmp_path)  # relative: from the home
        assert devenvs.image_needs("hub.site/vendor/cann:8.0") == (
            ("huawei.com/ascend-driver", "24.1.RC1"),
        )
        assert devenvs.image_needs(CUDA_124) == ()  # the shipped catalog is not in force
        own.write_text("images:\n  - name: broken\n    family: tpu\n")
        with pytest.raises(ValueError, match=r"images\[0\] \(broken\)"):
            devenvs.configure(own)
        with pytest.raises(ValueError, match="does not exist"):
            devenvs.configure(tmp_path / "missing.yaml")
    finally:
        devenvs.configure(None)
    assert devenvs.image_needs(CUDA_124) == (("nvidia.com/cuda", "12.4"),)
