"""Organizations, projects, users, queues, tokens, S3 access keys and secrets."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep
from aicc.api.paging import PageArgs
from aicc.core.units import parse_duration_s
from aicc.services.common import Invalid
from aicc.services.jobs import quotas, slowdown
from aicc.services.jobs.views import ProjectSlowdown
from aicc.services.tenancy import s3keys, secrets, tenancy, tokens, views

router = APIRouter(prefix="/api/v1", tags=["tenancy"])
S3KeyId = Annotated[str, Path(max_length=40)]


@router.get("/orgs", response_model=schemas.Page[views.Org])
def orgs_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    return paging.cut(tenancy.list_orgs(session, who))


@router.post("/orgs", response_model=views.Org, status_code=201)
def orgs_create(body: schemas.OrgIn, who: CurrentUser, session: SessionDep) -> views.Org:
    return tenancy.create_org(
        session, who, name=body.name, display_name=body.display_name or "", kind=body.kind
    )


@router.get("/orgs/{org_id}", response_model=views.Org)
def orgs_show(org_id: str, who: CurrentUser, session: SessionDep) -> views.Org:
    return tenancy.get_org(session, who, org_id)


@router.patch("/orgs/{org_id}", response_model=views.Org)
def orgs_update(
    org_id: str, body: schemas.OrgUpdate, who: CurrentUser, session: SessionDep
) -> views.Org:
    """Its kind (what kind of tenant, for the center's reports) or display name. Center admins."""
    return tenancy.update_org(
        session,
        who,
        org_id,
        kind=None if body.kind is None else body.kind.value,
        display_name=body.display_name,
    )


@router.put("/orgs/{org_id}/quota", response_model=views.Org)
def orgs_set_quota(
    org_id: str, body: quotas.QuotaIn, who: CurrentUser, session: SessionDep
) -> views.Org:
    """Guaranteed and max per resource (stored units; models in milli). Center admins."""
    return quotas.set_org(session, who, org_id, body)


@router.get("/projects", response_model=schemas.Page[views.Project])
def projects_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    return paging.cut(tenancy.list_projects(session, who))


@router.post("/projects", response_model=views.Project, status_code=201)
def projects_create(
    body: schemas.ProjectIn, who: CurrentUser, session: SessionDep
) -> views.Project:
    return tenancy.create_project(session, who, name=body.name, org_id=body.org_id)


@router.get("/projects/{project_id}", response_model=views.Project)
def projects_show(project_id: str, who: CurrentUser, session: SessionDep) -> views.Project:
    return tenancy.visible_project(session, who, project_id)


@router.put("/projects/{project_id}/quota", response_model=views.Project)
def projects_set_quota(
    project_id: str, body: quotas.QuotaIn, who: CurrentUser, session: SessionDep
) -> views.Project:
    """A project's share of its organization's guarantee. Organization admins."""
    return quotas.set_project(session, who, project_id, body)


@router.post("/projects/{project_id}/members", response_model=views.Project)
def projects_add_member(
    project_id: str, body: schemas.MemberIn, who: CurrentUser, session: SessionDep
) -> views.Project:
    return tenancy.add_member(session, who, project_id=project_id, user_id=body.user_id)


@router.get("/users", response_model=schemas.Page[views.User])
def users_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    return paging.cut(tenancy.list_users(session, who))


@router.post("/users", response_model=views.User, status_code=201)
def users_create(body: schemas.UserIn, who: CurrentUser, session: SessionDep) -> views.User:
    fields = body.model_dump(exclude={"projects"})
    return tenancy.create_user(session, who, project_ids=body.projects, **fields)


@router.get("/users/{user_id}", response_model=views.User)
def users_show(user_id: str, who: CurrentUser, session: SessionDep) -> views.User:
    return tenancy.get_user(session, who, user_id)


@router.patch("/users/{user_id}", response_model=views.User)
def users_update(
    user_id: str, body: schemas.UserPatch, who: CurrentUser, session: SessionDep
) -> views.User:
    """Disable or re-enable a user: their tokens and sessions stop at once."""
    return tenancy.set_disabled(session, who, user_id, body.disabled)


@router.put("/users/{user_id}/password", response_model=views.User)
def users_set_password(
    user_id: str, body: schemas.PasswordIn, who: CurrentUser, session: SessionDep
) -> views.User:
    """Set a user's password: your own with `old_password`, or, as their organization's admin,
    another's (their portal sessions end)."""
    return tenancy.set_password(
        session, who, user_id, password=body.password, old_password=body.old_password
    )


@router.get("/queues", response_model=schemas.Page[views.Queue])
def queues_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: str | None = None,
) -> dict[str, object]:
    return paging.cut(tenancy.list_queues(session, who, project))


@router.get("/queues/slowdown", response_model=schemas.Page[ProjectSlowdown])
def queues_slowdown(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: str | None = None,
    window_s: Annotated[int, Query(ge=60, le=366 * 86400)] = slowdown.DEFAULT_WINDOW_S,
) -> dict[str, object]:
    """Per project, the mean and p95 slowdown ((wait + run) / run) of the jobs that finished in
    the last `window_s` seconds (seven days by default), most slowed down first."""
    return paging.cut(slowdown.by_project(session, who, window_s=window_s, project=project))


@router.post("/queues", response_model=views.Queue, status_code=201)
def queues_create(body: schemas.QueueIn, who: CurrentUser, session: SessionDep) -> views.Queue:
    try:
        runtime = parse_duration_s(body.max_runtime) if body.max_runtime is not None else None
    except (ValueError, OverflowError) as err:
        raise Invalid(f"max_runtime: {err}") from None
    if runtime is not None and runtime > schemas.MAX_QUEUE_RUNTIME_S:
        raise Invalid(f"max_runtime: at most {schemas.MAX_QUEUE_RUNTIME_S // 86400} days")
    return tenancy.create_queue(
        session,
        who,
        project=tenancy.resolve_project(session, who, body.project),
        max_runtime_s=runtime,
        **body.model_dump(exclude={"project", "max_runtime"}),
    )


@router.get("/tokens", response_model=schemas.Page[views.Token])
def tokens_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    return paging.cut(tokens.list_tokens(session, who))


@router.post("/tokens", response_model=views.Token, status_code=201)
def tokens_create(body: schemas.TokenIn, who: CurrentUser, session: SessionDep) -> views.Token:
    token, secret = tokens.issue(
        session,
        who,
        user_id=body.user_id or who.user_id,
        **body.model_dump(exclude={"user_id"}),
    )
    return token.model_copy(update={"secret": secret})


@router.delete("/tokens/{token_id}", response_model=views.Token)
def tokens_revoke(token_id: str, who: CurrentUser, session: SessionDep) -> views.Token:
    return tokens.revoke(session, who, token_id)


@router.get("/s3-keys", response_model=schemas.Page[views.S3Key])
def access_keys_list(who: CurrentUser, session: SessionDep, paging: PageArgs) -> dict[str, object]:
    """Your access keys to the S3 endpoint (`/s3`, docs/interop.md), never their secrets."""
    return paging.cut(s3keys.list_keys(session, who))


@router.post("/s3-keys", response_model=views.S3Key, status_code=201)
def access_keys_create(
    body: schemas.S3KeyIn, who: CurrentUser, session: SessionDep, state: StateDep
) -> views.S3Key:
    """A new access key that reads, through S3, what you read (and, `writable`, pushes new
    versions of your data sets); its secret is in this answer only."""
    key, secret = s3keys.issue(
        session, who, sealer=state.sealer, name=body.name, writable=body.writable
    )
    return key.model_copy(update={"secret": secret})


@router.delete("/s3-keys/{key_id}", status_code=204)
def access_keys_delete(key_id: S3KeyId, who: CurrentUser, session: SessionDep) -> Response:
    """Delete an access key: its requests are refused at once."""
    s3keys.delete(session, who, key_id)
    return Response(status_code=204)


@router.get("/secrets", response_model=schemas.Page[views.Secret])
def secrets_list(
    who: CurrentUser,
    session: SessionDep,
    paging: PageArgs,
    project: str | None = None,
) -> dict[str, object]:
    return paging.cut(secrets.names(session, who, project=project))


@router.put("/secrets/{name}", response_model=views.Secret)
def secrets_put(
    name: str,
    body: schemas.SecretIn,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    project: str | None = None,
) -> views.Secret:
    return secrets.put(
        session, who, sealer=state.sealer, project=project, name=name, value=body.value
    )


@router.delete("/secrets/{name}", status_code=204)
def secrets_delete(
    name: str, who: CurrentUser, session: SessionDep, project: str | None = None
) -> Response:
    secrets.delete(session, who, project=project, name=name)
    return Response(status_code=204)
