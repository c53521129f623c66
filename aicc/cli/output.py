"""What every command shares: tables or raw JSON, colored states, and errors without tracebacks.

Results go to stdout (so `ID=$(aicc job submit ...)` and `--json | jq` work); status lines and
errors go to stderr. Heavy modules (httpx, the SDK) are imported only when a command needs them.
"""

import functools
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from aicc.core.text import visible
from aicc.core.units import format_cpu, format_duration, format_memory

if TYPE_CHECKING:
    from rich.progress import Progress

    from aicc.sdk.client import Client

P = ParamSpec("P")
R = TypeVar("R")
Row = dict[str, Any]


class Shown(Console):
    """A console that writes each control or direction character of what it prints as its
    escape (core/text.py's `visible`): a name stored before they were refused, or an error
    that echoes one, cannot move the cursor, clear the screen or reorder a table's row.
    Every string a command prints becomes Rich text here: tables, fields, statuses, errors."""

    def render_str(self, text: str, **options: Any) -> Text:
        return super().render_str(visible(text, lines=True), **options)


console = Shown(highlight=False)
err = Shown(stderr=True, highlight=False)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table.")]

STATE_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "running": "blue",
    "pending": "yellow",
    "admitted": "cyan",
    "scheduled": "cyan",
    "preempted": "magenta",
    "cancelled": "bright_black",
    "ready": "green",
    "cordoned": "yellow",
    "draining": "yellow",
    "down": "red",
    "lost": "red",
    "exited": "bright_black",
}
PIPE_WIDTH = 1000
SERVER_HINT = "is the server running? start it with `aicc serve`, or point AICC_SERVER at it"


# --- the client --------------------------------------------------------------------------------


def client() -> "Client":
    """A Client for AICC_SERVER with the token of docs/contracts.md §6 (imported on demand)."""
    from aicc.sdk.client import Client

    return Client()


# --- plain output ------------------------------------------------------------------------------


def byte_bar(*, transient: bool = False) -> "Progress":
    """A progress bar of bytes on stderr (what, bar, size, speed, time left), as uploads,
    downloads and backups show it; `transient`: gone from the terminal when it stops."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
    )


def print_json(data: Any) -> None:
    """The API's JSON as is: no colors, no wrapping, safe to pipe."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def status(message: str) -> None:
    """A progress or confirmation line on stderr, out of the way of piped results."""
    err.print(message, soft_wrap=True)


def print_secret(answer: Any, message: str, *, as_json: bool) -> None:
    """What a command that makes a credential prints: the API's JSON with `--json`, else its
    secret alone on stdout (the only time it is shown, ready for `$(...)`) and `message` on
    stderr."""
    if as_json:
        print_json(plain(answer))
        return
    typer.echo(answer.secret or "")
    status(message)


def confirm(answer: Any, message: str, *, as_json: bool) -> None:
    """What a command that changed something prints: the API's JSON with `--json`, else
    `message` on stderr."""
    if as_json:
        print_json(plain(answer))
    else:
        status(message)


def plain(answer: Any) -> Any:
    """What the SDK answered, as the API's JSON that `--json` prints byte for byte: a read
    model dumped (`model_dump(mode="json")`), a listing (a list of them) as the page of every
    item, anything else (a dict, None) as it is."""
    if isinstance(answer, list):
        return {"items": [plain(item) for item in answer], "next_cursor": None}
    if hasattr(answer, "model_dump"):  # a pydantic read model, without importing pydantic
        return answer.model_dump(mode="json")
    return answer


def items_of(answer: Any) -> list[Row]:
    """The rows of a list answer (`{"items": [...]}`), or of a bare list."""
    if isinstance(answer, Mapping):
        answer = answer.get("items", [])
    return list(answer) if isinstance(answer, list) else []


# --- cells -------------------------------------------------------------------------------------


def state_text(state: str | None) -> Text:
    """A state word in its color (succeeded green, failed red, running blue, pending yellow)."""
    if not state:
        return Text("-", style="dim")
    return Text(state, style=STATE_STYLES.get(state, ""))


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def ago(value: str | None) -> str | None:
    """'3m ago' for an RFC 3339 time, which reads faster than a timestamp in a table."""
    moment = parse_time(value)
    if moment is None:
        return None
    seconds = (datetime.now(UTC) - moment).total_seconds()
    return "just now" if seconds < 1 else f"{format_duration(seconds)} ago"


def local_time(value: str | None) -> str | None:
    """An RFC 3339 time in the local time zone, to the second."""
    moment = parse_time(value)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else None


def elapsed(start: str | None, end: str | None) -> str | None:
    """How long something ran: start to end, or to now while it still runs."""
    began = parse_time(start)
    if began is None:
        return None
    finished = parse_time(end) or datetime.now(UTC)
    return format_duration(max((finished - began).total_seconds(), 0))


def resources_text(resources: Mapping[str, Any] | None, replicas: int = 1) -> str:
    """Per-replica resources in people's units: '2 cpu, 8GiB, 1 gpu' (× replicas)."""
    if not resources:
        return "-"
    parts = []
    if resources.get("cpu_milli") is not None:
        parts.append(f"{format_cpu(int(resources['cpu_milli']))} cpu")
    if resources.get("memory_mib") is not None:
        parts.append(format_memory(int(resources["memory_mib"])))
    accelerator = resources.get("accelerator") or {}
    milli, count = accelerator.get("milli"), accelerator.get("count") or 0
    if accelerator.get("mig"):
        parts.append(f"mig {accelerator['mig']}")
    elif milli is not None and milli < 1000:
        parts.append(f"{milli / 1000:g} gpu")
    elif count:
        parts.append(f"{count} gpu")
    text = ", ".join(parts) or "-"
    return f"{text} ×{replicas}" if replicas > 1 else text


def memory_text(mib: Any) -> str | None:
    return format_memory(int(mib)) if isinstance(mib, int | float) else None


def cpu_text(milli: Any) -> str | None:
    return format_cpu(int(milli)) if isinstance(milli, int | float) else None


def duration_text(seconds: Any) -> str | None:
    return format_duration(seconds) if isinstance(seconds, int | float) else None


# --- tables ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A table column: its header and how to get the cell from one API object."""

    header: str
    value: Callable[[Row], Any]
    justify: Literal["left", "right"] = "left"
    no_wrap: bool = False


def price(row: Row) -> str:
    """An option's price after credits, or `no price` where the price plan has none."""
    net = row.get("net")
    return "no price" if net is None else f"{Decimal(str(net)):,.2f}"


def col(
    header: str,
    key: str,
    fmt: Callable[[Any], Any] | None = None,
    *,
    justify: Literal["left", "right"] = "left",
    no_wrap: bool = False,
) -> Column:
    """A column reading `key` (dots reach into nested objects), formatted by `fmt`."""

    def value(row: Row) -> Any:
        current: Any = row
        for part in key.split("."):
            current = current.get(part) if isinstance(current, Mapping) else None
        return fmt(current) if fmt is not None and current is not None else current

    return Column(header, value, justify, no_wrap)


def _cell(value: Any) -> Text | str:
    if value is None or value == "":
        return Text("-", style="dim")
    if isinstance(value, Text):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def print_table(
    rows: Iterable[Row], columns: Sequence[Column], *, title: str | None = None, empty: str = ""
) -> None:
    """Rows as a Rich table on stdout; `empty` (on stderr) when there is nothing to show."""
    rows = list(rows)
    if not rows:
        status(f"[dim]{escape(empty or 'nothing to show')}[/dim]")
        return
    _print_wide(table_of(rows, columns, title=title))


def table_of(
    rows: Iterable[Row],
    columns: Sequence[Column],
    *,
    title: str | None = None,
    cell: Callable[[Any], Text | str] = _cell,
) -> Table:
    """The Rich table every listing prints (bold headers, no box), each value shown by `cell`."""
    table = Table(title=title, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column.header, justify=column.justify, no_wrap=column.no_wrap)
    for row in rows:
        table.add_row(*(cell(column.value(row)) for column in columns))
    return table


def _print_wide(renderable: Table) -> None:
    """On a terminal, fit its width; when piped, never wrap rows (grep and awk read lines)."""
    if console.is_terminal:
        console.print(renderable)
    else:
        Shown(file=sys.stdout, width=PIPE_WIDTH, highlight=False).print(renderable)


def print_fields(pairs: Iterable[tuple[str, Any]]) -> None:
    """One object as aligned `label  value` lines."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for label, value in pairs:
        table.add_row(label, _cell(value))
    _print_wide(table)


def show(
    answer: Any,
    columns: Sequence[Column],
    *,
    as_json: bool,
    title: str | None = None,
    empty: str = "",
) -> None:
    """The listing every command prints: a table, or the API's JSON with `--json`."""
    answer = plain(answer)
    if as_json:
        print_json(answer)
    else:
        print_table(items_of(answer), columns, title=title, empty=empty)


# --- errors ------------------------------------------------------------------------------------


def env_pairs(pairs: list[str] | None) -> dict[str, str] | None:
    """`--env KEY=VALUE`, repeated, as the environment a job (`aicc run`) or a deployment is
    given, each value as typed; None when there is none. A pair without `=` or a name fails."""
    if not pairs:
        return None
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--env {pair!r} is not KEY=VALUE", "e.g. --env LOG_LEVEL=debug")
        env[key] = value
    return env


def fail(message: str, hint: str | None = None, *, code: int = 1) -> NoReturn:
    """One red line on stderr saying what went wrong and what to do next, then exit."""
    line = f"[red]error:[/red] {escape(message)}"
    if hint:
        line += f" [dim]({escape(hint)})[/dim]"
    err.print(line, soft_wrap=True)
    raise typer.Exit(code)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _server_of(exc: Exception) -> str:
    try:
        request = exc.request  # type: ignore[attr-defined]
        return f"{request.url.scheme}://{request.url.netloc.decode()}"
    except (AttributeError, RuntimeError):
        from aicc.sdk.client import resolve_server

        return resolve_server()


def _api_hint(status_code: int, detail: str = "") -> str | None:
    if status_code == 401:
        return "log in with `aicc login`, or set AICC_TOKEN"
    if status_code == 403 and "token's scopes" in detail:
        return "use a token with that scope: `aicc token create NAME --scope SCOPE`"
    if status_code == 403:
        return "your role may not do this; ask an admin of your organization"
    if status_code >= 500:
        return "the server failed; its log says why"
    return None


def explain_error(exc: Exception) -> tuple[str, str | None] | None:
    """The message and hint for an error people can fix; None for a bug (keep the traceback)."""
    from aicc.sdk.client import ApiError, describe_errors

    httpx = sys.modules.get("httpx")
    yaml = sys.modules.get("yaml")
    if isinstance(exc, ApiError):
        return exc.detail, _api_hint(exc.status_code, exc.detail)
    if httpx is not None and isinstance(exc, httpx.ConnectError):
        return f"cannot reach the AICC server at {_server_of(exc)}", SERVER_HINT
    if httpx is not None and isinstance(exc, httpx.TimeoutException):
        return f"the server at {_server_of(exc)} did not answer in time", "try again shortly"
    if httpx is not None and isinstance(exc, httpx.TransportError):
        return f"connection to {_server_of(exc)} failed: {exc}", SERVER_HINT
    if yaml is not None and isinstance(exc, yaml.YAMLError):
        return f"not valid YAML: {_one_line(str(exc))}", None
    if isinstance(exc, TimeoutError):
        return str(exc), None
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or exc}: no such file or directory", None
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}", None
    if isinstance(exc, ValueError):
        errors = getattr(exc, "errors", None)
        if callable(errors):  # a pydantic ValidationError
            return "; ".join(describe_errors(errors())), None
        return _one_line(str(exc)), None
    return None


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn expected failures of a command into one red line and exit code 1."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            fail("interrupted", code=130)
        except Exception as exc:
            explained = explain_error(exc)
            if explained is None:
                raise
            fail(*explained)

    return wrapper


def read_value(value: str, what: str) -> str:
    """`-` means read it from stdin (one trailing newline dropped), so it stays out of history."""
    if value != "-":
        return value
    text = sys.stdin.read()
    text = text[:-1] if text.endswith("\n") else text
    if not text:
        fail(f"no {what} on stdin")
    return text


def existing_file(path: Path) -> Path:
    if str(path) != "-" and not path.is_file():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    return path
