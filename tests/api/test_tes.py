"""GA4GH TES 1.1 at /ga4gh/tes/v1 (issue 60), through the real `py-tes` client a workflow engine
uses, against a real server (one for the module, over HTTP, the loops running): a task with an
inline input and an output runs to COMPLETE and its output is the job's; list, views, paging and
filters; cancel; another tenant's task is a 404 and not in its list; what AICC will not run as
asked is TES's 400 (`{msg, status_code}`), never a 500."""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import requests
import tes

from aicc import Client
from aicc.testing.servers import over_http
from aicc.testing.tenants import Tenant, make_tenant

TES = "/ga4gh/tes/v1"


class Center:
    def __init__(self, url: str, admin: httpx.Client, a: Tenant, b: Tenant) -> None:
        self.url, self.admin, self.a, self.b = url, admin, a, b

    def client(self, who: Tenant) -> tes.HTTPClient:
        return tes.HTTPClient(url=self.url, token=who.token, timeout=30)

    def http(self, who: Tenant) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers=who.headers, timeout=30)


@pytest.fixture(scope="module")
def center(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Center]:
    home = tmp_path_factory.mktemp("tes") / "home"
    with over_http(home, limits={"grace_s": 1.0}) as (url, token, _state):
        admin = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        try:
            yield Center(url, admin, make_tenant(admin, "tes-a"), make_tenant(admin, "tes-b"))
        finally:
            admin.close()


def wait(client: tes.HTTPClient, task_id: str, states: set[str], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = client.get_task(task_id, view="MINIMAL")
        if task.state in states:
            return task
        time.sleep(0.2)
    raise AssertionError(f"task {task_id} stayed {task.state}")


def test_a_task_runs_to_complete_and_leaves_its_output(center: Center) -> None:
    client = center.client(center.a)
    info = client.get_service_info()
    assert info.type["artifact"] == "tes" and "aicc_accelerator" in (
        info.tes_resources_backend_parameters or []
    )
    task = tes.Task(
        name="Shout Hello",
        description="upper-cases its input",
        inputs=[tes.Input(path="/data/in.txt", content="hello tes\n")],
        outputs=[tes.Output(path="/data/out.txt", url="aicc://outputs/result/out.txt")],
        executors=[
            tes.Executor(
                image="python:3.12-slim",
                command=["sh", "-c", "tr a-z A-Z < /data/in.txt > /data/out.txt; echo did $GREET"],
                env={"GREET": "it"},
                workdir="/data",
            ),
            tes.Executor(image="alpine", command=["cat", "/data/out.txt"]),
        ],
        resources=tes.Resources(cpu_cores=1, ram_gb=0.5, disk_gb=1),
        tags={"workflow": "w1", "step": "shout"},
    )
    task_id = client.create_task(task)
    assert task_id.startswith("job_")
    done = wait(client, task_id, {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"})
    full = client.get_task(task_id, view="FULL")
    assert done.state == "COMPLETE", full.logs
    assert full.name == "Shout Hello" and full.tags == {"workflow": "w1", "step": "shout"}
    assert full.inputs[0].content == "hello tes\n"
    (log,) = full.logs
    assert [e.exit_code for e in log.logs] == [0, 0]
    assert log.logs[0].stdout == "did it\n" and log.logs[1].stdout == "HELLO TES\n"
    assert log.start_time and log.end_time and log.logs[0].start_time
    assert [(o.url, o.path, o.size_bytes) for o in log.outputs] == [
        ("aicc://outputs/result/out.txt", "/data/out.txt", 10)
    ]
    assert any("disk_gb" in line for line in log.system_logs)
    # BASIC leaves out the contents and the executors' output; MINIMAL is the id and state
    basic = client.get_task(task_id, view="BASIC")
    assert basic.inputs[0].content is None and basic.logs[0].logs[0].stdout is None
    assert basic.logs[0].system_logs is None and basic.executors[0].env == {"GREET": "it"}
    minimal = center.http(center.a).get(f"{TES}/tasks/{task_id}").json()
    assert minimal == {"id": task_id, "state": "COMPLETE"}
    # the output is the job's: its outputs archive, and the native API shows the job
    with center.http(center.a) as http:
        job = http.get(f"/api/v1/jobs/{task_id}").json()
        assert job["spec"]["labels"]["aicc.io/tes"] == "1.1.0" and job["name"] == "tes-shout-hello"
        archive = http.get(f"/api/v1/jobs/{task_id}/outputs").content
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(archive))) as tar:
        out = tar.extractfile("result/out.txt")
        assert out is not None and out.read() == b"HELLO TES\n"


def test_s3_inputs_of_the_centers_own_data_sets_are_mounted_not_fetched(
    center: Center, tmp_path: Any
) -> None:
    """`s3://PROJECT/DATASET/VERSION/PATH` (the center's S3 endpoint's own naming) is the data
    set's file, mounted read-only as an `aicc://` input is: a file, and a whole version as a
    DIRECTORY through `latest/`; a staging, and another tenant's bucket, are refused."""
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "reads.txt").write_text("acgt\n")
    with Client(server=center.url, token=center.a.token) as sdk:
        sdk.datasets.push("tes-genome", seed)  # tes-genome@1
        project = sdk.projects.get(center.a.project_id).name
    client = center.client(center.a)
    task_id = client.create_task(
        tes.Task(
            inputs=[
                tes.Input(path="/data/in.txt", url=f"s3://{project}/tes-genome/1/reads.txt"),
                tes.Input(
                    path="/data/all", url=f"s3://{project}/tes-genome/latest/", type="DIRECTORY"
                ),
            ],
            executors=[
                tes.Executor(image="alpine", command=["sh", "-c", "cat /data/in.txt; ls /data/all"])
            ],
        )
    )
    done = wait(client, task_id, {"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR"})
    full = client.get_task(task_id, view="FULL")
    assert done.state == "COMPLETE", full.logs
    assert full.logs[0].logs[0].stdout == "acgt\nreads.txt\n"
    assert full.inputs[0].url == f"s3://{project}/tes-genome/1/reads.txt"  # the task as sent
    with center.http(center.a) as http:
        job = http.get(f"/api/v1/jobs/{task_id}").json()
    assert job["spec"]["datasets"] and all("tes-genome@1" in d for d in job["spec"]["datasets"])
    for who, url, says in (
        (center.a, f"s3://{project}/tes-genome/new/x.txt", "staging"),
        (center.a, f"s3://{project}/tes-genome/one/reads.txt", "s3://PROJECT/DATASET/VERSION/PATH"),
        (center.b, f"s3://{center.a.project_id}/tes-genome/1/reads.txt", "no bucket"),
    ):
        body = {"executors": [{"image": "alpine", "command": ["true"]}],
                "inputs": [{"path": "/data/x", "url": url}]}  # fmt: skip
        with center.http(who) as http:
            got = http.post(f"{TES}/tasks", json=body)
        assert got.status_code == 400 and says in got.json()["msg"], got.text


def test_list_views_paging_filters_and_cancel(center: Center) -> None:
    client = center.client(center.a)
    sleeper = tes.Task(
        name="sleeper",
        executors=[tes.Executor(image="busybox", command=["sleep", "60"])],
        tags={"kind": "slow"},
    )
    ids = [client.create_task(sleeper) for _ in range(3)]
    listed = client.list_tasks(view="MINIMAL", page_size=2)
    assert [t.id for t in listed.tasks] == ids[::-1][:2] and listed.next_page_token == ids[1]
    rest = client.list_tasks(view="BASIC", page_size=2, page_token=listed.next_page_token)
    assert rest.tasks[0].id == ids[0] and rest.tasks[0].name == "sleeper"
    with center.http(center.a) as http:
        slow = http.get(f"{TES}/tasks", params={"tag_key": "kind", "tag_value": "slow"}).json()
        assert {t["id"] for t in slow["tasks"]} == set(ids)
        named = http.get(f"{TES}/tasks", params={"name_prefix": "slee", "page_size": 10}).json()
        assert {t["id"] for t in named["tasks"]} == set(ids)
        assert http.get(f"{TES}/tasks", params={"name_prefix": "sleeq"}).json()["tasks"] == []
    for task_id in ids:
        client.cancel_task(task_id)
    for task_id in ids:
        assert wait(client, task_id, {"CANCELED"}).state == "CANCELED"
    client.cancel_task(ids[0])  # an ended task: left as it is
    with center.http(center.a) as http:
        canceled = http.get(f"{TES}/tasks", params={"state": "CANCELED"}).json()["tasks"]
        assert set(ids) <= {t["id"] for t in canceled}
        assert all(t["state"] == "CANCELED" for t in canceled)


def test_another_tenant_gets_404_and_an_empty_list(center: Center) -> None:
    a, b = center.client(center.a), center.client(center.b)
    task_id = a.create_task(
        tes.Task(name="a-secret", executors=[tes.Executor(image="alpine", command=["true"])])
    )
    with center.http(center.b) as http:
        for method, path in (("GET", f"/tasks/{task_id}"), ("POST", f"/tasks/{task_id}:cancel")):
            got = http.request(method, f"{TES}{path}", params={"view": "FULL"})
            assert got.status_code == 404, got.text
            assert got.json() == {
                "msg": f"task {task_id} not found",
                "status_code": 404,
                "detail": f"task {task_id} not found",
            }
        assert http.get(f"{TES}/tasks", params={"view": "FULL"}).json() == {"tasks": []}
    assert all(t.id != task_id for t in b.list_tasks(view="FULL").tasks)
    # py-tes tries its other paths after a 404; B never learns A's task exists
    with pytest.raises(requests.HTTPError):
        b.get_task(task_id, view="FULL")
    # nor may B run a task in A's project
    with center.http(center.b) as http:
        body = {
            "executors": [{"image": "alpine", "command": ["true"]}],
            "resources": {"backend_parameters": {"aicc_project": center.a.project_id}},
        }
        assert http.post(f"{TES}/tasks", json=body).status_code == 404
    assert a.get_task(task_id).name == "a-secret"


REFUSED: list[tuple[dict[str, Any], str]] = [
    ({"executors": []}, "executors"),
    ({"executors": [{"image": "alpine", "command": ["true"]}], "unknown": 1}, "unknown"),
    (
        {
            "executors": [{"image": "alpine", "command": ["true"]}],
            "resources": {
                "backend_parameters": {"VmSize": "big"},
                "backend_parameters_strict": True,
            },
        },
        "VmSize unknown to AICC",
    ),
    (
        {
            "executors": [{"image": "alpine", "command": ["true"]}],
            "inputs": [{"path": "/data/x", "url": "s3://bucket/x"}],
        },
        "s3://PROJECT/DATASET/VERSION/PATH",
    ),
    (
        {
            "executors": [{"image": "alpine", "command": ["true"]}],
            "inputs": [{"path": "/data/x", "url": "file:///etc/passwd"}],
        },
        "file://",
    ),
    (
        {
            "executors": [{"image": "alpine", "command": ["true"]}],
            "inputs": [{"path": "/data/x", "url": "https://example.com/x"}],
        },
        "egress: none",
    ),
    (
        {
            "executors": [{"image": "alpine", "command": ["true"]}],
            "outputs": [{"path": "/data/x", "url": "s3://bucket/x"}],
        },
        "aicc://outputs/NAME",
    ),
    ({"executors": [{"image": "quay.io/org/tool:1", "command": ["true"]}], "name": "x"}, "image"),
    (
        {
            "executors": [
                {"image": "localhost/one:1", "command": ["true"]},
                {"image": "localhost/two:1", "command": ["true"]},
            ]
        },
        "one image",
    ),
    (
        {"executors": [{"image": "alpine", "command": ["true"], "env": {"AICC_JOB_ID": "x"}}]},
        "set by AICC",
    ),
    (
        {
            "executors": [{"image": "alpine", "command": ["true"]}],
            "resources": {"backend_parameters": {"aicc_accelerator": "H9000"}},
        },
        "aicc_accelerator",
    ),
    (
        {"executors": [{"image": "alpine", "command": ["true"]}], "resources": {"ram_gb": 1e308}},
        "ram_gb",
    ),
    ({"executors": [{"image": "alpine", "command": ["a\u0000b"]}]}, "NUL"),
    ({"executors": [{"image": "alpine", "command": ["true"], "workdir": "rel"}]}, "absolute"),
]


@pytest.mark.parametrize(("body", "says"), REFUSED)
def test_what_aicc_will_not_run_is_a_400_in_tes_shape(
    center: Center, body: dict[str, Any], says: str
) -> None:
    with center.http(center.a) as http:
        got = http.post(f"{TES}/tasks", json=body)
    assert got.status_code == 400, got.text
    answer = got.json()
    assert answer["status_code"] == 400 and says in answer["msg"], answer
    assert set(answer) == {"msg", "status_code", "detail"}


def test_the_real_client_sees_a_refusal_as_an_http_error(center: Center) -> None:
    client = center.client(center.a)
    task = tes.Task(
        executors=[tes.Executor(image="alpine", command=["true"])],
        resources=tes.Resources(
            backend_parameters={"INVALID": "x"}, backend_parameters_strict=True
        ),
    )
    with pytest.raises(requests.HTTPError) as refused:
        client.create_task(task)
    assert refused.value.response.status_code == 400
    assert "INVALID" in refused.value.response.json()["msg"]
    # not strict: the task runs, the unknown key is neither kept nor answered, and said so
    task.resources.backend_parameters_strict = False
    task_id = client.create_task(task)
    full = client.get_task(task_id, view="FULL")
    assert full.resources.backend_parameters is None
    assert any("INVALID" in line for line in full.logs[0].system_logs)
    with center.http(center.a) as http:
        unauth = httpx.get(f"{center.url}{TES}/tasks")
        assert unauth.status_code == 401 and unauth.json()["status_code"] == 401
        assert unauth.headers["www-authenticate"] == "Bearer"
        assert http.get(f"{TES}/tasks", params={"view": "ALL"}).status_code == 400
        assert http.get(f"{TES}/tasks", params={"page_size": 4096}).status_code == 400


def test_a_failing_executor_is_executor_error_and_a_missing_output_system_error(
    center: Center,
) -> None:
    client = center.client(center.a)
    failing = client.create_task(
        tes.Task(
            executors=[
                tes.Executor(image="alpine", command=["sh", "-c", "echo oops >&2; exit 3"]),
                tes.Executor(image="alpine", command=["echo", "never"]),
            ]
        )
    )
    missing = client.create_task(
        tes.Task(
            executors=[tes.Executor(image="alpine", command=["true"])],
            outputs=[tes.Output(path="/data/nothing", url="aicc://outputs/nothing")],
        )
    )
    assert wait(client, failing, {"EXECUTOR_ERROR", "SYSTEM_ERROR", "COMPLETE"}).state == (
        "EXECUTOR_ERROR"
    )
    full = client.get_task(failing, view="FULL")
    assert [(e.exit_code, e.stderr) for e in full.logs[0].logs] == [(3, "oops\n")]
    assert wait(client, missing, {"EXECUTOR_ERROR", "SYSTEM_ERROR", "COMPLETE"}).state == (
        "SYSTEM_ERROR"
    )
    lines = client.get_task(missing, view="FULL").logs[0].system_logs
    assert any("/data/nothing is not there" in line for line in lines)


def test_a_token_scoped_to_jobs_creates_tasks_and_a_read_one_only_reads(center: Center) -> None:
    task = {"executors": [{"image": "alpine", "command": ["true"]}]}
    with center.http(center.a) as http:
        scoped = {
            scope: http.post("/api/v1/tokens", json={"name": scope, "scopes": [scope]}).json()
            for scope in ("jobs", "read")
        }
    jobs = {"Authorization": f"Bearer {scoped['jobs']['secret']}"}
    read = {"Authorization": f"Bearer {scoped['read']['secret']}"}
    with httpx.Client(base_url=center.url, timeout=30) as http:
        made = http.post(f"{TES}/tasks", json=task, headers=jobs)
        assert made.status_code == 200, made.text
        refused = http.post(f"{TES}/tasks", json=task, headers=read)
        assert refused.status_code == 403 and "`jobs`" in refused.json()["msg"]
        assert http.get(f"{TES}/tasks/{made.json()['id']}", headers=read).status_code == 200


def test_a_viewer_reads_but_submits_nothing(center: Center) -> None:
    viewer = make_tenant(center.admin, "tes-viewer", role="viewer")
    with center.http(viewer) as http:
        refused = http.post(
            f"{TES}/tasks", json={"executors": [{"image": "alpine", "command": []}]}
        )
        assert refused.status_code == 400  # the body first: an executor runs a command
        task = {"executors": [{"image": "alpine", "command": ["true"]}]}
        refused = http.post(f"{TES}/tasks", json=task)
        assert refused.status_code == 403, refused.text
        assert refused.json()["msg"] == "viewers cannot submit tasks"
        assert http.get(f"{TES}/tasks").json() == {"tasks": []}
