"""`aicc job ...`: submit, list, inspect, follow, wait for, cancel, download and exec into jobs."""

import shlex
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from aicc.cli.nouns import ID, Json, Noun, shows
from aicc.cli.output import (
    Column,
    JsonFlag,
    ago,
    client,
    col,
    confirm,
    console,
    elapsed,
    existing_file,
    fail,
    handle_errors,
    items_of,
    local_time,
    plain,
    print_fields,
    print_json,
    print_table,
    resources_text,
    state_text,
    status,
    table_of,
)
from aicc.cli.submit import load_spec, raise_outcome, submit, validate_spec

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.jobs.views import Explain, Job

app = typer.Typer(help="Submit, watch and manage jobs.", no_args_is_help=True)

JobId = Annotated[
    str, typer.Argument(metavar="ID", help="The job id (job_...).", show_default=False)
]


def _resources(job: dict[str, Any]) -> str:
    spec = job.get("spec") or {}
    text = resources_text(spec.get("resources"), int(spec.get("replicas") or 1))
    most = spec.get("replicas_max")
    return f"{text} (elastic, up to ×{most})" if most else text


def _command(job: dict[str, Any]) -> Any:
    command = (job.get("spec") or {}).get("command")
    return shlex.join(command) if isinstance(command, list) else command


def _deadline(job: dict[str, Any]) -> str | None:
    """`2026-11-26 06:00 (deferrable)`: when the job should be done, and whether it may wait
    for greener power until then."""
    spec = job.get("spec") or {}
    at = local_time(spec.get("deadline")) if spec.get("deadline") else None
    if spec.get("deferrable"):
        return f"{at} (deferrable)" if at else "deferrable"
    return at


def _runtime(job: dict[str, Any]) -> str | None:
    return elapsed(job.get("started_at"), job.get("ended_at"))


JOBS = Noun(
    "job",
    [
        ID,
        col("NAME", "name"),
        col("PROJECT", "project"),
        Column("STATE", lambda job: state_text(job.get("state"))),
        col("REASON", "reason"),
        Column("RESOURCES", _resources),
        Column("CREATED", lambda job: ago(job.get("created_at"))),
        Column("RUNTIME", _runtime),
    ],
    empty="no jobs yet; submit one with `aicc run -- CMD`",
    fields=[
        col("id", "id"),
        col("name", "name"),
        col("project", "project"),
        col("queue", "queue"),
        col("user", "user"),
        Column("state", lambda job: state_text(job.get("state"))),
        col("reason", "reason"),
        col("message", "message"),
        col("attempt", "attempt"),
        col("exit code", "exit_code"),
        col("priority", "priority"),
        Column("command", _command),
        Column("resources", _resources),
        Column("deadline", _deadline),
        col("created", "created_at", local_time),
        col("started", "started_at", local_time),
        col("ended", "ended_at", local_time),
        Column("runtime", _runtime),
    ],
)


@app.command("submit")
@handle_errors
def submit_command(
    file: Annotated[
        Path, typer.Option("-f", "--file", help="Job spec, YAML or JSON (`-` for stdin).")
    ],
    as_json: JsonFlag = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the job; exit 0 only on success.")
    ] = (False),
) -> None:
    """Submit a job spec. Prints the job id on stdout (`ID=$(aicc job submit -f job.yaml)`)."""
    doc, base = load_spec(existing_file(file))
    validate_spec(doc, str(file))
    with client() as api:
        submit(api, doc, base, as_json=as_json, follow=False, wait=wait)


@JOBS.list(app)
def list_command(
    api: "Client",
    state: Annotated[str | None, typer.Option(help="Only jobs in this state.")] = None,
    project: Annotated[str | None, typer.Option(help="Only jobs of this project.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many jobs, newest first.")] = 50,
) -> "list[Job]":
    """List jobs, newest first."""
    return api.jobs.list(state=state, project=project, limit=limit)


@app.command("get")
@handle_errors
def get_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Show one job: state, reason, resources, times and where its replicas run."""
    with client() as api:
        job = api.jobs.get(job_id).model_dump(mode="json")
    JOBS.print_one(job, as_json=as_json)
    replicas = job.get("replicas") or []
    if replicas and not as_json:
        console.print()
        print_table(replicas, REPLICA_COLUMNS, title="replicas")


def _devices(replica: dict[str, Any]) -> str:
    parts = []
    for device in replica.get("devices") or []:
        milli = device.get("milli")
        share = f" ({milli / 1000:g})" if isinstance(milli, int) and milli < 1000 else ""
        if device.get("mig_slice") is not None:
            share = f" mig slice {device['mig_slice']}"
        parts.append(f"{device.get('model', '?')}#{device.get('index')}{share}")
    return ", ".join(parts)


def _replica_state(replica: dict[str, Any]) -> Text:
    """Its state, and `given back` for an elastic job's replica a shrink released."""
    text = state_text(replica.get("state"))
    if replica.get("released_at"):
        text.append(" (given back)", style="dim")
    return text


REPLICA_COLUMNS = [
    col("INDEX", "index", justify="right"),
    col("ATTEMPT", "attempt", justify="right"),
    col("NODE", "node"),
    Column("DEVICES", _devices),
    Column("STATE", lambda replica: _replica_state(replica)),
    col("EXIT", "exit_code", justify="right"),
    col("REASON", "reason"),
    Column("RUNTIME", _runtime),
]


def _change(event: dict[str, Any]) -> str:
    before, after = event.get("from_state"), event.get("to_state")
    return f"{before or '·'} → {after}" if after else ""


EVENTS = Noun(
    "event",
    [
        Column("AT", lambda event: local_time(event.get("at"))),
        col("KIND", "kind"),
        Column("CHANGE", _change),
        col("REASON", "reason"),
        col("ATTEMPT", "attempt", justify="right"),
        col("MESSAGE", "message"),
    ],
    empty="no events",
    sdk="jobs",
)


EVENTS.list(app, "events")(
    EVENTS.call("events", "What happened to a job, oldest first.", job_id=JobId)
)


CAUSE_LINES = 40  # of stderr, under a failed job's outcome
_CAUSE_BYTES = 64 * 1024


def print_cause(api: "Client", job: dict[str, Any]) -> None:
    """Why a job failed, on stderr: its last event when the job's message does not say it,
    and the last CAUSE_LINES lines of its stderr (where a traceback is), as its page shows."""
    from aicc.sdk.errors import ApiError

    if job.get("state") != "failed":
        return
    events = api.jobs.events(job["id"])
    last = events[-1].message if events else ""
    if last and last != job.get("message"):
        status(f"[dim]last event:[/dim] {escape(last)}")
    try:
        text = api.jobs.logs(job["id"], stream="stderr", tail=_CAUSE_BYTES)
    except ApiError:  # no replica ever started, or its node is gone: the outcome says enough
        return
    lines = text.rstrip("\n").splitlines()[-CAUSE_LINES:] if text.strip() else []
    if lines:
        status(f"[dim]the last {len(lines)} lines of its stderr:[/dim]")
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()


@app.command("logs")
@handle_errors
def logs_command(
    job_id: JobId,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Keep printing until the job ends.")
    ] = False,
    replica: Annotated[int, typer.Option(min=0, help="Which replica of a gang.")] = 0,
    stderr: Annotated[bool, typer.Option("--stderr", help="The stderr stream.")] = False,
    tail: Annotated[
        int | None, typer.Option(min=1, help="Only the last BYTES bytes.", metavar="BYTES")
    ] = None,
) -> None:
    """Print a job's output (stdout of replica 0 unless told otherwise). When its stdout is
    empty, its stderr is printed instead, on stderr, after a line that says so. Exits 0 while
    the job runs or once it succeeded, 1 when it ended without succeeding (failed or
    cancelled; the outcome is then the last line on stderr)."""
    stream = "stderr" if stderr else "stdout"
    with client() as api:
        written = 0
        if follow:
            for chunk in api.jobs.follow_logs(job_id, replica=replica, stream=stream):
                sys.stdout.write(chunk)
                sys.stdout.flush()
                written += len(chunk)
        else:
            text = api.jobs.logs(job_id, replica=replica, stream=stream, tail=tail)
            sys.stdout.write(text)
            sys.stdout.flush()
            written = len(text)
        if not written and stream == "stdout":
            _stderr_instead(api, job_id, replica, tail)
        job = api.jobs.get(job_id).model_dump(mode="json")
    if job.get("state") in ("failed", "cancelled"):
        raise_outcome(job)


def _stderr_instead(api: "Client", job_id: str, replica: int, tail: int | None) -> None:
    """An empty stdout: the job's stderr, on ours, after one line saying where it is."""
    from aicc.sdk.errors import ApiError

    try:
        text = api.jobs.logs(job_id, replica=replica, stream="stderr", tail=tail)
    except ApiError:
        text = ""
    see = f"aicc job logs {job_id} --stderr" + (f" --replica {replica}" if replica else "")
    if not text:
        status(f"[dim]{escape(job_id)} wrote nothing to stdout or stderr[/dim]")
        return
    status(f"[dim]stdout of {escape(job_id)} is empty; its stderr follows (`{escape(see)}`)[/dim]")
    sys.stderr.write(text if text.endswith("\n") else text + "\n")
    sys.stderr.flush()


SPARKS = "▁▂▃▄▅▆▇█"
SPARK_WIDTH = 30


def sparkline(values: list[float], width: int = SPARK_WIDTH) -> str:
    """The curve in unicode blocks, low to high, at most `width` wide (evenly sampled)."""
    if len(values) > width:
        last = len(values) - 1
        values = [values[round(i * last / (width - 1))] for i in range(width)]
    low, high = min(values, default=0.0), max(values, default=0.0)
    span = (high - low) or 1.0
    return "".join(SPARKS[round((v - low) / span * (len(SPARKS) - 1))] for v in values)


def _number(value: float) -> str:
    return f"{value:.4g}"


def metric_rows(answer: dict[str, Any]) -> list[dict[str, Any]]:
    """One row a metric: its latest value and step, min, max and the curve."""
    rows = []
    for name, points in (answer.get("metrics") or {}).items():
        values = [float(v) for _, v in points]
        if values:
            rows.append(
                {
                    "name": name,
                    "last": values[-1],
                    "step": points[-1][0],
                    "min": min(values),
                    "max": max(values),
                    "curve": sparkline(values),
                }
            )
    return rows


METRICS = [
    col("METRIC", "name"),
    col("LAST", "last", _number, justify="right"),
    col("STEP", "step", justify="right"),
    col("MIN", "min", _number, justify="right"),
    col("MAX", "max", _number, justify="right"),
    col("CURVE", "curve", no_wrap=True),
]


def _metrics_note(answer: dict[str, Any]) -> str:
    if not answer.get("metrics"):
        where = "yet" if answer.get("running") else "in $AICC_OUTPUT_DIR/metrics.jsonl"
        return f"no metrics {where}; log them with aicc.log_metrics(step=..., loss=...)"
    return "" if answer.get("running") else "the job has ended"


@app.command("metrics")
@handle_errors
def metrics_command(
    job_id: JobId,
    follow: Annotated[
        bool, typer.Option("--follow", "-F", help="Refresh until the job ends.")
    ] = False,
    every: Annotated[
        float, typer.Option(min=0.2, help="Seconds between refreshes with --follow.", metavar="S")
    ] = 2.0,
    as_json: JsonFlag = False,
) -> None:
    """A job's training curves: each metric's latest value, min, max and a sparkline."""
    with client() as api:
        answer = api.jobs.metrics(job_id).model_dump(mode="json")
        if as_json:
            print_json(answer)
            return
        if not follow or not answer.get("running"):
            rows = metric_rows(answer)
            print_table(rows, METRICS, empty=_metrics_note(answer))
            if rows and (note := _metrics_note(answer)):
                status(f"[dim]{escape(note)}[/dim]")
            return
        from rich.console import Group
        from rich.live import Live
        from rich.text import Text

        def view(answer: dict[str, Any]) -> Group:
            table = table_of(metric_rows(answer), METRICS, cell=str)
            return Group(table, Text(_metrics_note(answer) or "following…", style="dim"))

        with Live(view(answer), console=console, auto_refresh=False) as live:
            while answer.get("running"):
                time.sleep(every)
                answer = api.jobs.metrics(job_id).model_dump(mode="json")
                live.update(view(answer), refresh=True)


@app.command("wait")
@handle_errors
def wait_command(
    job_id: JobId,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Give up after S seconds (exit 2).", metavar="S")
    ] = None,
) -> None:
    """Wait for a job to end: exit 0 if it succeeded, 1 if not, 2 on timeout."""
    with client() as api:
        try:
            job = api.jobs.wait(job_id, timeout=timeout).model_dump(mode="json")
        except TimeoutError as exc:
            fail(str(exc), code=2)
    raise_outcome(job)


@app.command("cancel")
@handle_errors
def cancel_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Cancel a job; running replicas are stopped.

    A job that already succeeded or failed is an error (exit 1, the API's 409 naming its state),
    as `scancel` of an ended job is: a script that cancels must learn that the job's outcome
    stands. A job already cancelled is not: cancelling again changes nothing (exit 0)."""
    with client() as api:
        job = api.jobs.cancel(job_id).model_dump(mode="json")
    state = job.get("state")
    said = (
        f"job {escape(job_id)} cancelled"
        if state == "cancelled"
        else f"cancel requested for {escape(job_id)}: now {state_text(state).markup}"
    )
    confirm(job, said, as_json=as_json)


@app.command("exec")
@handle_errors
def exec_command(
    job_id: JobId,
    command: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[-- CMD...]",
            help="What to run (default: an interactive shell).",
            show_default=False,
        ),
    ] = None,
    replica: Annotated[int, typer.Option(min=0, help="Which replica.")] = 0,
    tty: Annotated[
        bool | None, typer.Option("--tty/--no-tty", help="A terminal (default: when stdin is one).")
    ] = None,
) -> None:
    """Run a command inside a running job: its sandbox, its files, its network.

    Interactive on a terminal; otherwise stdin, stdout and stderr are piped. The exit code is
    the command's. The session is audited (who, job, command; never what is typed)."""
    from aicc.cli.execs import run_exec

    terminal = sys.stdin.isatty() and sys.stdout.isatty() if tty is None else tty
    with client() as api:
        code = run_exec(api, job_id, command or [], tty=terminal, replica=replica)
    raise typer.Exit(code)


@app.command("resubmit")
@handle_errors
def resubmit_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """Run a job again: the same spec, in its project, as a new job. Prints the new job's id
    (`ID=$(aicc job resubmit OLD)`); to change something first, `aicc job spec OLD > job.yaml`,
    edit, then `aicc job submit -f job.yaml`."""
    with client() as api:
        job = api.jobs.resubmit(job_id).model_dump(mode="json")
    if as_json:
        print_json(job)
    else:
        print(job["id"])


@app.command("spec")
@handle_errors
def spec_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """A job's spec as you would write it (YAML: `cpu: 2`, `memory: 4GiB`), to clone it:
    `aicc job spec ID > job.yaml`, edit, `aicc job submit -f job.yaml`."""
    import yaml

    from aicc.core.jobspec import JobSpec
    from aicc.core.spec_written import as_written

    with client() as api:
        job = api.jobs.get(job_id)
    written = as_written(JobSpec.model_validate(job.spec))
    if as_json:
        print_json(written)
    else:
        print(yaml.safe_dump(written, sort_keys=False, allow_unicode=True), end="")


@app.command("download")
@handle_errors
def download_command(
    job_id: JobId,
    dest: Annotated[
        Path | None,
        typer.Argument(
            metavar="DIR",
            help="Where to unpack (default ./<job id>-outputs).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Download what the job wrote to $AICC_OUTPUT_DIR."""
    target = dest or Path(f"{job_id}-outputs")
    with client() as api:
        path = api.jobs.download_outputs(job_id, target)
    status(f"outputs of {escape(job_id)} are in {escape(str(path))}")


def _explained(answer: Json) -> None:
    if answer.get("state"):
        console.print(f"state: {state_text(answer['state']).markup}")
    reasons = items_of(answer.get("reasons") or [])
    if not reasons:
        console.print("nothing holds this job back")
    for reason in reasons:
        code, message = reason.get("code", "?"), reason.get("message", "")
        console.print(f"[yellow]{escape(str(code))}[/yellow]: {escape(str(message))}")
    if answer.get("position") is not None:
        console.print(f"position in queue: {answer['position']}")
    if answer.get("estimated_start"):
        console.print(f"estimated start: {local_time(answer['estimated_start'])}")


@shows(app, "explain", _explained)
def explain_command(api: "Client", job_id: JobId) -> "Explain":
    """Why a job is waiting, its place in the queue and when it may start."""
    return api.jobs.explain(job_id)


USAGE_COLUMNS = [
    col("START", "start", local_time),
    col("HOURS", "seconds", lambda v: f"{v / 3600:.3f}", justify="right"),
    Column(
        "ACCELERATOR",
        lambda r: (r.get("accelerator") or "-") + (" (sim)" if r["simulated"] else ""),
    ),
    col("DEVICE-H", "accelerator_hours", lambda v: f"{v:.3f}", justify="right"),
    col("KWH", "energy_kwh", lambda v: f"{v:.3f}", justify="right"),
    col("KG CO2E", "carbon_kg", lambda v: "-" if v is None else f"{v:.3f}", justify="right"),
]


def usage_totals(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """The job's sums, as the portal's resources panel shows them: energy and carbon of real
    devices only, a dash when none was metered (simulated devices draw nothing)."""
    compute = [r for r in records if r["kind"] == "compute"]
    real = [r for r in compute if r.get("accelerator") and not r["simulated"]]
    simulated = sum(r["accelerator_hours"] for r in compute if r["simulated"])
    hours = sum(r["accelerator_hours"] for r in compute)
    return [
        ("device-hours", f"{hours:.3f}" + (f" ({simulated:.3f} simulated)" if simulated else "")),
        ("PFLOPS-hours", f"{sum(r['pflops_hours'] for r in compute):.3f}"),
        ("CPU core-hours", f"{sum(r['cpu_core_hours'] for r in compute):.3f}"),
        ("energy", f"{sum(r['energy_kwh'] for r in real):.3f} kWh" if real else "-"),
        (
            "carbon",
            f"{sum(r.get('carbon_kg') or 0.0 for r in real):.3f} kg CO2e" if real else "-",
        ),
    ]


@app.command("usage")
@handle_errors
def usage_command(job_id: JobId, as_json: JsonFlag = False) -> None:
    """What the meter recorded for a job: per replica and hour, and its device-hours, energy
    (kWh, PUE included) and carbon (kg CO2e at the grid's hourly intensity)."""
    with client() as api:
        answer = plain(api.usage.get(job=job_id))
    if as_json:
        print_json(answer)
        return
    records = items_of(answer)
    print_table(records, USAGE_COLUMNS, title=f"usage of {job_id}", empty="nothing metered yet")
    if records:
        print_fields(usage_totals(records))
