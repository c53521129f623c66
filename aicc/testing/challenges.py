"""A team's model for the challenge tests (issue 41): a `predict.py`, called as a template's
model's is (`--model`, `--input`, `--output`), written into its outputs by one of the team's
jobs and registered as a model version."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from aicc.testing.jobs import submit, wait_state

# Answers "yes" in column `answer_predicted` for every row it is given.
SAYS_YES = """
import argparse, csv
parser = argparse.ArgumentParser()
for name in ("--model", "--input", "--output"):
    parser.add_argument(name)
args = parser.parse_args()
rows = list(csv.DictReader(open(args.input)))
with open(args.output, "w") as out:
    out.write("aicc_row,answer_predicted\\n")
    for row in rows:
        out.write(row["aicc_row"] + ",yes\\n")
"""


def writer(script: str) -> dict[str, Any]:
    """The spec of a job that writes `script` as its outputs' `predict.py`."""
    encoded = base64.b64encode(script.encode()).decode()
    command = (
        "import base64, os; open(os.environ['AICC_OUTPUT_DIR'] + '/predict.py', 'w')"
        f".write(base64.b64decode('{encoded}').decode())"
    )
    return {"command": ["python", "-c", command], "resources": {"cpu": 0.2, "memory": "256MiB"}}


def registered(team: httpx.Client, job_id: str, name: str) -> None:
    """Model `name`'s next version from the team's writer job `job_id`, once it succeeded."""
    assert wait_state(team, job_id, {"succeeded", "failed"}, 120)["state"] == "succeeded"
    made = team.post(f"/api/v1/models/{name}/versions", json={"job_id": job_id})
    assert made.status_code == 201, made.text


def model(team: httpx.Client, name: str, script: str = SAYS_YES) -> None:
    """A model version of the team's whose predict.py is `script`."""
    registered(team, submit(team, writer(script))["id"], name)
