"""Submitting a job from the CLI, shared by `aicc job submit` and `aicc run`.

The spec is checked locally first, so a typo is reported with its field before anything is
packed or sent; the working directory is uploaded with a progress bar when it is big enough to
need one; and `--wait` streams the job's output, then exits with its outcome.
"""

import json
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.markup import escape
from rich.progress import Progress, TaskID

from aicc.cli.output import byte_bar, err, fail, print_json, state_text, status

if TYPE_CHECKING:
    from aicc.sdk.client import Client

BAR_THRESHOLD = 1024 * 1024
#: Stored names whose people's spelling (docs/contracts.md §2) is what a YAML file usually holds.
_AS_WRITTEN = {
    "cpu_milli": "cpu",
    "memory_mib": "memory",
    "max_runtime_s": "max_runtime",
    "models": "model",
}
_PHASES = {"pack": "packing workdir", "upload": "uploading workdir"}


# --- the spec ------------------------------------------------------------------------------------


def load_spec(path: Path) -> tuple[dict[str, Any], Path]:
    """A YAML or JSON job file (`-` for stdin) and the directory its `workdir` is relative to."""
    import yaml

    if str(path) == "-":
        text, base = sys.stdin.read(), Path.cwd()
    else:
        text, base = path.read_text(encoding="utf-8"), path.resolve().parent
    try:
        doc = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except RecursionError:  # the parsers recurse per level: thousands of `[` end here
        fail(f"{path} is nested too deeply", "a job spec nests a few levels at most")
    if not isinstance(doc, dict):
        fail(f"{path} must hold a mapping with at least `command`", "see `aicc spec schema`")
    return doc, base


def _as_written(loc: tuple[Any, ...], doc: Any) -> tuple[Any, ...]:
    """Name a field the way the file spells it: `resources.memory`, not `resources.memory_mib`."""
    named: list[Any] = []
    node = doc
    for part in loc:
        if isinstance(node, Mapping) and part not in node and _AS_WRITTEN.get(part) in node:
            part = _AS_WRITTEN[part]
        named.append(part)
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
    return tuple(named)


def validate_spec(doc: dict[str, Any], source: str) -> None:
    """Check the spec with the same model the server uses; print every bad field and exit 1."""
    from pydantic import ValidationError

    from aicc.core.jobspec import JobSpec
    from aicc.sdk.client import describe_errors

    try:
        JobSpec.model_validate(doc)
    except ValidationError as exc:
        errors = [{**e, "loc": _as_written(tuple(e["loc"]), doc)} for e in exc.errors()]
        lines = describe_errors(errors)
        if len(lines) == 1:
            fail(f"{source}: {lines[0]}")
        err.print(f"[red]error:[/red] {escape(source)} is not a valid job spec:", soft_wrap=True)
        for line in lines:
            err.print(f"  {escape(line)}", soft_wrap=True)
        fail("fix the fields above", "`aicc spec schema` lists every field")


# --- the working directory -----------------------------------------------------------------------


class UploadBar:
    """Reports packing and upload progress, with a bar only for workdirs over 1 MiB."""

    def __init__(self, phases: dict[str, str] | None = None) -> None:
        self.phases = phases or _PHASES
        self.bar: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.uploaded = False
        self.size = 0

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase == "upload":
            self.uploaded, self.size = True, total
        if self.bar is None:
            if total <= BAR_THRESHOLD:
                return
            self.bar = byte_bar()
            self.bar.start()
        if phase not in self.tasks:
            self.tasks[phase] = self.bar.add_task(self.phases.get(phase, phase), total=total)
        self.bar.update(self.tasks[phase], completed=done, total=total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()

    def __enter__(self) -> "UploadBar":
        return self

    def __exit__(self, *exc: object) -> None:
        """The bar stops however the transfer ended."""
        self.close()


def upload_workdir(client: "Client", path: Path) -> str:
    """Pack and upload `path` (skipped when the server has it), saying what happened on stderr."""
    if not path.is_dir():
        fail(f"workdir {path} is not a directory")
    with UploadBar() as bar:
        digest = client.jobs.upload_workdir(path, progress=bar)
    if bar.uploaded:
        status(f"[dim]uploaded workdir {escape(str(path))} ({_size(bar.size)})[/dim]")
    else:
        status(f"[dim]workdir {escape(str(path))} is already on the server[/dim]")
    return digest


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / 1024 / 1024:.1f} MiB"


# --- submitting and watching ---------------------------------------------------------------------


def submit(
    client: "Client", doc: dict[str, Any], base: Path, *, as_json: bool, follow: bool, wait: bool
) -> None:
    """Upload the workdir, submit, print the id (stdout), and optionally follow or wait."""
    doc = dict(doc)
    if doc.get("scenario") and not as_json:
        show_estimate(client, doc)
    workdir = doc.pop("workdir", None)
    if workdir is not None:
        doc["workdir_sha256"] = upload_workdir(
            client, (base / Path(str(workdir)).expanduser()).resolve()
        )
    job = client.jobs.submit(doc).model_dump(mode="json")
    if not as_json:
        sys.stdout.write(f"{job['id']}\n")
        sys.stdout.flush()
    status(f"submitted {escape(job['id'])} ({job.get('state', 'pending')})")
    if not (follow or wait):
        if as_json:
            print_json(job)
        return
    if follow:
        # With --json, stdout carries only the job; the job's output goes to stderr.
        final = follow_and_wait(client, job["id"], sys.stderr if as_json else sys.stdout)
    else:
        final = client.jobs.wait(job["id"]).model_dump(mode="json")
    if as_json:
        print_json(final)
    raise_outcome(final)


def show_estimate(client: "Client", doc: Mapping[str, Any]) -> None:
    """A job that carries its scenario: say what it should take and cost before it goes in
    (the three best options for its accelerator request, as `aicc estimate` ranks them)."""
    resources = doc.get("resources") or {}
    accelerator = resources.get("accelerator") or {}
    models = accelerator.get("model") or accelerator.get("models")
    count = accelerator.get("count")
    total = count * int(doc.get("replicas") or 1) if isinstance(count, int) and count > 0 else None
    try:
        answer = client.estimates.create(
            doc["scenario"],
            accelerators=[models] if isinstance(models, str) else models,
            count=total,
        )
    except Exception as exc:  # the estimate informs; it never blocks a submission
        status(f"[dim]no estimate: {escape(str(exc))}[/dim]")
        return
    for option in answer.options[:3]:
        wait = option.wait_hours
        waiting = "wait unknown" if wait is None else f"{wait:.2f} h to wait"
        price = (
            "no price in your plan"
            if option.net is None
            else f"{option.net} {escape(answer.currency)} after credits"
        )
        status(
            f"estimate: {escape(option.accelerator)} × {option.count}: "
            f"{option.hours:.2f} h to run, {waiting}, {price}"
        )


class _LogPump(threading.Thread):
    """Copies one log stream to one of our streams while the job runs."""

    def __init__(self, client: "Client", job_id: str, stream: str, sink: TextIO) -> None:
        super().__init__(daemon=True, name=f"aicc-logs-{stream}")
        self.client, self.job_id, self.stream, self.sink = client, job_id, stream, sink
        self.written = 0
        self.broken = False

    def run(self) -> None:
        from aicc.sdk.client import Client

        try:
            with Client(self.client.server, self.client.token) as own:
                for chunk in own.jobs.follow_logs(self.job_id, stream=self.stream):
                    self.sink.write(chunk)
                    self.sink.flush()
                    self.written += len(chunk)
        except Exception:
            self.broken = True

    def catch_up(self) -> None:
        """If following broke off, print what it missed from the stored log."""
        if self.broken:
            text = self.client.jobs.logs(self.job_id, stream=self.stream)
            self.sink.write(text[self.written :])
            self.sink.flush()


def follow_and_wait(client: "Client", job_id: str, out: TextIO) -> dict[str, Any]:
    """Stream replica 0's stdout to `out` and its stderr to ours until the job ends."""
    pumps = [
        _LogPump(client, job_id, "stdout", out),
        _LogPump(client, job_id, "stderr", sys.stderr),
    ]
    for pump in pumps:
        pump.start()
    try:
        job = client.jobs.wait(job_id).model_dump(mode="json")
    except KeyboardInterrupt:
        fail(
            f"stopped watching; job {job_id} goes on",
            f"cancel it with `aicc job cancel {job_id}`",
            code=130,
        )
    for pump in pumps:
        pump.join(timeout=10)
        pump.catch_up()
    return job


def outcome(job: Mapping[str, Any]) -> int:
    """Say how the job ended (stderr) and return the exit code: 0 only for succeeded."""
    state = str(job.get("state", ""))
    line = f"job {escape(str(job.get('id')))} {state_text(state).markup}"
    reason, message, code = job.get("reason"), job.get("message"), job.get("exit_code")
    if reason and reason != state:
        line += f" ({escape(str(reason))})"
    if message:
        line += f": {escape(str(message))}"
    elif code not in (None, 0):
        line += f": exit code {code}"
    status(line)
    return 0 if state == "succeeded" else 1


def raise_outcome(job: Mapping[str, Any]) -> None:
    """Exit with the job's outcome (returns only if it succeeded)."""
    import typer

    code = outcome(job)
    if code:
        raise typer.Exit(code)
