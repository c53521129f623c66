"""`aicc notify channel add|list|get|test|rm` and `aicc notify list|read` against a real server
over HTTP: tables and `--json` (the API's JSON), a test message a real receiver gets (queued on
the server, its result waited for: sent, or failed with a short reason), a bad URL refused in
one line, and the inbox with its unread count."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from typer.testing import CliRunner

from aicc.cli.main import app
from aicc.testing.servers import over_http


def test_notify_from_the_cli(tmp_path: Path) -> None:
    got: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            refuse = self.path.endswith("/refuse")
            self.send_response(503 if refuse else 200)
            self.end_headers()
            self.wfile.write(b"the receiver's own words" if refuse else b"")

        def log_message(self, *args: Any) -> None:
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    try:
        notify = {"private_hosts": ["127.0.0.1"]}  # the test's receiver
        # the loops run: their deliveries' thread sends the test messages
        with over_http(tmp_path / "home", notify=notify) as (url, token, _state):
            env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}

            def run(*args: str) -> Any:
                return CliRunner().invoke(app, list(args), env=env)

            add = ["notify", "channel", "add", "webhook", hook, "--name", "ops", "-e", "quota.*"]
            made = run(*add, "--secret", "sig-key", "--json")
            assert made.exit_code == 0, made.output
            channel = json.loads(made.stdout)
            assert channel["events"] == ["quota.*"] and channel["has_secret"] is True
            assert "sig-key" not in made.stdout
            said = run(
                "notify", "channel", "add", "email", "ops@example.com", "--project", "default"
            )
            assert said.exit_code == 0 and "created channel email" in said.stderr

            listed = json.loads(run("notify", "channel", "list", "--json").stdout)["items"]
            assert [(c["name"], c["kind"]) for c in listed] == [
                ("ops", "webhook"),
                ("email", "email"),
            ]
            table = run("notify", "channel", "list").stdout
            assert "(yours)" in table and hook in table and "sig-key" not in table

            tested = run("notify", "channel", "test", channel["id"])
            assert tested.exit_code == 0 and "test message sent" in tested.stderr, tested.output
            assert [m["event"]["kind"] for m in got] == ["test"]
            tested = json.loads(run("notify", "channel", "test", channel["id"], "--json").stdout)
            assert (tested["state"], tested["ok"], tested["channel_id"]) == (
                "sent",
                True,
                channel["id"],
            )
            refusing = ["notify", "channel", "add", "webhook", hook + "/refuse", "--name", "no"]
            refuser = json.loads(run(*refusing, "-e", "none.*", "--json").stdout)
            failed = run("notify", "channel", "test", refuser["id"])
            assert "failed:" in failed.stderr and "HTTP 503" in failed.stderr, failed.output
            assert "own words" not in failed.output
            queued = json.loads(
                run("notify", "channel", "test", refuser["id"], "--wait", "0", "--json").stdout
            )
            assert queued["state"] in ("queued", "sending", "failed"), queued
            assert run("notify", "channel", "rm", refuser["id"]).exit_code == 0

            bad = run("notify", "channel", "add", "webhook", "http://169.254.169.254/x")
            assert bad.exit_code == 1 and "link-local" in bad.stderr

            inbox = json.loads(run("notify", "list", "--json").stdout)
            assert inbox == {"items": [], "unread": 0, "next_cursor": None}

            # a cause: the project's quota set, an event in the inbox
            projects = httpx.get(
                url + "/api/v1/projects", headers={"Authorization": f"Bearer {token}"}
            ).json()["items"]
            httpx.put(
                url + f"/api/v1/projects/{projects[0]['id']}/quota",
                json={"max": {"cpu_milli": 8000}},
                headers={"Authorization": f"Bearer {token}"},
            ).raise_for_status()
            inbox = json.loads(run("notify", "list", "--unread", "--json").stdout)
            assert inbox["unread"] == 1 and [i["kind"] for i in inbox["items"]] == ["quota.changed"]
            shown = run("notify", "list")
            assert "1 unread" in shown.stdout and "quota.changed" in shown.stdout
            read = run("notify", "read")
            assert read.exit_code == 0 and "0 unread left" in read.stderr
            assert json.loads(run("notify", "list", "--unread", "--json").stdout)["items"] == []

            gone = run("notify", "channel", "rm", channel["id"])
            assert gone.exit_code == 0 and f"channel {channel['id']} deleted" in gone.stderr
            missing = run("notify", "channel", "get", channel["id"])
            assert missing.exit_code == 1 and "not found" in missing.stderr
    finally:
        receiver.shutdown()
        receiver.server_close()
