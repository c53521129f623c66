"""`aicc admin backup` and `aicc admin restore`: run on the server's machine, against the home and
database its settings name (like `aicc serve`, not through the API), while the server runs."""

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import TaskID

from aicc.cli.output import byte_bar, fail, handle_errors, print_fields, status

if TYPE_CHECKING:
    from aicc.services.center.backups import Summary

HomeOption = Annotated[
    Path | None, typer.Option(help="State directory (default $AICC_HOME or ~/.aicc).")
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL (default SQLite in the home).")
]


class Bar:
    """One rich bar on stderr per phase, in bytes; a phase of unknown size shows as a spinner
    line."""

    def __init__(self) -> None:
        self.bar = byte_bar(transient=True)
        self.task: TaskID | None = None

    def __enter__(self) -> "Bar":
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def phase(self, description: str, total: int | None) -> None:
        if self.task is not None:
            self.bar.update(self.task, visible=False)
        self.task = self.bar.add_task(description, total=total)

    def advance(self, done: int) -> None:
        if self.task is not None:
            self.bar.advance(self.task, done)


def _size(n: int) -> str:
    """Bytes in binary units, as the bar shows them."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            break
        size /= 1024
    return f"{n} B" if unit == "B" else f"{size:.1f} {unit}"


def _settings(home: Path | None, db: str | None) -> Any:
    from aicc import config

    return config.load(home, db=db)


def _report(summary: "Summary", done: str) -> None:
    counts = summary.counts
    status(f"[green]{done}[/green] {escape(str(summary.path))}")
    print_fields(
        [
            ("archive", f"{_size(summary.bytes)}, {summary.members} members"),
            ("schema", summary.revision or "-"),
            *([("upgraded to", summary.migrated_to)] if summary.migrated_to else []),
            ("jobs", counts.get("jobs", 0)),
            ("data sets", counts.get("datasets", 0)),
            ("models", counts.get("models", 0)),
            ("versions", counts.get("versions", 0)),
            ("invoices", counts.get("invoices", 0)),
            ("workdirs", counts.get("workdirs", 0)),
            ("data packs", counts.get("packs", 0)),
            ("organizations", counts.get("organizations", 0)),
            ("users", counts.get("users", 0)),
        ]
    )  # fmt: skip
    if summary.skipped:
        status(
            f"[yellow]skipped {len(summary.skipped)} unreadable file(s)[/yellow], e.g. "
            f"{escape(summary.skipped[0])}"
        )


def _run(work: Any) -> Any:
    from aicc.services.common import ServiceError

    try:
        with Bar() as bar:
            return work(bar)
    except ServiceError as exc:
        fail(exc.detail)


@handle_errors
def backup(
    file: Annotated[Path, typer.Argument(help="The archive to write (a new file: .tar).")],
    home: HomeOption = None,
    db: DbOption = None,
) -> None:
    """Write the whole center to one archive while the server runs: the database as of one
    moment, the workdirs and data set packs it refers to, its jobs' logs and outputs, the
    notebooks' homes and the sealing key. Keep it as safe as the server's home."""
    from aicc.services.center import backups

    settings = _settings(home, db)
    summary = _run(lambda bar: backups.backup(settings, file, progress=bar))
    _report(summary, "backed up to")


@handle_errors
def restore(
    file: Annotated[Path, typer.Argument(help="An archive `aicc admin backup` wrote.")],
    home: HomeOption = None,
    db: DbOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace what the home and database hold.")
    ] = False,
) -> None:
    """Restore an archive into a fresh home and database (the configured ones, or --home and
    --db), checking every member's sha256 first; an older schema is upgraded. Stop any server
    on that home first."""
    from aicc.services.center import backups

    os.umask(0o077)  # what it writes is the server account's alone, as `aicc serve` writes
    settings = _settings(home, db)
    summary = _run(lambda bar: backups.restore(settings, file, force=force, progress=bar))
    _report(summary, "restored from")
    status(f"start it with: aicc serve --home {escape(str(settings.home))}")
