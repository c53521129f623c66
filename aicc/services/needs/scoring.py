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
"""

from __future__ import annotations

import io
import math
import shlex
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc.core import scoring
from aicc.core.jobspec import JobSpec
from aicc.core.tenancy import Principal, Role
from aicc.executors import jobfiles
from aicc.services.common import Conflict, Invalid, NotFound, utcnow
from aicc.services.data import chunks, datasets, inspect, uploads
from aicc.services.jobs import jobs, transitions
from aicc.services.models import outputs, predictions
from aicc.services.needs import notices
from aicc.services.tenancy import tenancy
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables import (
    ChallengeRow,
    ChallengeSubmissionRow,
    DatasetRow,
    DatasetVersionRow,
    JobOutputRow,
    JobRow,
    NeedRow,
    ProjectRow,
    UserRow,
)

KIND = "challenge"  # the JobOutputRow kind
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
    admin = session.scalar(
        select(UserRow)
        .where(UserRow.role == Role.ADMIN.value)
        .order_by(UserRow.created_at, UserRow.id)
        .limit(1)
    )
    if admin is None:
        raise Conflict("this center has no admin to run scoring jobs as")
    who = tenancy.principal_of(session, admin)
    try:
        tenancy.resolve_project(session, who, PROJECT)
    except NotFound:
        tenancy.create_project(session, who, name=PROJECT, org_id=who.org_id)
    return who


def hidden_table(
    session: Session,
    who: Principal,
    store: ChunkStore,
    ref: str,
    table: str | None,
    target: str,
    *,
    project: str,
) -> tuple[DatasetRow, DatasetVersionRow, str, pa.Table]:
    """The poster's hidden set: its row, version, the table holding `target` (`table`, or the
    largest that has it) and that table read whole. Public sets are refused: their answers
    would be anyone's."""
    row, version = datasets.version_row(session, who, ref, project=project)
    if row.visibility == "public":
        raise Invalid(
            "hidden: {name} is public, so its answers are anyone's; a hidden set is private",
            name=row.name,
        )
    described: dict[str, Any] = dict(version.tables or {})
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
    manifest = datasets.manifest_of(version)
    entry = manifest.find(chosen)
    source = chunks.reader(session, store, [c.digest for c in entry.chunks] if entry else [])
    read = inspect.whole_table(source, manifest, chosen, MAX_HIDDEN_BYTES)
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
    prj = session.get(ProjectRow, project.id)
    assert prj is not None
    return f"{datasets.qualified(session, prj)}/{name}@{committed.version.number}"


def start(
    session: Session,
    challenge: ChallengeRow,
    submission: ChallengeSubmissionRow,
    model: tuple[DatasetRow, DatasetVersionRow],
    *,
    limits: jobs.SubmitLimits,
) -> str:
    """Submit the scoring job of `submission` as the center; its id."""
    center = scorer(session)
    model_row, model_version = model
    predictions.check_predicts(session, model_row, model_version)
    inputs_name = challenge.inputs.rsplit("/", 1)[-1].split("@")[0]
    prj = session.get(ProjectRow, model_row.project_id)
    assert prj is not None
    model_ref = f"{datasets.qualified(session, prj)}/{model_row.name}@{model_version.number}"
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
    session.add(
        JobOutputRow(
            job_id=job.id,
            kind=KIND,
            target_id=submission.id,
            lineage={"challenge": challenge.id},
            state="pending",
            result="",
            created_at=utcnow(),
        )
    )
    session.flush()
    return job.id


def ingest(
    session: Session, store: ChunkStore, who: Principal, job: JobRow, out: JobOutputRow, root: Path
) -> str:
    """Score a finished job's predictions (`outputs.deliver` calls it when it succeeded)."""
    submission = session.get(ChallengeSubmissionRow, out.target_id)
    challenge = session.get(ChallengeRow, submission.challenge_id) if submission else None
    if submission is None or challenge is None:
        raise NotFound("the submission is gone")
    try:
        public, private = _score(session, store, challenge, root)
    except (scoring.ScoreError, Invalid, jobfiles.Refused, pa.ArrowException) as err:
        _fail(session, submission, str(err))
        raise Invalid("{problem}", problem=str(err)) from None
    submission.state, submission.scored_at = "scored", utcnow()
    submission.public_score = None if math.isnan(public) else public
    submission.private_score = None if math.isnan(private) else private
    notices.scored(session, submission)
    return f"scored {public:.6g} (public)"


def failed(session: Session, job: JobRow, out: JobOutputRow) -> None:
    """The scoring job made no score: the submission fails with why."""
    submission = session.get(ChallengeSubmissionRow, out.target_id)
    if submission is None or submission.state != "scoring":
        return
    why = f"the scoring job ended {job.state}"
    if job.message:
        why += f": {job.message}"
    if job.state == "succeeded":
        why = out.result
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
    got = pa_csv.read_csv(io.BytesIO(data))
    column = _prediction_column(got.column_names, challenge.target)
    version = session.get(DatasetVersionRow, challenge.hidden_version_id)
    if version is None:
        raise scoring.ScoreError("the challenge's hidden set is gone")
    manifest = datasets.manifest_of(version)
    entry = manifest.find(challenge.hidden_table)
    source = chunks.reader(session, store, [c.digest for c in entry.chunks] if entry else [])
    hidden = inspect.whole_table(source, manifest, challenge.hidden_table, MAX_HIDDEN_BYTES)
    answers = hidden.column(challenge.target).to_pylist()
    said = got.column(column).to_pylist()
    if ROW in got.column_names:
        numbers = got.column(ROW).cast(pa.int64(), safe=False)
        if pc.any(pc.is_null(numbers)).as_py():
            raise scoring.ScoreError(f"a row of {OUTPUT} has no {ROW}")
        by_row: dict[int, Any] = {}
        for number, value in zip(numbers.to_pylist(), said, strict=True):
            if number in by_row:
                raise scoring.ScoreError(f"row {number} is predicted twice")
            by_row[number] = value
        said = [by_row.get(i) for i in range(len(answers))]
    public = scoring.public_rows(challenge.id, len(answers), challenge.public_pct)
    return scoring.score(_metric(session, challenge), answers, said, public)


def _metric(session: Session, challenge: ChallengeRow) -> str:
    need = session.get(NeedRow, challenge.need_id)
    assert need is not None
    return need.metric


def _prediction_column(names: list[str], target: str) -> str:
    """Where the model put its answer: `<target>_predicted` (the templates' predict.py),
    `prediction`, or the target's own name."""
    for name in (f"{target}_predicted", "prediction", target):
        if name in names:
            return name
    raise scoring.ScoreError(
        f"{OUTPUT} has no column {target}_predicted (nor prediction, nor {target})"
    )


outputs.register(KIND, ingest, failed)
