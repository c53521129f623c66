"""GA4GH TES 1.1 tasks (issue 60): each task is one job of its submitter's project, so it is
authorized, queued, audited (`job.submit`, `job.cancel`), metered and billed as any job is, and
another tenant's task is a 404 because its job is.

`create` translates the task with `core/tes.py` (a refusal is an `Invalid`, which the TES routes
answer 400), ships the runner and the inline contents as the job's working directory, and keeps
the task document beside the job (`TesTaskRow`) for the answers. What the runner wrote under
`$AICC_OUTPUT_DIR/.tes` (each executor's times, exit code and output, a system error) is read
back only through the job-files guard (`logs.refusals`), as anything a job wrote."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from aicc import __version__
from aicc.core import tes as core
from aicc.core.jobspec import ENVIRONMENT_LABEL, JobSpec
from aicc.core.mistakes import first_problem
from aicc.core.states import JobState
from aicc.core.tenancy import Principal, can_write
from aicc.executors import jobfiles
from aicc.executors.base import Executor
from aicc.services.common import Forbidden, Invalid, NotFound, ServiceError, from_row
from aicc.services.data import datasets, objects, s3writes
from aicc.services.images import images
from aicc.services.jobs import jobs, logs, workdirs
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.jobs.views import (
    Job,
    TesCancelled,
    TesCreated,
    TesExecutorLog,
    TesOrganization,
    TesOutputFileLog,
    TesServiceInfo,
    TesServiceType,
    TesTask,
    TesTaskList,
    TesTaskLog,
)
from aicc.services.tenancy import tenancy
from aicc.store.blobs import BlobStore
from aicc.store.tables.jobs import JobRow, TesTaskRow

COMMAND = ["/bin/sh", f"{core.DIR}/run.sh"]
LABEL = "aicc.io/tes"  # on the job: it runs a TES task
_READ = frozenset({"id", "state", "logs", "creation_time"})  # the server's fields of a task
_RECORD_BYTES = 4096  # an executor's record, .tes/N.json
_ENDED = frozenset({"succeeded", "failed", "cancelled"})


def service_info(base_url: str) -> TesServiceInfo:
    """What this TES is; `base_url` is the center's own address as the caller reached it (the
    organization's URL: the center names no other)."""
    base = base_url.rstrip("/")
    return TesServiceInfo(
        id="org.aicc.tes",
        name="AICC Task Execution Service",
        type=TesServiceType(group="org.ga4gh", artifact="tes", version=core.VERSION),
        description="GA4GH TES 1.1 on AICC: each task is an AICC job of the caller's project, "
        "authorized, scheduled, metered and billed as jobs are (docs/interop.md)",
        organization=TesOrganization(name="AICC", url=base),
        documentationUrl=f"{base}/docs",
        environment="aicc",
        version=__version__,
        storage=["aicc://NAME@VERSION/PATH", "aicc://outputs/", "http://", "https://"],
        tesResources_backend_parameters=list(core.BACKEND_PARAMETERS),
    )


def _s3_inputs(session: Session, who: Principal, task: core.TesTaskIn) -> core.TesTaskIn:
    """The task with each `s3://BUCKET/DATASET/VERSION/PATH` input, an object of this center's
    S3 endpoint (docs/interop.md, "S3"), named as the data set file it is
    (`aicc://ORG/PROJECT/NAME@VERSION/PATH`): mounted read-only like any data set input, never
    fetched. The bucket and key are read as the S3 endpoint reads them, with the caller's rights;
    what the caller may not read is refused as if it did not exist."""
    inputs = list(task.inputs or [])
    for i, item in enumerate(inputs):
        if item.url is not None and item.url[:5].lower() == "s3://":
            url = _dataset_url(session, who, f"inputs[{i}].url", item.url)
            inputs[i] = item.model_copy(update={"url": url})
    return task.model_copy(update={"inputs": inputs}) if task.inputs else task


def _dataset_url(session: Session, who: Principal, where: str, url: str) -> str:
    bucket, _, key = url[len("s3://") :].partition("/")
    whole = key.count("/") == 2 and key.endswith("/")  # a version's every file: a DIRECTORY
    parts = objects.split_key(key + "x" if whole else key)
    if parts is None:
        raise core.Refusal(
            f"{where}: {url[:200]!r} names no file of a data set here; write "
            "s3://PROJECT/DATASET/VERSION/PATH (VERSION a number or latest)"
        )
    name, version, path = parts
    if version == s3writes.NEW:
        raise core.Refusal(
            f"{where}: {name}/new/ is a staging, not a version: commit it (PUT {name}/new/_COMMIT) "
            "and name the version, or read it inside the task through $AICC_S3_ENDPOINT"
        )
    try:
        project = objects.bucket(session, who, bucket)
    except NotFound:
        raise core.Refusal(f"{where}: no bucket {bucket[:100]!r} of yours") from None
    org = tenancy.org_name(session, project.org_id)
    if version == objects.LATEST:
        try:
            found = datasets.get(session, who, f"{org}/{project.name}/{name}", with_versions=False)
        except NotFound:
            raise core.Refusal(f"{where}: no data set {name!r} in bucket {bucket!r}") from None
        if found.latest is None:
            raise core.Refusal(f"{where}: data set {name!r} has no version yet")
        version = str(found.latest)
    return f"aicc://{org}/{project.name}/{name}@{int(version)}/{'' if whole else path}"


def create(
    session: Session,
    who: Principal,
    blobs: BlobStore,
    task: core.TesTaskIn,
    *,
    limits: SubmitLimits,
) -> TesCreated:
    """Submit the task as a job; refused (400 on the TES routes) with what to send instead."""
    try:
        plan = core.plan(_s3_inputs(session, who, task))
    except core.Refusal as err:
        raise Invalid("{problem}", problem=str(err)) from None
    project = tenancy.resolve_project(session, who, plan.project)  # another tenant's: 404
    if not can_write(who, org_id=project.org_id, project_id=project.id):
        raise Forbidden("viewers cannot submit tasks")  # before anything is stored
    image = plan.images[0] if plan.images else None
    if image is not None:
        _check_image(session, who, image, plan.project, limits)
    egress = None
    if plan.internet:
        if limits.egress != "internet":
            raise Invalid(
                "inputs: an http(s) input is fetched inside the job, and this center gives jobs "
                "no network (egress: none); send the file as content or put it in a data set "
                "(aicc://NAME@VERSION/PATH)"
            )
        egress = "internet"
    sha256 = workdirs.keep(session, who, blobs, workdirs.pack(plan.files))
    fields = {
        "name": job_name(task.name),
        "project": plan.project,
        "queue": plan.queue,
        "command": COMMAND,
        "workdir_sha256": sha256,
        "image": image,
        "egress": egress,
        "labels": {LABEL: core.VERSION, **_environment(image, limits)},
        **plan.fields,
    }
    try:
        spec = JobSpec.model_validate({k: v for k, v in fields.items() if v is not None})
    except ValidationError as err:
        raise Invalid("{problem}", problem=first_problem(err)) from None
    job, _ = jobs.submit(session, who, spec, idempotency_key=None, limits=limits)
    document = task.model_dump(mode="json", exclude_none=True, exclude=set(_READ))
    if "resources" in document:  # only what AICC read: TES asks not to keep the others
        document["resources"].pop("backend_parameters", None)
        if plan.backend_parameters:
            document["resources"]["backend_parameters"] = plan.backend_parameters
    session.add(
        TesTaskRow(
            job_id=job.id,
            org_id=job.org_id,
            project_id=job.project_id,
            name=task.name,
            task=document,
            notes=list(plan.notes),
            created_at=job.created_at,
        )
    )
    return TesCreated(id=job.id)


def _check_image(
    session: Session, who: Principal, image: str, project: str | None, limits: SubmitLimits
) -> None:
    """An image AICC can run: the center registry's, or one of `registry.external`; else what
    the refusal says, and the generic bases a task may name instead."""
    try:
        images.job_image(session, who, image, registry=limits.registry, project=project)
    except Invalid as err:
        bases = ", ".join(sorted(core.GENERIC_IMAGES)[:6])
        raise Invalid(
            "executors.image: {problem}; or name a generic base image ({bases}, ...) to run in "
            "the job's sandbox",
            problem=err.template.format(**err.params),
            bases=bases,
        ) from None


def _environment(image: str | None, limits: SubmitLimits) -> dict[str, str]:
    """A task on a generic base runs with the site's environment for it, where one is set:
    the software the operator offers such tasks (executors/siteenv.py)."""
    name = limits.generic_base_environment
    return {ENVIRONMENT_LABEL: name} if image is None and name else {}


def job_name(name: str | None) -> str | None:
    """A job name of the task's (TES names are free text): `tes-` and its letters and digits,
    or None (the job then gets one from its command and id)."""
    if not name:
        return None
    cut = re.sub(r"[^a-z0-9._-]+", "-", name.lower())[:55].strip("-._")
    return f"tes-{cut}" if cut else None


def get(
    session: Session,
    who: Principal,
    task_id: str,
    *,
    view: core.View,
    executors: dict[str, Executor],
) -> TesTask:
    job, row = _task(session, who, task_id)
    return _answer(session, job, row, view, executors)


def cancel(session: Session, who: Principal, task_id: str) -> TesCancelled:
    """Its job's cancel: a waiting job ends at once, a running one is stopped (CANCELING, then
    CANCELED); a task that ended already is left as it is, and the answer is the same (a
    workflow engine cancels every task it started when it stops, ended ones too)."""
    job, _ = _task(session, who, task_id)
    if not JobState(job.state).is_terminal():
        jobs.cancel(session, who, task_id)
    return TesCancelled()


def _task(session: Session, who: Principal, task_id: str) -> tuple[Job, TesTaskRow]:
    """The task's job and row; another tenant's, a job that is no task, or none: one 404."""
    try:
        job = jobs.get(session, who, task_id)
    except NotFound:
        raise NotFound("task {task_id} not found", task_id=task_id) from None
    row = session.get(TesTaskRow, task_id)
    if row is None:
        raise NotFound("task {task_id} not found", task_id=task_id)
    return job, row


@dataclass(frozen=True)
class Filters:
    name_prefix: str | None = None
    state: core.State | None = None
    tags: tuple[tuple[str, str], ...] = ()  # ("key", "") matches any value of key


_BATCH = 200  # rows read at a time while a page fills


def list_tasks(
    session: Session,
    who: Principal,
    *,
    view: core.View,
    page_size: int,
    page_token: str | None,
    filters: Filters,
    executors: dict[str, Executor],
) -> TesTaskList:
    """The caller's tasks newest first, filtered; `next_page_token` is the last task's id when
    the page is full (the next page starts after it)."""
    query = select(TesTaskRow).join(JobRow, JobRow.id == TesTaskRow.job_id)
    query = query.order_by(TesTaskRow.job_id.desc())
    if not who.is_admin:
        query = query.where(TesTaskRow.org_id == who.org_id)
        if who.role.value != "org_admin":
            query = query.where(TesTaskRow.project_id.in_(who.project_ids or {""}))
    if filters.name_prefix:
        escaped = re.sub(r"([\\%_])", r"\\\1", filters.name_prefix)
        query = query.where(TesTaskRow.name.like(f"{escaped}%", escape="\\"))
    if filters.state is not None:
        query = query.where(JobRow.state.in_(core.job_states(filters.state)))
    found: list[TesTask] = []
    after = page_token
    while len(found) < page_size:
        batch = query.limit(_BATCH)
        if after:
            batch = batch.where(TesTaskRow.job_id < after)
        rows = list(session.scalars(batch))
        for row in rows:
            after = row.job_id
            if not _tagged(row, filters.tags):
                continue
            job = jobs.get(session, who, row.job_id)
            answer = _answer(session, job, row, view, executors)
            if filters.state is not None and answer.state != filters.state:
                continue
            found.append(answer)
            if len(found) == page_size:
                break
        if len(rows) < _BATCH:
            break
    full = len(found) == page_size
    return TesTaskList(tasks=found, next_page_token=found[-1].id if full else None)


def _tagged(row: TesTaskRow, tags: tuple[tuple[str, str], ...]) -> bool:
    have = row.task.get("tags") or {}
    return all(key in have and (not value or have[key] == value) for key, value in tags)


def _answer(
    session: Session,
    job: Job,
    row: TesTaskRow,
    view: core.View,
    executors: dict[str, Executor],
) -> TesTask:
    files = _files(session, job, executors)
    system_error = _system_error(files) if job.state == "failed" else []
    state = core.state_of(
        job.state,
        job.reason,
        cancel_requested=job.cancel_requested,
        system_error=bool(system_error),
    )
    if view == core.View.MINIMAL:
        return TesTask(id=job.id, state=state.value)
    full = view == core.View.FULL
    document = dict(row.task)
    if not full:
        document["inputs"] = [
            {k: v for k, v in item.items() if k != "content"} for item in document.get("inputs", [])
        ] or None
    task = core.TesTaskIn.model_validate(document)
    return from_row(
        TesTask,
        task,
        id=job.id,
        state=state.value,
        logs=[_log(job, row, task, files, system_error, full=full)],
        creation_time=_rfc3339(row.created_at),
    )


def _files(session: Session, job: Job, executors: dict[str, Executor]) -> jobfiles.JobFiles | None:
    """The job's outputs behind the guard, or None before it has any."""
    try:
        return logs.job_files(session, job, executors)
    except ServiceError:
        return None


def _system_error(files: jobfiles.JobFiles | None) -> list[str]:
    if files is None:
        return []
    try:
        with logs.refusals():
            text = files.capped(_RECORD_BYTES * 4).read_bytes(f"{core.LOGS}/{core.SYSTEM_ERROR}")
    except (FileNotFoundError, NotADirectoryError, ServiceError):
        return []
    return [line for line in text.decode("utf-8", "replace").splitlines() if line.strip()]


def _log(
    job: Job,
    row: TesTaskRow,
    task: core.TesTaskIn,
    files: jobfiles.JobFiles | None,
    system_error: list[str],
    *,
    full: bool,
) -> TesTaskLog:
    problems: list[str] = []
    executor_logs = [
        log
        for i in range(len(task.executors))
        if (log := _executor_log(files, i, full, problems)) is not None
    ]
    outputs = _outputs(files, task, problems) if job.state in _ENDED else []
    system = [*row.notes, *system_error, *problems]
    if job.state in ("failed", "cancelled") and job.message:
        system.append(f"{job.reason}: {job.message}")
    return TesTaskLog(
        logs=executor_logs,
        metadata={
            "aicc_job": job.id,
            "aicc_state": job.state,
            "aicc_reason": job.reason,
            "aicc_project": job.project,
            "aicc_outputs": f"/api/v1/jobs/{job.id}/outputs",
        },
        start_time=_rfc3339(job.started_at),
        end_time=_rfc3339(job.ended_at),
        outputs=outputs,
        system_logs=system if full else None,
    )


def _executor_log(
    files: jobfiles.JobFiles | None, index: int, full: bool, problems: list[str]
) -> TesExecutorLog | None:
    """What the runner recorded of executor `index`: None before it started."""
    if files is None:
        return None
    base = f"{core.LOGS}/{index}"
    record: dict[str, object] = {}
    try:
        with logs.refusals():
            raw = files.capped(_RECORD_BYTES).read_bytes(f"{base}.json")
        loaded = json.loads(raw)
        record = loaded if isinstance(loaded, dict) else {}
    except (FileNotFoundError, NotADirectoryError):
        pass
    except (ServiceError, ValueError) as err:
        problems.append(f"executor {index}: its record could not be read ({err})")
    stdout = _tail(files, f"{base}.stdout", problems)
    if not record and stdout is None:
        return None  # not started yet
    exit_code = record.get("exit_code")
    return TesExecutorLog(
        start_time=_text(record.get("start_time")),
        end_time=_text(record.get("end_time")),
        stdout=stdout if full else None,
        stderr=_tail(files, f"{base}.stderr", problems) if full else None,
        exit_code=exit_code if isinstance(exit_code, int) else None,
    )


def _tail(files: jobfiles.JobFiles, rel: str, problems: list[str]) -> str | None:
    """The last `TAIL_BYTES` of a file the job wrote, or None when it is not there."""
    try:
        with logs.refusals(), files.open(rel) as stream:
            size = stream.seek(0, 2)
            stream.seek(max(0, size - core.TAIL_BYTES))
            data = stream.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except ServiceError as err:
        problems.append(f"{rel}: {err.template.format(**err.params)}")
        return None
    return data.decode("utf-8", "replace")


def _outputs(
    files: jobfiles.JobFiles | None, task: core.TesTaskIn, problems: list[str]
) -> list[TesOutputFileLog]:
    """Each file the outputs left, with the path it had in the task and its URL in the job's
    outputs (a folder's or a wildcard's files one by one)."""
    if files is None or not task.outputs:
        return []
    try:
        with logs.refusals():
            listing = files.walk()
    except ServiceError as err:
        problems.append(f"outputs could not be listed: {err.template.format(**err.params)}")
        return []
    found = []
    for i, out in enumerate(task.outputs):
        rel = core.output_place(f"outputs[{i}].url", out.url)
        for item in listing:
            if item.path == rel:
                path = out.path
            elif item.path.startswith(rel + "/"):
                sub = item.path[len(rel) + 1 :]
                if any(c in out.path for c in "*?["):
                    path = (out.path_prefix or "").rstrip("/") + "/" + sub
                else:
                    path = out.path.rstrip("/") + "/" + sub
            else:
                continue
            found.append(
                TesOutputFileLog(
                    url=f"{core.OUTPUTS_URL}{item.path}", path=path, size_bytes=str(item.size)
                )
            )
    return found


def _rfc3339(at: datetime | None) -> str | None:
    return at.isoformat().replace("+00:00", "Z") if at is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
