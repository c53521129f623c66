"""The notebook proxy without a browser: the owner's session reaches JupyterLab's API and a
kernel's websocket through `/notebooks/{job_id}/`, the kernel sees the project's data set
read-only and the persistent home as $HOME; another member of the project, another tenant and a
signed-out caller do not get in, nor does a cross-site request; and the notebooks page's forms."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from portal_support import Person, csrf_of, signed_in
from starlette.testclient import WebSocketDenialResponse

from aicc.api.state import AppState
from aicc.services.jobs import notebooks
from aicc.testing.datasets import push
from aicc.testing.polling import wait

pytest.importorskip("jupyterlab", reason="pip install -e '.[notebooks]'")

CODE = (
    "import json, os\n"
    "data = os.environ['AICC_DATA_DIR']\n"
    "home = os.environ['HOME']\n"
    "print(json.dumps([sorted(os.listdir(data + '/shelf')), home.split('/')[-3:]]))\n"
    "try:\n"
    "    open(data + '/shelf/books.csv', 'a')\n"
    "except OSError as err:\n"
    "    print('read-only', err.errno)\n"
)


def execute(socket: Any, code: str) -> str:
    """Run `code` on the kernel over its channels (Jupyter's JSON protocol); its stdout."""
    msg_id = uuid.uuid4().hex
    socket.send_text(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "msg_type": "execute_request",
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False},
                "channel": "shell",
                "buffers": [],
            }
        )
    )
    out = []
    while True:
        message = json.loads(socket.receive_text())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream":
            out.append(message["content"]["text"])
        if message["msg_type"] == "error":
            raise AssertionError(message["content"])
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            return "".join(out)


def test_the_owner_reaches_a_kernel_through_the_server_and_nobody_else_does(
    site: tuple[TestClient, AppState], alice: Person, bob: Person
) -> None:
    api, state = site
    push(api, "shelf", {"books.csv": b"title\nDream of the Red Chamber\n"}, alice.headers)
    made = api.post(
        "/api/v1/notebooks",
        json={"name": "reading", "resources": {"memory": "2Gi"}},
        headers=alice.headers,
    )
    assert made.status_code == 201, made.text
    job_id = made.json()["job_id"]
    owner = signed_in(api, alice)
    base = f"/notebooks/{job_id}"

    def status() -> dict[str, Any] | None:
        answer = owner.get(f"{base}/api/status")
        return answer.json() if answer.status_code == 200 else None

    assert "last_activity" in wait("JupyterLab through the proxy", status, timeout=90)
    # JupyterLab prints its address; its token is not in the job's log, which the project's
    # readers read (services/jobs/logs.py masks it, should a JupyterLab print it)
    logs = f"/api/v1/jobs/{job_id}/logs"
    printed = api.get(logs, params={"stream": "stderr"}, headers=alice.headers).text
    assert "is running at" in printed
    assert notebooks.token(state.sealer, job_id, 0) not in printed
    # a file name that needs escapes reaches JupyterLab as the browser escaped it
    note = {"type": "file", "format": "text", "content": "50% done\n"}
    saved = owner.put(f"{base}/api/contents/my%20notes%25.txt", json=note)
    assert saved.status_code in (200, 201), saved.text
    listing = owner.get(f"{base}/api/contents").json()["content"]
    assert "my notes%.txt" in [item["name"] for item in listing]
    kernel = owner.post(f"{base}/api/kernels", json={"name": "python3"})
    assert kernel.status_code == 201, kernel.text
    channels = f"{base}/api/kernels/{kernel.json()['id']}/channels"
    with owner.websocket_connect(channels) as socket:
        printed = execute(socket, CODE)
    # the data set, read-only; the kernel in the home, `homes/PROJECT/USER`
    listed, where = json.loads(printed.splitlines()[0])
    assert listed == ["books.csv"]
    assert where == ["homes", alice.project_id, alice.user_id]
    assert printed.splitlines()[1] == "read-only 30"  # EROFS: mounted read-only

    # A colleague in the same project, another tenant, nobody signed in: not this notebook.
    colleague = api.post(
        "/api/v1/users",
        json={"name": f"{alice.name}-mate", "role": "member", "org_id": alice.org_id},
    ).json()
    api.post(f"/api/v1/projects/{alice.project_id}/members", json={"user_id": colleague["id"]})
    mate = TestClient(api.app)
    token = api.post("/api/v1/tokens", json={"name": "t", "user_id": colleague["id"]}).json()
    mate.get("/sign-in")
    form = {"csrf": mate.cookies.get("aicc_csrf") or "", "token": token["secret"]}
    assert mate.post("/sign-in", data=form, follow_redirects=False).status_code == 303
    for stranger in (mate, signed_in(api, bob)):
        assert stranger.get(f"{base}/api/status").status_code == 404
        assert stranger.get(f"{base}/lab").status_code == 404
        assert stranger.post(f"{base}/api/kernels", json={}).status_code == 404
        with pytest.raises(WebSocketDenialResponse) as denied, stranger.websocket_connect(channels):
            pass
        assert denied.value.status_code == 404
        # nor through the API: the notebook is its owner's alone
        assert stranger.get(f"/api/v1/notebooks/{made.json()['id']}").status_code in (401, 404)
    anonymous = TestClient(api.app)
    assert anonymous.get(f"{base}/lab", follow_redirects=False).status_code == 303
    assert anonymous.get(f"{base}/api/status", follow_redirects=False).status_code == 303
    assert anonymous.post(f"{base}/api/kernels", json={}).status_code == 401
    # The owner's browser, made to send a request by another site's page: refused.
    evil = {"Origin": "https://evil.example"}
    assert owner.post(f"{base}/api/kernels", json={}, headers=evil).status_code == 403
    with (
        pytest.raises(WebSocketDenialResponse) as denied,
        owner.websocket_connect(channels, headers=evil),
    ):
        pass
    assert denied.value.status_code == 403
    assert api.delete("/api/v1/notebooks/reading", headers=alice.headers).status_code == 204


def test_the_notebooks_page_creates_one_and_refuses_a_bad_name(
    site: tuple[TestClient, AppState], alice: Person
) -> None:
    api, _ = site
    page = signed_in(api, alice)
    form = {"csrf": csrf_of(page, "/notebooks"), "name": "Bad Name", "cpu": "1"}
    form |= {"memory": "2Gi", "gpus": "0", "idle_minutes": "30", "project": alice.project_id}
    refused = page.post("/notebooks", data=form)
    assert refused.status_code == 422 and "Notebook" in refused.text
    form["name"] = "draft"
    form["idle_minutes"] = "0.5"
    made = page.post("/notebooks", data=form, follow_redirects=False)
    assert made.status_code == 303, made.text
    listed = page.get(made.headers["location"])
    assert "draft" in listed.text and "Notebook draft was created" in listed.text
    found = api.get("/api/v1/notebooks/draft", headers=alice.headers).json()
    assert found["idle_timeout_s"] == 30
    stop = {"csrf": form["csrf"], "notebook": found["id"], "action": "delete"}
    assert page.post("/notebooks/act", data=stop, follow_redirects=False).status_code == 303
    assert api.get("/api/v1/notebooks/draft", headers=alice.headers).status_code == 404
