"""The center registry's token server and notifications, and a project's images.

`GET /registry/token` is what the registry sends clients to (podman, skopeo, docker, the SDK):
HTTP Basic whose password is an AICC token (the user name is ignored) or a job's pull
credential, a Bearer AICC token, or nothing (anonymous: public images only). It and the
registry's notifications are Distribution's protocol, not AICC's API: they are left out of the
OpenAPI document (docs/api.md lists them).
"""

from __future__ import annotations

import base64
import binascii
import hmac
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi import Path as PathArg
from pydantic import ValidationError

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep, StateDep, in_thread
from aicc.api.paging import PageArgs
from aicc.api.schemas.images import ImagePatch
from aicc.api.state import AppState
from aicc.core import images as refs
from aicc.core.tenancy import Principal
from aicc.services.common import Forbidden, utcnow
from aicc.services.images import distribution, embedded, events, images, keys, tokens, views
from aicc.services.tenancy import tokens as user_tokens

router = APIRouter(prefix="/api/v1", tags=["images"])

ImageName = Annotated[
    str, PathArg(min_length=1, max_length=255, pattern=r"^[a-z0-9][a-z0-9._/-]*$")
]
ProjectArg = Annotated[str | None, Query(max_length=200)]
ScopeArg = Annotated[list[str], Query(max_length=tokens.MAX_SCOPES)]
MAX_EVENTS_BODY = 1024 * 1024


def _folder(state: AppState) -> Path:
    return keys.registry_folder(state.settings.home)


def _key(state: AppState) -> keys.SigningKey:
    return keys.signing_key(_folder(state))


def _host(state: AppState) -> str:
    return images.host_of(state.settings.registry.address())


def _registry(state: AppState) -> distribution.Registry:
    settings = state.settings.registry
    return distribution.client(settings.address(), _key(state), settings.service)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": 'Basic realm="aicc"'})


async def _caller(
    state: AppState, request: Request
) -> tuple[Principal | None, dict[str, Any] | None]:
    """Who asks for a token: a user (or None, anonymous), or a pull credential's claims."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    secret: str | None = None
    if scheme.lower() == "basic":
        try:
            _, _, secret = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise _unauthorized("malformed Basic credentials") from None
    elif scheme.lower() == "bearer":
        secret = value.strip()
    elif header:
        raise _unauthorized("use Basic (any user name, an AICC token as password) or Bearer")
    if not secret:
        return None, None
    if secret.count(".") == 2 and secret.startswith("eyJ"):
        settings = state.settings.registry
        claims = tokens.verify(_key(state), secret, service=settings.service, now=utcnow())
        if claims is None or not claims.get(tokens.PULL_CREDENTIAL):
            raise _unauthorized("invalid or expired pull credential")
        return None, claims
    caller = await state.callers.get(user_tokens.digest(secret))
    if caller is None or not caller.valid(utcnow()):
        raise _unauthorized("invalid, expired or revoked token, or its user is disabled")
    return caller.who, None


@router.get("/registry/token", response_model=views.RegistryToken, include_in_schema=False)
async def registry_token(
    request: Request,
    state: StateDep,
    service: Annotated[str, Query(max_length=200)],
    scope: ScopeArg = [],  # noqa: B006 (FastAPI copies it)
) -> views.RegistryToken:
    """A registry token with the actions the caller may do of those asked (Distribution's
    token authentication); what it may not do is left out, never an error."""
    settings = state.settings.registry
    if service != settings.service:
        raise HTTPException(400, f"service: this server issues tokens for {settings.service!r}")
    who, credential = await _caller(state, request)
    if credential is not None:
        try:
            asked = [refs.parse_scope(s) for s in scope]
        except refs.BadReference as err:
            raise HTTPException(422, str(err)) from None
        granted = images.credential_access(credential, asked)
        subject = str(credential.get("sub") or "job")
    else:
        with state.db.reader() as session:
            granted = tokens.grant(session, who, scope)
        subject = who.name if who is not None else "anonymous"
    issued = tokens.issue(
        _key(state),
        service=settings.service,
        subject=subject,
        access=granted,
        ttl_s=settings.token_ttl_s,
        now=utcnow(),
    )
    return views.RegistryToken(
        token=issued.token,
        access_token=issued.token,
        expires_in=issued.expires_in,
        issued_at=issued.issued_at,
    )


@router.post("/registry/events", include_in_schema=False)
async def registry_events(request: Request, state: StateDep) -> dict[str, int]:
    """The registry's notifications, authenticated by the secret header of its config; the
    pushes they report are read back from the registry and booked."""
    given = request.headers.get(embedded.SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), keys.notify_secret(_folder(state)).encode()):
        raise HTTPException(401, "not the registry's notification secret")
    body = await request.body()
    if len(body) > MAX_EVENTS_BODY:
        raise HTTPException(413, "an envelope of events is at most 1 MiB")
    try:
        envelope = events.Envelope.model_validate_json(body or b"{}")
    except ValidationError as err:
        raise HTTPException(
            422, f"not an envelope of registry events: {err.errors()[:3]}"
        ) from None
    booked = await in_thread(events.receive, state.db, _registry(state), envelope)
    return {"booked": booked}


@router.post("/registry/resync", response_model=views.Resynced)
def registry_resync(who: CurrentUser, state: StateDep) -> views.Resynced:
    """Rebuild the books from the registry's own listing (operators)."""
    if not who.is_admin:
        raise Forbidden("only the center's operators resync the registry")
    return events.resync(state.db, _registry(state), who)


@router.get("/registry/references/{image:path}", response_model=views.RegistryReference)
def registry_reference(
    image: Annotated[str, PathArg(min_length=1, max_length=512)],
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    project: ProjectArg = None,
) -> views.RegistryReference:
    """Where an image name points, for a client about to push or pull it."""
    url = state.settings.registry.address()
    return images.reference(session, who, image, url=url, project=project)


@router.get("/registry/storage", response_model=views.ImageStorage)
def images_storage(
    who: CurrentUser, session: SessionDep, project: ProjectArg = None
) -> views.ImageStorage:
    return images.storage(session, who, project=project)


@router.get("/images", response_model=schemas.Page[views.Image])
def images_list(
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    paging: PageArgs,
    project: ProjectArg = None,
) -> dict[str, object]:
    return paging.cut(images.list_images(session, who, project=project, host=_host(state)))


@router.get("/images/{name:path}", response_model=views.Image)
def images_get(
    name: ImageName,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    project: ProjectArg = None,
) -> views.Image:
    return images.get_image(session, who, project=project, name=name, host=_host(state))


@router.patch("/images/{name:path}", response_model=views.Image)
def images_update(
    name: ImageName,
    body: ImagePatch,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    project: ProjectArg = None,
) -> views.Image:
    return images.set_visibility(
        session, who, project=project, name=name, visibility=body.visibility, host=_host(state)
    )


@router.delete("/images/{name:path}", status_code=204)
def images_delete(
    name: ImageName,
    who: CurrentUser,
    state: StateDep,
    session: SessionDep,
    project: ProjectArg = None,
    tag: Annotated[str | None, Query(max_length=128, pattern=r"^[\w][\w.-]*$")] = None,
) -> Response:
    images.delete_image(session, who, _registry(state), project=project, name=name, tag=tag)
    return Response(status_code=204)
