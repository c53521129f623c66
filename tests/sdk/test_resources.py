"""The SDK's resources against a real server over HTTP: one module per noun, cursor paging, and
the flat methods of earlier releases answering exactly as the resources do."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aicc.sdk.client import ApiError, Client
from aicc.sdk.transport import api_path
from aicc.services.serving.views import Deployment
from aicc.testing.servers import over_http


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    home: Path = tmp_path_factory.mktemp("sdk") / "home"
    with over_http(home, loops=False) as (url, token, _state), Client(url, token) as client:
        yield client


def test_a_secret_is_set_listed_and_deleted_through_its_resource(api: Client) -> None:
    stored = api.secrets.set("hf-token", "s3cr3t")
    assert stored.name == "hf-token" and "s3cr3t" not in str(stored)
    assert [s.name for s in api.secrets.list()] == ["hf-token"]
    assert api.secrets() == api.secrets.list()  # a resource called lists itself
    api.secrets.delete("hf-token")
    assert api.secrets.list() == []
    with pytest.raises(ApiError) as missing:
        api.secrets.delete("hf-token")
    assert missing.value.status_code == 404 and "hf-token" in missing.value.detail


def test_lists_follow_the_cursor_to_the_last_page(api: Client) -> None:
    ids = [api.jobs.submit({"name": f"j{i}", "command": "true"}).id for i in range(5)]
    newest_first = list(reversed(ids))
    whole = api.pages(api_path("jobs"), page_size=2)  # three pages: 2 + 2 + 1
    assert [job["id"] for job in whole["items"]] == newest_first
    assert whole["next_cursor"] is None
    first = api.jobs.list(limit=3)
    assert [job.id for job in first] == newest_first[:3]
    assert api.jobs(limit=3) == first  # the old spelling
    assert api.job(ids[0]) == api.jobs.get(ids[0])


def test_the_flat_methods_of_before_are_aliases_of_the_resources(api: Client) -> None:
    org = api.create_org("acme", display_name="Acme Labs")
    assert org.display_name == "Acme Labs"
    assert org in api.orgs.list() and api.orgs() == api.orgs.list()
    project = api.projects.create("vision", org_id=org.id)
    queue = api.create_queue("fast", project.id, priority=5)
    assert queue.priority == 5
    assert [q.name for q in api.queues.list(project=project.id)] == [
        "default",
        "fast",
    ]
    assert Client.create_org.__doc__ == "The same as `client.orgs.create(...)`."


def test_a_deployment_is_made_revised_and_removed_through_its_resource(api: Client) -> None:
    made = api.deployments.create("echo", command="python -m http.server $PORT", env={"V": "1"})
    assert isinstance(made, Deployment)
    assert (made.name, made.revision, made.state) == ("echo", 1, "pending")
    assert api.deployments.get("echo") == api.deployments.list()[0]
    revised = api.deployments.update("echo", env={"V": "2"})
    assert (revised.revision, revised.env) == (2, {"V": "2"})
    back = api.deployments.rollback("echo")
    assert (back.revision, back.env) == (3, {"V": "1"})
    listed = api.deployments.revisions("echo")
    assert [r.revision for r in listed] == [3, 2, 1]
    scaled = api.deployments.scale("echo", max_replicas=3)
    assert (scaled.min_replicas, scaled.max_replicas) == (1, 3)
    assert api.deployments.stop("echo").state == "stopped"
    assert api.deployments.start("echo").state == "pending"
    api.deployments.delete("echo")
    with pytest.raises(ApiError) as gone:
        api.deployments.get("echo")
    assert gone.value.status_code == 404 and "echo" in gone.value.detail
