"""`aicc org|project|user ...`: the tenancy tree (organizations, their projects, quotas) and
its people. Passwords are read from an option, stdin (`-`) or a hidden prompt, never printed.

The SDK answers with the tenancy context's read models; `--json` prints them as the API wrote
them (`model_dump(mode="json")`, a listing as its `{"items", "next_cursor"}` page), byte for byte.
"""

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from aicc.cli.nouns import CREATED, ID, Noun
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    confirm,
    fail,
    handle_errors,
    read_value,
)

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.tenancy.views import Org, Project, User


org_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
project_app = typer.Typer(help="Projects inside an organization.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)

OrgId = Annotated[str, typer.Argument(help="Organization id (org_...).")]
ProjectId = Annotated[str, typer.Argument(help="Project id (prj_...).")]
DisplayName = Annotated[str | None, typer.Option(help="Name shown to people.")]
KindOption = Annotated[
    str | None,
    typer.Option(
        help="What kind of tenant, for the center's reports: enterprise, university, research, "
        "government, startup, individual or other (default other)."
    ),
]

ORGS = Noun(
    "org",
    [
        ID,
        col("NAME", "name"),
        col("DISPLAY NAME", "display_name"),
        col("KIND", "kind"),
        CREATED,
    ],
    empty="no organizations",
    sdk="orgs",
)


ORGS.list(org_app)(ORGS.call("list", "Organizations you can see."))


@ORGS.create(org_app)
def org_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Short name (lowercase, digits, -).")],
    display_name: DisplayName = None,
    kind: KindOption = None,
) -> "Org":
    """Create an organization (admins)."""
    return api.orgs.create(name, display_name=display_name, kind=kind)


@ORGS.action(org_app, "update", "updated")
def org_update(
    api: "Client",
    org_id: OrgId,
    kind: KindOption = None,
    display_name: DisplayName = None,
) -> "Org":
    """Change an organization's kind or display name (center admins)."""
    return api.orgs.update(org_id, kind=kind, display_name=display_name)


PROJECTS = Noun(
    "project",
    [
        ID,
        col("NAME", "name"),
        col("ORG", "org_id"),
        CREATED,
    ],
    empty="no projects",
    sdk="projects",
)


PROJECTS.list(project_app)(PROJECTS.call("list", "Projects you can see."))


@PROJECTS.create(project_app)
def project_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Project name, unique in its org.")],
    org: Annotated[str | None, typer.Option("--org", help="Org id (admins; default: yours).")] = (
        None
    ),
) -> "Project":
    """Create a project (org admins in their org; admins anywhere)."""
    return api.projects.create(name, org_id=org)


@project_app.command("add-member")
@handle_errors
def project_add_member(
    project_id: ProjectId,
    user_id: Annotated[str, typer.Argument(help="User id.")],
    as_json: JsonFlag = False,
) -> None:
    """Let a user submit jobs in a project."""
    with client() as api:
        project = api.projects.add_member(project_id, user_id)
    confirm(
        project,
        f"added {escape(user_id)} to project {escape(project.name)}",
        as_json=as_json,
    )


def _quota_body(guaranteed: list[str], ceiling: list[str]) -> dict[str, dict[str, float]]:
    """`A100=4 cpu=64 memory=512GiB pflops=2 storage=100GiB` -> stored units, with the same
    reading as the portal's quota form (`core.units.quota_amounts`)."""
    from aicc.core.units import quota_amounts

    return {"guaranteed": quota_amounts(guaranteed), "max": quota_amounts(ceiling)}


QuotaOption = Annotated[
    list[str] | None,
    typer.Option(
        help="KEY=VALUE, repeatable: a model (devices), cpu, memory, pflops or storage (GiB)."
    ),
]
MaxOption = Annotated[
    list[str] | None, typer.Option("--max", help="KEY=VALUE ceiling when borrowing.")
]


@ORGS.action(org_app, "quota", "quota set")
def org_quota(
    api: "Client",
    org_id: OrgId,
    guaranteed: QuotaOption = None,
    max_: MaxOption = None,
) -> "Org":
    """Set an organization's share of the center (center admins)."""
    return api.orgs.set_quota(org_id, _quota_body(guaranteed or [], max_ or []))


@PROJECTS.action(project_app, "quota", "quota set")
def project_quota(
    api: "Client",
    project_id: ProjectId,
    guaranteed: QuotaOption = None,
    max_: MaxOption = None,
) -> "Project":
    """Set a project's share of its organization (organization admins)."""
    return api.projects.set_quota(project_id, _quota_body(guaranteed or [], max_ or []))


USERS = Noun(
    "user",
    [
        ID,
        col("NAME", "name"),
        col("ROLE", "role"),
        col("ORG", "org_id"),
        Column("STATE", lambda user: "disabled" if user.get("disabled") else "enabled"),
        CREATED,
    ],
    empty="no users",
    sdk="users",
)


USERS.list(user_app)(USERS.call("list", "Users you manage."))


@user_app.command("create")
@handle_errors
def user_create(
    name: Annotated[str, typer.Argument(help="Login name.")],
    role: Annotated[
        str, typer.Option(help="admin | org_admin | member | viewer.", show_default=True)
    ] = "member",
    org: Annotated[str | None, typer.Option("--org", help="Org id (admins).")] = None,
    project: Annotated[
        list[str] | None, typer.Option("--project", "-p", help="Project id; repeat for more.")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="Portal password; `-` reads it from stdin.")
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the portal password from stdin.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a user (org admins in their org). Without a password they sign in to the portal
    only once one is set (`aicc user passwd`)."""
    if password_stdin:
        password = "-"
    secret = read_value(password, "password") if password is not None else None
    with client() as api:
        user = api.users.create(name, role, org_id=org, projects=project or None, password=secret)
    USERS.print_done(user, f"created {role}", as_json=as_json)


UserId = Annotated[str, typer.Argument(help="User id (usr_...).")]


@USERS.action(user_app, "disable", "disabled user")
def user_disable(api: "Client", user_id: UserId) -> "User":
    """Disable a user: their tokens and portal sessions stop working at once (org admins in
    their org; center admins anyone but themselves)."""
    return api.users.set_disabled(user_id, True)


@USERS.action(user_app, "enable", "enabled user")
def user_enable(api: "Client", user_id: UserId) -> "User":
    """Enable a disabled user again: their tokens work again; in the portal they sign in anew."""
    return api.users.set_disabled(user_id, False)


def _read_password(prompt: str, *, again: bool, empty: bool = False) -> str:
    """A password from the terminal (hidden; typed twice where `again`), or the next line of
    stdin: never from the command line, where other users' `ps` and the history see it."""
    if sys.stdin.isatty():
        text: str = typer.prompt(
            prompt, hide_input=True, confirmation_prompt=again, default="" if empty else None
        )
        return text
    line = sys.stdin.readline()
    text = line[:-1] if line.endswith("\n") else line
    if not text and not empty:
        fail(f"no {prompt.lower()} on stdin")
    return text


def _user_id(api: "Client", user: str) -> str:
    """A user id as given, or the id of the user of that login name among those you see."""
    if user.startswith("usr_"):
        return user
    found = [u.id for u in api.users.list() if u.name == user]
    if not found:
        fail(f"user {user} not found")
    return found[0]


@user_app.command("passwd")
@handle_errors
def user_passwd(
    user: Annotated[str, typer.Argument(help="User id (usr_...) or login name.")],
    as_json: JsonFlag = False,
) -> None:
    """Set a user's portal password, typed at the prompt (twice) or one line of stdin.

    Your own asks first for the one you have now (empty if you have none; on stdin, the first
    of two lines); an organization admin sets another user's of their organization without it
    (a reset: that user's portal sessions end), a center admin anyone's."""
    with client() as api:
        target = _user_id(api, user)
        own = target == api.me().user.id
        old = _read_password("Current password", again=False, empty=True) if own else None
        new = _read_password("New password", again=True)
        answer = api.users.set_password(target, new, old_password=old or None)
    USERS.print_done(answer, "password set for", as_json=as_json)
