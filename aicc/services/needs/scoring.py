"""How AICC scores a challenge's submissions on the hidden set, so that no team and no
submitted model ever holds the hidden answers.

- When a challenge is made, the poster's hidden table is split on the server: its inputs (every
  column but the target, plus `aicc_row`, the row's number) become a data set of the center's own
  project `challenges` (in the organization of the center's first admin), private; the answers
  stay in the poster's data set, read here alone.
- A submission runs as a job of that project, as the center (billed to it, seen by its admins
  only: neither the team nor the poster sees the job, its logs or its outputs). It mounts the
  team's model version and the inputs, runs the model's own `predict.py` with no network
  (`egress: none`) for at most the challenge's `max_runtime_s`, and writes
  `predictions.csv`.
- When the job succeeds, its predictions are read through the guard of job-written files
  (a link, a FIFO or a file over the cap is refused) and scored here with `core/scoring.py`'s
  metric against the answers, row for row by `aicc_row`, on the fixed public and private split.
  A job that fails, runs out of time or writes what cannot be scored fails the submission with
  the reason.
- The reason is the one thing of a failed run that reaches the team, and the model wrote what it
  is about after reading the hidden inputs (issue 57). So it is in AICC's words alone: what to
  fix by column names the challenge gave, counts and the number of the first row at fault; never
  a value the model wrote, a library's error text (Arrow's quotes the rows around a bad one),
  or the job's exit code or signal (a byte the model chooses), only what kind of end it was.
"""

from __future__ import annotations

import csv
import io
import math
import shlex
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pa_csv
from sqlalchemy.orm import Session

from aicc.core import scoring
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal
from aicc.executors import jobfiles
from aicc.services.common import Conflict, Invalid, NotFound, ServiceError, utcnow
from aicc.services.data import chunks, datasets, lookups, tablefiles, uploads
from aicc.services.data.views import DatasetRef
from aicc.services.jobs import jobs, transitions
from aicc.services.jobs.views import Job
from aicc.services.models import outputs, predictions
from aicc.services.needs import notices
from aicc.services.tenancy import directory, tenancy
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.needs import ChallengeRow, ChallengeSubmissionRow, NeedRow

KIND = "challenge"  # the kind of its outputs (`models.outputs`)
PROJECT = "challenges"  # the center's project where scoring runs
ROW = "aicc_row"
INPUTS = "inputs.csv"
OUTPUT = "predictions.csv"
MAX_HIDDEN_BYTES = 256 * 1024 * 1024  # a hidden table read whole on the server
MAX_PREDICTIONS_BYTES = 256 * 1024 * 1024
RESOURCES = {"cpu": 1, "memory": "2GiB"}


def scorer(session: Session) -> Principal:
    """The center, as scoring jobs run: its first admin, in its project `challenges` (made on
    first use)."""
    who = tenancy.first_admin(session)
    if who is None:
        raise Conflict("this center has no admin to run scoring jobs as")
    try:
        tenancy.resolve_project(session, who, PROJECT)
    except NotFound:
        tenancy.create_project(session, who, name=PROJECT, org_id=who.org_id)
    return who


def _hidden_table(
    session: Session,
    who: Principal,
    store: ChunkStore,
    ref: str,
    table: str | None,
    target: str,
    *,
    project: str,
) -> tuple[DatasetRef, lookups.Version, str, pa.Table]:
    """The poster's hidden set: the set, its version, the table holding `target` (`table`, or the
    largest that has it) and that table read whole. Public sets are refused: their answers
    would be anyone's."""
    row, version = lookups.find(session, who, ref, project=project)
    if row.visibility == "public":
        raise Invalid(
            "hidden: {name} is public, so its answers are anyone's; a hidden set is private",
            name=row.name,
        )
    described: dict[str, Any] = dict(version.tables)
    if not described:
        raise Invalid("hidden: {ref} has no table (CSV, Parquet, JSON or JSON lines)", ref=ref)
    if table is not None and table not in described:
        raise Invalid("table: {ref} has no table {table}", ref=ref, table=table)

    def has_target(path: str) -> bool:
        return target in {str(c.get("name")) for c in described[path].get("columns") or ()}

    candidates = (
        [table] if table else sorted(described, key=lambda p: -int(described[p].get("rows") or 0))
    )
    chosen = next((p for p in candidates if has_target(p)), None)
    if chosen is None:
        raise Invalid(
            "target: no column {target} in {where}",
            target=target,
            where=table or f"any table of {ref}",
        )
    manifest = version.manifest
    entry = manifest.find(chosen)
    source = chunks.reader(session, store, [c.digest for c in entry.chunks] if entry else [])
    read = tablefiles.whole_table(source, manifest, chosen, MAX_HIDDEN_BYTES)
    if read.num_rows < 2:
        raise Invalid("hidden: {ref} has fewer than 2 rows to score on", ref=ref)
    if ROW in read.column_names:
        raise Invalid("hidden: a column is named {row}, which AICC numbers the rows with", row=ROW)
    return row, version, chosen, read


def make_inputs(
    session: Session, store: ChunkStore, name: str, table: pa.Table, target: str, *, message: str
) -> str:
    """The hidden table without its target, each row numbered, as data set `name` of the
    center's project; its ref as a job mounts it (ORG/PROJECT/NAME@N)."""
    center = scorer(session)
    inputs = table.drop_columns([target]).append_column(ROW, pa.array(range(table.num_rows)))
    buffer = io.BytesIO()
    pa_csv.write_csv(inputs, buffer)
    datasets.create_if_missing(session, center, name, PROJECT)
    committed = uploads.ingest(
        session, center, store, name, PROJECT, [(INPUTS, buffer.getvalue())], message
    )
    project = tenancy.resolve_project(session, center, PROJECT)
    prj = directory.project(session, project.id)
    assert prj is not None
    return f"{datasets.qualified(session, prj)}/{name}@{committed.version.number}"


def start(
    session: Session,
    challenge: ChallengeRow,
    submission: ChallengeSubmissionRow,
    model: tuple[DatasetRef, lookups.Version],
    *,
    limits: jobs.SubmitLimits,
) -> str:
    """Submit the scoring job of `submission` as the center; its id."""
    center = scorer(session)
    model_row, model_version = model
    predictions.check_predicts(
        session,
        ref=f"{model_row.name}@{model_version.number}",
        manifest=model_version.manifest,
        lineage=model_version.lineage,
    )
    inputs_name = challenge.inputs.rsplit("/", 1)[-1].split("@")[0]
    model_ref = f"{model_row.project}/{model_row.name}@{model_version.number}"
    command = (
        f'cd "$AICC_DATA_DIR"/{shlex.quote(model_row.name)} && python {predictions.SCRIPT} '
        f'--model model --input "$AICC_DATA_DIR"/{shlex.quote(inputs_name)}/{INPUTS} '
        f'--output "$AICC_OUTPUT_DIR"/{OUTPUT}'
    )
    spec = JobSpec.model_validate(
        {
            "name": f"score-{submission.id[-12:].lower()}",
            "kind": "infer",
            "project": PROJECT,
            "command": command,
            "datasets": [model_ref, challenge.inputs],
            "env": {"PYTHONDONTWRITEBYTECODE": "1"},
            "resources": RESOURCES,
            "max_runtime_s": challenge.max_runtime_s,
            "labels": {
                "aicc.io/challenge": challenge.id,
                "aicc.io/submission": submission.id,
                transitions.QUIET_LABEL: "none",  # `challenge.scored`/`.failed` tell the team
            },
            "egress": "none",  # the model reads the hidden inputs: it sends nothing out
        }
    )
    job, _ = jobs.submit(
        session, center, spec, idempotency_key=f"score:{submission.id}", limits=limits
    )
    outputs.expect(
        session,
        job_id=job.id,
        kind=KIND,
        target_id=submission.id,
        lineage={"challenge": challenge.id},
    )
    session.flush()
    return job.id


def ingest(
    session: Session, store: ChunkStore, who: Principal, job: Job, out: outputs.Output, root: Path
) -> str:
    """Score a finished job's predictions (`outputs.deliver` calls it when it succeeded)."""
    submission = session.get(ChallengeSubmissionRow, out.target_id)
    challenge = session.get(ChallengeRow, submission.challenge_id) if submission else None
    if submission is None or challenge is None:
        raise NotFound("the submission is gone")
    try:
        public, private = _score(session, store, challenge, root)
    except scoring.ScoreError as err:  # written here and in core/scoring.py: no value in it
        why = str(err)
    except (jobfiles.Refused, OSError):
        why = UNREADABLE
    except (ServiceError, pa.ArrowException, ValueError, TypeError, LookupError, ArithmeticError):
        why = UNSCORABLE  # a library's text, which may quote what the model wrote
    else:
        submission.state, submission.scored_at = "scored", utcnow()
        submission.public_score = None if math.isnan(public) else scoring.rounded(public)
        submission.private_score = None if math.isnan(private) else scoring.rounded(private)
        notices.scored(session, submission)
        return f"scored {submission.public_score} (public)"
    _fail(session, submission, why)
    raise Invalid("{problem}", problem=why)


# What a team reads when the scoring job made no score, by the kind of end (`failed`): fixed
# words, never the job's message (its exit code, its signal) nor what the model printed.
UNREADABLE = f"{OUTPUT} could not be read: write it as a plain file, at most 256 MiB"
UNSCORABLE = (
    f"{OUTPUT} could not be scored: write a CSV table with a header row and one prediction "
    "a row, as the templates' predict.py does"
)
ENDS = {
    "runtime_exceeded": "the model ran past the challenge's max_runtime_s ({seconds} s)",
    "oom_killed": "the model went over the scoring job's memory ({memory})",
    "exit_code": "the model's predict.py failed; run it on the need's public data to see why",
    "signal": "the model's predict.py failed; run it on the need's public data to see why",
}
CANCELLED = "the scoring job was cancelled; submit the model again"
NOT_RUN = "the scoring job could not run ({reason}); submit the model again"


def failed(session: Session, job: Job, out: outputs.Output) -> None:
    """The scoring job made no score: the submission fails with what kind of end it was."""
    submission = session.get(ChallengeSubmissionRow, out.target_id)
    if submission is None or submission.state != "scoring":
        return
    if job.state == "succeeded":  # its predictions could not be reached (`ingest` failed none)
        why = UNREADABLE
    elif job.state == "cancelled":
        why = CANCELLED
    elif job.reason in ENDS:
        challenge = session.get(ChallengeRow, submission.challenge_id)
        seconds = challenge.max_runtime_s if challenge else "?"
        why = ENDS[job.reason].format(seconds=seconds, memory=RESOURCES["memory"])
    else:
        why = NOT_RUN.format(reason=job.reason or job.state)
    _fail(session, submission, why)


def _fail(session: Session, submission: ChallengeSubmissionRow, why: str) -> None:
    """The submission fails with `why`; its submitter is told (`challenge.failed`)."""
    submission.state, submission.error, submission.scored_at = "failed", why[:2000], utcnow()
    notices.scored(session, submission)


def _score(
    session: Session, store: ChunkStore, challenge: ChallengeRow, root: Path
) -> tuple[float, float]:
    """(public, private) of the predictions the job wrote under `root`."""
    try:
        data = jobfiles.JobFiles(root).read_bytes(OUTPUT, MAX_PREDICTIONS_BYTES)
    except FileNotFoundError:
        raise scoring.ScoreError(f"the model wrote no {OUTPUT}") from None
    got = _read_predictions(data)
    column = _prediction_column(got.column_names, challenge.target)
    manifest = lookups.manifest(session, challenge.hidden_version_id)
    if manifest is None:
        raise scoring.ScoreError("the challenge's hidden set is gone")
    entry = manifest.find(challenge.hidden_table)
    source = chunks.reader(session, store, [c.digest for c in entry.chunks] if entry else [])
    hidden = tablefiles.whole_table(source, manifest, challenge.hidden_table, MAX_HIDDEN_BYTES)
    answers = hidden.column(challenge.target).to_pylist()
    said = got.column(column).to_pylist()
    if ROW in got.column_names:
        by_row: dict[int, Any] = {}
        numbers = got.column(ROW).to_pylist()
        for line, (number, value) in enumerate(zip(numbers, said, strict=True), start=1):
            row = _row_number(number, len(answers))
            if row is None:
                raise scoring.ScoreError(
                    f"row {line} of {OUTPUT}: {ROW} is not a whole number "
                    f"from 0 to {len(answers) - 1}"
                )
            if row in by_row:
                raise scoring.ScoreError(f"row {line} of {OUTPUT} predicts {ROW} {row} again")
            by_row[row] = value
        said = [by_row.get(i) for i in range(len(answers))]
    public = scoring.public_rows(
        challenge.id, len(answers), challenge.public_pct, key=challenge.split_key
    )
    return scoring.score(_metric(session, challenge), answers, said, public)


def _row_number(value: Any, rows: int) -> int | None:
    """`aicc_row` as a row of the hidden set (`3` or `3.0`), or None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not value.is_integer():
        return None
    return int(value) if 0 <= value < rows else None


def _read_predictions(data: bytes) -> pa.Table:
    """The model's CSV as a table. What Arrow cannot read is told by the first row whose
    fields do not match the header (Python's csv finds it), or in fixed words: never Arrow's own
    message, which quotes the rows around the bad one."""
    try:
        return pa_csv.read_csv(io.BytesIO(data))
    except pa.ArrowException:
        pass
    try:
        lines = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
        header = next(lines, None)
        if not header:
            raise scoring.ScoreError(f"{OUTPUT} is empty: write a header row, then a row each")
        for number, fields in enumerate(lines, start=1):
            if fields and len(fields) != len(header):
                raise scoring.ScoreError(
                    f"row {number} of {OUTPUT} has {len(fields)} fields, but its header has "
                    f"{len(header)}"
                )
        # a column whose values change type after the first block Arrow typed: all text
        types = {str(name): pa.string() for name in header}
        options = pa_csv.ConvertOptions(column_types=types)
        return pa_csv.read_csv(io.BytesIO(data), convert_options=options)
    except (UnicodeDecodeError, csv.Error, pa.ArrowException):
        raise scoring.ScoreError(UNSCORABLE) from None


def _metric(session: Session, challenge: ChallengeRow) -> str:
    need = session.get(NeedRow, challenge.need_id)
    assert need is not None
    return need.metric


def _prediction_column(names: list[str], target: str) -> str:
    """Where the model put its answer: `<target>_predicted` (the templates' predict.py),
    `prediction`, or the target's own name; named once."""
    for name in (ROW, f"{target}_predicted", "prediction", target):
        if names.count(name) > 1:
            raise scoring.ScoreError(f"{OUTPUT} has two columns {name}")
    for name in (f"{target}_predicted", "prediction", target):
        if name in names:
            return name
    raise scoring.ScoreError(
        f"{OUTPUT} has no column {target}_predicted (nor prediction, nor {target})"
    )


outputs.register(KIND, ingest, failed)
