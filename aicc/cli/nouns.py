"""The shared shape of a noun's commands: `aicc NOUN list | get | create | delete`.

A noun module says once how its objects look (a `Noun`: its word, table columns, empty
message), then writes each command as a plain function that takes the SDK client first, then
its own Typer arguments and options, and returns what the SDK answered: a read model, a list
of them (a listing), or the API's JSON. The Noun's decorators add the rest the same way for
every noun (docs/contracts.md §6): the client, `--json` (the API's body as is: `output.plain`), a
table or aligned fields otherwise, a confirmation on stderr, and errors as one red line. A new
resource's CLI is one short module:

    DATASETS = Noun("dataset", [col("NAME", "name"), col("VERSION", "version")], "no data sets")

    @DATASETS.list(app)
    def dataset_list(api: Client, project: ProjectOption = None) -> list[Dataset]:
        \"\"\"Data sets of a project.\"\"\"
        return api.datasets.list(project=project)

A command whose body only passes its arguments on to one SDK method is not written as a
function at all: `Noun.call` makes the body from the method's name, the help and the
parameters (`DATASETS.list(app)(DATASETS.call("list", "Data sets.", project=ProjectOption))`).
"""

import functools
import inspect
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    confirm,
    handle_errors,
    local_time,
    plain,
    print_fields,
    print_json,
    show,
    status,
)

if TYPE_CHECKING:
    from aicc.sdk.client import Client

Json = dict[str, Any]
#: A command body: the client, then the command's own arguments; returns the SDK's answer.
Body = Callable[..., Any]
#: What a command that changed something says: a phrase put before the object's name and id,
#: or a function of the answer.
Done = str | Callable[[Json], str]

#: What nouns of a project share: the option that picks the project, and two columns.
ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Project name or id (default: yours).")
]
PROJECT = Column("PROJECT", lambda row: row.get("project") or row.get("project_id"))
CREATED = Column("CREATED", lambda row: local_time(row.get("created_at")))
#: The first column of most tables: the object's id, never wrapped (it is copied).
ID = Column("ID", lambda row: row.get("id"), no_wrap=True)
#: Which projects' objects a listing of shareable ones (data sets, models) shows.
ScopeOption = Annotated[
    str | None, typer.Option(help="project (default), visible (all you read), or public.")
]
#: A data set or a model of the registry, at a version or its latest.
Ref = Annotated[str, typer.Argument(help="NAME, NAME@VERSION or ORG/PROJECT/NAME@VERSION.")]
#: The parameters of the registry's shared commands (`Noun.call`): a listing of shareable
#: objects, and a command that reads one of them.
SHAREABLE = {"project": ProjectOption, "scope": ScopeOption}
BY_REF = {"ref": Ref, "project": ProjectOption}


#: Every `(client resource, method)` a `Noun.call` body calls: names the type checker cannot
#: follow, so a test checks that the SDK has each.
CALLS: list[tuple[str, str]] = []


@dataclass(frozen=True)
class Noun:
    """How the CLI shows one resource: the word people use, its table, and its fields."""

    name: str
    columns: Sequence[Column]
    #: Said (dim, on stderr) when a list is empty: best with the command that makes one.
    empty: str = ""
    #: The lines of `get`; the table's columns when None.
    fields: Sequence[Column] | None = None
    #: The client's attribute for this resource (`deployments`), for the bodies `call` makes.
    sdk: str = ""

    # --- printing, for commands that need more than the decorators give ---------------------

    def print_list(self, answer: Any, *, as_json: bool, title: str | None = None) -> None:
        """A list answer as a table, or its JSON with `--json`."""
        show(answer, self.columns, as_json=as_json, title=title, empty=self.empty)

    def print_one(self, answer: Any, *, as_json: bool) -> None:
        """One object as aligned `label  value` lines, or its JSON with `--json`."""
        answer = plain(answer)
        if as_json:
            print_json(answer)
            return
        fields = self.columns if self.fields is None else self.fields
        print_fields((column.header.lower(), column.value(answer)) for column in fields)

    def print_done(self, answer: Any, done: Done, *, as_json: bool) -> None:
        """The answer's JSON with `--json`, else `done` with the object's name and id."""
        answer = plain(answer)
        if callable(done):
            message = done(answer)
        else:
            name, ident = escape(str(answer.get("name") or "")), escape(str(answer.get("id", "")))
            message = f"{done} {name} [dim]({ident})[/dim]"
        confirm(answer, message, as_json=as_json)

    # --- commands -------------------------------------------------------------------------

    def call(self, method: str, doc: str, **parameters: Any) -> Body:
        """The body of a command that is one SDK call, `api.SDK.METHOD(ARGUMENT, OPTION=...)`,
        with `doc` as its help and `parameters` (name: `Annotated` type, in order) as its own:
        a typer Argument is passed by position, an Option (default None) by name."""
        if not self.sdk:
            raise ValueError(f"Noun {self.name!r} names no client resource (`sdk=`) to call")
        CALLS.append((self.sdk, method))  # each checked against the SDK (tests/cli/test_nouns)
        positional = [name for name, kind in parameters.items() if _is_argument(kind)]

        def body(api: "Client", **arguments: Any) -> Any:
            found = [arguments.pop(name) for name in positional]
            return getattr(getattr(api, self.sdk), method)(*found, **arguments)

        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        signature = [inspect.Parameter("api", kind)]
        for name, annotation in parameters.items():
            default = inspect.Parameter.empty if name in positional else None
            signature.append(inspect.Parameter(name, kind, default=default, annotation=annotation))
        body.__signature__ = inspect.Signature(signature)  # type: ignore[attr-defined]
        body.__doc__ = doc
        body.__name__ = body.__qualname__ = f"{self.sdk}_{method}"
        return body

    def list(self, app: typer.Typer | None, name: str = "list") -> Callable[[Body], Body]:
        """`NOUN list`: the body's list answer (every page) as a table, or `--json`."""
        return _command(
            app, name, lambda answer, as_json, _: self.print_list(answer, as_json=as_json)
        )

    def get(self, app: typer.Typer | None, name: str = "get") -> Callable[[Body], Body]:
        """`NOUN get KEY`: one object as fields, or `--json`."""
        return _command(
            app, name, lambda answer, as_json, _: self.print_one(answer, as_json=as_json)
        )

    def create(
        self, app: typer.Typer | None, name: str = "create", done: Done | None = None
    ) -> Callable[[Body], Body]:
        """`NOUN create ...`: says `created NOUN NAME (ID)` (or `done`), or `--json`."""
        return self.action(app, name, done or f"created {self.name}")

    def action(self, app: typer.Typer | None, name: str, done: Done) -> Callable[[Body], Body]:
        """Any other verb that changes an object and answers with it (`quota`, `issue`)."""

        def present(answer: Any, as_json: bool, _: Json) -> None:
            self.print_done(answer, done, as_json=as_json)

        return _command(app, name, present)

    def delete(
        self, app: typer.Typer | None, name: str = "delete", done: str | None = None
    ) -> Callable[[Body], Body]:
        """`NOUN delete KEY`: says `NOUN KEY deleted` (or `done`, `{}` standing for KEY) on
        stderr; no `--json`, as there is nothing left to print."""
        template = done or f"{self.name} {{}} deleted"

        def present(answer: Any, as_json: bool, arguments: Json) -> None:
            key = next(iter(arguments.values()), "")
            status(template.format(escape(str(key))))

        return _command(app, name, present, with_json=False)


def shows(app: typer.Typer, name: str, render: Callable[[Json], None]) -> Callable[[Body], Body]:
    """A command that reads one answer and prints it (a profile, a plan, an explanation): the
    API's JSON with `--json`, else `render(answer)`, the answer given as that JSON."""

    def present(answer: Any, as_json: bool, _: Json) -> None:
        if as_json:
            print_json(answer)
        else:
            render(answer)

    return _command(app, name, present)


def _is_argument(annotation: Any) -> bool:
    """Whether an `Annotated` parameter type declares a typer Argument (not an Option)."""
    return any(isinstance(m, typer.models.ArgumentInfo) for m in typing.get_args(annotation)[1:])


def _evaluated(parameter: inspect.Parameter, body: Body) -> inspect.Parameter:
    """The parameter with its annotation evaluated where the body's module wrote it as text
    (`from __future__ import annotations`), as Typer needs; the client's own annotation may
    name a type imported only for type checkers, so it is left as it is."""
    if not isinstance(parameter.annotation, str) or parameter.name == "api":
        return parameter
    annotation = eval(parameter.annotation, body.__globals__)  # what inspect's eval_str does
    return parameter.replace(annotation=annotation)


def _command(
    app: typer.Typer | None,
    name: str,
    present: Callable[[Any, bool, Json], None],
    *,
    with_json: bool = True,
) -> Callable[[Body], Body]:
    """Turn `body(api, **arguments)` into a Typer command named `name` (registered on `app`
    when given), whose parameters are the body's after the client, plus `--json`."""

    def decorate(body: Body) -> Body:
        parameters = [_evaluated(p, body) for p in inspect.signature(body).parameters.values()]
        parameters = parameters[1:]
        if with_json:
            kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
            parameters.append(
                inspect.Parameter("as_json", kind, default=False, annotation=JsonFlag)
            )

        @functools.wraps(body)
        def command(**arguments: Any) -> None:
            as_json = bool(arguments.pop("as_json", False))
            api: Client
            with client() as api:
                answer = plain(body(api, **arguments))
            present(answer, as_json, arguments)

        del command.__wrapped__  # Typer reads the signature below, not the body's
        command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
        wrapped = handle_errors(command)
        if app is not None:
            app.command(name)(wrapped)
        return wrapped

    return decorate
