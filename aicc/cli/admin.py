"""Tenancy and administration: orgs, projects, users, tokens, queues, secrets, audit, catalog.

Each noun is a small Typer app; `main.py` mounts them. Secrets and passwords are read from an
option, stdin (`-`) or a hidden prompt, and never printed.
"""

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from aicc.cli.nouns import Json, Noun
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    confirm,
    duration_text,
    handle_errors,
    local_time,
    memory_text,
    print_json,
    read_value,
    status,
)

if TYPE_CHECKING:
    from aicc.sdk.client import Client

ProjectOption = Annotated[
    str | None, typer.Option("--project", "-p", help="Project name or id (default: yours).")
]

org_app = typer.Typer(help="Organizations (tenants).", no_args_is_help=True)
project_app = typer.Typer(help="Projects inside an organization.", no_args_is_help=True)
user_app = typer.Typer(help="Users and their roles.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
queue_app = typer.Typer(help="Queues: a project's lanes for jobs.", no_args_is_help=True)
secret_app = typer.Typer(help="Secrets injected into jobs as environment.", no_args_is_help=True)
accelerator_app = typer.Typer(help="The accelerator catalog.", no_args_is_help=True)


def _created(row: dict[str, Any]) -> str | None:
    return local_time(row.get("created_at"))


# --- orgs ------------------------------------------------------------------------------------


ORGS = Noun(
    "org",
    [
        col("ID", "id", no_wrap=True),
        col("NAME", "name"),
        col("DISPLAY NAME", "display_name"),
        Column("CREATED", _created),
    ],
    empty="no organizations",
)


@ORGS.list(org_app)
def org_list(api: "Client") -> Json:
    """Organizations you can see."""
    return api.orgs.list()


@ORGS.create(org_app)
def org_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Short name (lowercase, digits, -).")],
    display_name: Annotated[str | None, typer.Option(help="Name shown to people.")] = None,
) -> Json:
    """Create an organization (admins)."""
    return api.orgs.create(name, display_name=display_name)


# --- projects --------------------------------------------------------------------------------


PROJECTS = Noun(
    "project",
    [
        col("ID", "id", no_wrap=True),
        col("NAME", "name"),
        col("ORG", "org_id"),
        Column("CREATED", _created),
    ],
    empty="no projects",
)


@PROJECTS.list(project_app)
def project_list(api: "Client") -> Json:
    """Projects you can see."""
    return api.projects.list()


@PROJECTS.create(project_app)
def project_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Project name, unique in its org.")],
    org: Annotated[str | None, typer.Option("--org", help="Org id (admins; default: yours).")] = (
        None
    ),
) -> Json:
    """Create a project (org admins in their org; admins anywhere)."""
    return api.projects.create(name, org_id=org)


@project_app.command("add-member")
@handle_errors
def project_add_member(
    project_id: Annotated[str, typer.Argument(help="Project id (prj_...).")],
    user_id: Annotated[str, typer.Argument(help="User id.")],
    as_json: JsonFlag = False,
) -> None:
    """Let a user submit jobs in a project."""
    with client() as api:
        answer = api.projects.add_member(project_id, user_id)
    confirm(
        answer,
        f"added {escape(user_id)} to project {escape(str(answer.get('name', project_id)))}",
        as_json=as_json,
    )


def _quota_body(guaranteed: list[str], ceiling: list[str]) -> dict[str, dict[str, float]]:
    """`A100=4 cpu=64 memory=512GiB pflops=2` -> stored units (models in milli of a device)."""
    from aicc.core.units import parse_cpu_milli, parse_memory_mib

    def amounts(pairs: list[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise ValueError(f"{pair!r}: write KEY=VALUE, e.g. A100=4, cpu=64, memory=512GiB")
            if key in ("cpu", "cpu_milli"):
                out["cpu_milli"] = parse_cpu_milli(value) if key == "cpu" else float(value)
            elif key in ("memory", "memory_mib"):
                out["memory_mib"] = parse_memory_mib(value) if key == "memory" else float(value)
            elif key == "pflops":
                out["pflops"] = float(value)
            else:
                out[key] = float(value) * 1000  # devices of that model
        return out

    return {"guaranteed": amounts(guaranteed), "max": amounts(ceiling)}


QuotaOption = Annotated[
    list[str] | None,
    typer.Option(help="KEY=VALUE, repeatable: a model (devices), cpu, memory or pflops."),
]
MaxOption = Annotated[
    list[str] | None, typer.Option("--max", help="KEY=VALUE ceiling when borrowing.")
]


@ORGS.action(org_app, "quota", "quota set")
def org_quota(
    api: "Client",
    org_id: Annotated[str, typer.Argument(help="Organization id (org_...).")],
    guaranteed: QuotaOption = None,
    max_: MaxOption = None,
) -> Json:
    """Set an organization's share of the center (center admins)."""
    return api.orgs.set_quota(org_id, _quota_body(guaranteed or [], max_ or []))


@PROJECTS.action(project_app, "quota", "quota set")
def project_quota(
    api: "Client",
    project_id: Annotated[str, typer.Argument(help="Project id (prj_...).")],
    guaranteed: QuotaOption = None,
    max_: MaxOption = None,
) -> Json:
    """Set a project's share of its organization (organization admins)."""
    return api.projects.set_quota(project_id, _quota_body(guaranteed or [], max_ or []))


# --- users -----------------------------------------------------------------------------------


USERS = Noun(
    "user",
    [
        col("ID", "id", no_wrap=True),
        col("NAME", "name"),
        col("ROLE", "role"),
        col("ORG", "org_id"),
        Column("STATE", lambda user: "disabled" if user.get("disabled") else "enabled"),
        Column("CREATED", _created),
    ],
    empty="no users",
)


@USERS.list(user_app)
def user_list(api: "Client") -> Json:
    """Users you manage."""
    return api.users.list()


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
    as_json: JsonFlag = False,
) -> None:
    """Create a user (org admins in their org)."""
    secret = read_value(password, "password") if password is not None else None
    with client() as api:
        answer = api.users.create(name, role, org_id=org, projects=project or None, password=secret)
    USERS.print_done(answer, f"created {role}", as_json=as_json)


UserId = Annotated[str, typer.Argument(help="User id (usr_...).")]


@USERS.action(user_app, "disable", "disabled user")
def user_disable(api: "Client", user_id: UserId) -> Json:
    """Disable a user: their tokens and portal sessions stop working at once (org admins in
    their org; center admins anyone but themselves)."""
    return api.users.set_disabled(user_id, True)


@USERS.action(user_app, "enable", "enabled user")
def user_enable(api: "Client", user_id: UserId) -> Json:
    """Enable a disabled user again: their tokens work again; in the portal they sign in anew."""
    return api.users.set_disabled(user_id, False)


# --- tokens ----------------------------------------------------------------------------------


TOKENS = Noun(
    "token",
    [
        col("ID", "id", no_wrap=True),
        col("NAME", "name"),
        col("USER", "user_id"),
        Column("CREATED", _created),
        col("EXPIRES", "expires_at", local_time),
        col("LAST USED", "last_used_at", local_time),
        col("REVOKED", "revoked_at", local_time),
    ],
    empty="no tokens",
)


@TOKENS.list(token_app)
def token_list(api: "Client") -> Json:
    """Your tokens (never their secrets)."""
    return api.tokens.list()


@token_app.command("create")
@handle_errors
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. `ci`.")],
    expires_in_days: Annotated[int | None, typer.Option(min=1, help="Lifetime in days.")] = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Create it for this user id (admins).")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Create a token. Prints its secret on stdout: the only time it is shown."""
    with client() as api:
        answer = api.tokens.create(name, expires_in_days=expires_in_days, user_id=user)
    if as_json:
        print_json(answer)
        return
    typer.echo(answer.get("secret", ""))
    status(
        f"created token {escape(str(answer.get('id', '')))}; store the secret now, "
        "it will not be shown again"
    )


@TOKENS.delete(token_app, "revoke", "revoked token {}")
def token_revoke(api: "Client", token_id: Annotated[str, typer.Argument(help="Token id.")]) -> Json:
    """Revoke a token at once."""
    return api.tokens.revoke(token_id)


# --- queues ----------------------------------------------------------------------------------


def _project(row: dict[str, Any]) -> Any:
    return row.get("project") or row.get("project_id")


def _max_runtime(queue: dict[str, Any]) -> str | None:
    return duration_text(queue.get("max_runtime_s", queue.get("max_runtime")))


QUEUES = Noun(
    "queue",
    [
        col("NAME", "name"),
        Column("PROJECT", _project),
        col("PRIORITY", "priority", justify="right"),
        Column("MAX RUNTIME", _max_runtime),
        col("MAX PENDING", "max_pending", justify="right"),
        col("MAX RUNNING", "max_running", justify="right"),
    ],
    empty="no queues",
)


@QUEUES.list(queue_app)
def queue_list(api: "Client", project: ProjectOption = None) -> Json:
    """Queues of a project."""
    return api.queues.list(project=project)


@QUEUES.create(queue_app)
def queue_create(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Queue name, unique in its project.")],
    project: ProjectOption = None,
    priority: Annotated[
        str | None, typer.Option(help="Default priority: low | normal | high | an integer.")
    ] = None,
    max_runtime: Annotated[
        str | None, typer.Option(help="Longest runtime a job may declare, e.g. 2h.")
    ] = None,
    max_pending: Annotated[int | None, typer.Option(min=0, help="Most waiting jobs.")] = None,
    max_running: Annotated[int | None, typer.Option(min=0, help="Most running jobs.")] = None,
) -> Json:
    """Create a queue (org admins)."""
    from aicc.core.jobspec import PRIORITIES
    from aicc.core.units import parse_duration_s

    level: int | None = None
    if priority is not None:
        if priority in PRIORITIES:
            level = PRIORITIES[priority]
        elif priority.lstrip("-").isdigit():
            level = int(priority)
        else:
            raise ValueError(f"--priority {priority!r} must be low, normal, high or an integer")
    seconds = parse_duration_s(max_runtime) if max_runtime is not None else None
    return api.queues.create(
        name,
        project,
        priority=level,
        max_runtime=seconds,
        max_pending=max_pending,
        max_running=max_running,
    )


# --- secrets ---------------------------------------------------------------------------------


SECRETS = Noun(
    "secret",
    [
        col("NAME", "name"),
        Column("PROJECT", _project),
        Column("CREATED", _created),
        col("UPDATED", "updated_at", local_time),
    ],
    empty="no secrets",
)


@SECRETS.list(secret_app)
def secret_list(api: "Client", project: ProjectOption = None) -> Json:
    """Secret names of a project (values are never shown)."""
    return api.secrets.list(project=project)


@secret_app.command("set")
@handle_errors
def secret_set(
    name: Annotated[str, typer.Argument(help="Secret name, as jobs list it under `secrets`.")],
    value: Annotated[
        str | None,
        typer.Option(help="The value; `-` reads stdin; omitted: a hidden prompt."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Create or replace a secret. The value is never echoed."""
    if value is None:
        secret = typer.prompt(f"value of {name}", hide_input=True)
    else:
        secret = read_value(value, "secret value")
    with client() as api:
        api.secrets.set(name, secret, project=project)
    status(f"secret {escape(name)} saved")


@SECRETS.delete(secret_app)
def secret_delete(
    api: "Client",
    name: Annotated[str, typer.Argument(help="Secret name.")],
    project: ProjectOption = None,
) -> Json:
    """Delete a secret; jobs that name it will fail to launch."""
    return api.secrets.delete(name, project=project)


# --- audit and catalog -----------------------------------------------------------------------


def _object(entry: dict[str, Any]) -> str:
    kind, ident = entry.get("object_type") or "", entry.get("object_id") or ""
    return f"{kind} {ident}".strip()


AUDIT = Noun(
    "audit entry",
    [
        col("AT", "at", local_time),
        Column("USER", lambda entry: entry.get("user_name") or entry.get("user_id")),
        col("ACTION", "action"),
        Column("OBJECT", _object),
    ],
)


@AUDIT.list(None)  # `aicc audit`, mounted by main.py
def audit(
    api: "Client",
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest entries to show.")] = 50,
    action: Annotated[str | None, typer.Option(help="Only this action.")] = None,
) -> Json:
    """The audit trail: who did what, newest first (admins and org admins)."""
    return api.audit.list(limit=limit, action=action)


def _memory(model: dict[str, Any]) -> str | None:
    if model.get("memory_mib") is not None:
        return memory_text(model["memory_mib"])
    gib = model.get("memory_gib")
    return f"{gib}GiB" if gib is not None else None


def _tflops(model: dict[str, Any]) -> str | None:
    value = model.get("fp16_tflops")
    if value is None and model.get("pflops") is not None:
        value = float(model["pflops"]) * 1000
    return f"{float(value):g}" if value is not None else None


ACCELERATORS = Noun(
    "accelerator",
    [
        Column("MODEL", lambda model: model.get("name") or model.get("model")),
        col("VENDOR", "vendor"),
        col("KIND", "kind"),
        Column("MEMORY", _memory, justify="right"),
        Column("FP16 TFLOPS", _tflops, justify="right"),
        col("INTERCONNECT", "interconnect"),
    ],
)


@ACCELERATORS.list(accelerator_app)
def accelerator_list(api: "Client") -> Json:
    """Accelerator models AICC knows, with their peak figures."""
    return api.accelerators.list()
