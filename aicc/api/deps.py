"""Dependencies every route shares: the server state, a database session, the caller."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
from collections.abc import Callable, Iterator, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import IPvAnyNetwork
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.api.scopes import needed_scope
from aicc.api.state import AppState
from aicc.core.tenancy import Principal, allows
from aicc.services.common import Conflict, Forbidden, utcnow
from aicc.services.data import mounts
from aicc.services.federation import nonces, signing, tenants
from aicc.services.tenancy import tokens

T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="an AICC API token (`aicc token create`)")


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.aicc
    return state


async def _state(request: Request) -> AppState:
    return get_state(request)  # async: FastAPI runs a plain `def` dependency in a worker thread


StateDep = Annotated[AppState, Depends(_state)]


async def in_thread(work: Callable[..., T], *args: Any) -> T:
    """Store work off the event loop, for hot paths (who a token stands for): the loop's own
    executor hands work over through a C queue, a fraction of what a plain `def` route's anyio
    worker thread costs (measured: about a tenth of the server's time under a burst of submits)."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(work, *args))


def get_session(state: StateDep, request: Request) -> Iterator[Session]:
    """One transaction per request; reads (GET, HEAD) do not take SQLite's write lock."""
    reads = request.method in ("GET", "HEAD")
    with state.db.reader() if reads else state.db.session() as session:
        yield session


# scope="function": commit before the answer is sent. FastAPI's default for a `yield` dependency
# ends it after the response, so a client could see 200 for a change a crash then lost.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def current_user(
    state: StateDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the bearer token, refused (403) where the token's scopes do not
    cover the request (`api/scopes.py`). Who a token stands for is kept `token_cache_s`
    (`AppState.callers`), so most requests ask the store nothing to know their caller."""
    if credentials is None and signing.SITE in request.headers:
        site = await peer_site(state, request)
        return await in_thread(_site_principal, state, site)
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "missing bearer token", headers={"WWW-Authenticate": "Bearer"})
    caller = await state.callers.get(tokens.digest(credentials.credentials))
    if caller is None or not caller.valid(utcnow()):
        raise HTTPException(
            401,
            "invalid, expired or revoked token, or its user is disabled",
            headers={"WWW-Authenticate": "Bearer"},
        )
    who = caller.who
    needed = needed_scope(request.method, request.url.path)
    if not allows(who.scopes, needed):
        granted = ", ".join(sorted(who.scopes))
        raise Forbidden(
            "this token's scopes ({granted}) do not cover {method} {path}: it needs `{needed}`",
            granted=granted,
            method=request.method,
            path=request.url.path,
            needed=needed.value,
        )
    return who


CurrentUser = Annotated[Principal, Depends(current_user)]


async def websocket_user(state: AppState, websocket: WebSocket, method: str = "POST") -> Principal:
    """The caller behind a websocket's bearer token, as `current_user` decides for a request
    of `method` to its path (a websocket that changes something counts as a POST). Raises
    HTTPException (401, 403) for the route to refuse the upgrade with."""
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise HTTPException(401, "missing bearer token")
    caller = await state.callers.get(tokens.digest(token.strip()))
    if caller is None or not caller.valid(utcnow()):
        raise HTTPException(401, "invalid, expired or revoked token, or its user is disabled")
    needed = needed_scope(method, websocket.url.path)
    if not allows(caller.who.scopes, needed):
        raise HTTPException(403, f"this token's scopes do not cover {websocket.url.path}")
    return caller.who


async def peer_site(state: StateDep, request: Request) -> str:
    """The federation site that signed this request (docs/federation.md), or 401."""
    fed = state.settings.federation
    challenge = {"WWW-Authenticate": "AICC-Signature"}
    if fed.site is None:
        raise HTTPException(401, "this server is not in a federation", headers=challenge)
    peers = {p.site: p.public_key for p in fed.peers if p.public_key is not None}
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        body = await request.body()
        at = utcnow()
        signed = signing.check(
            request.headers, request.method, path, body, at, peers, audience=fed.site
        )
    except signing.BadSignature as err:
        raise HTTPException(401, str(err), headers=challenge) from None
    await in_thread(_remember_nonce, state, signed)  # a replay within the window: 401
    return signed.site


def _remember_nonce(state: AppState, signed: signing.Signed) -> None:
    with state.db.session() as session:
        nonces.remember(session, signed=signed, now=utcnow())


def _site_principal(state: AppState, site: str) -> Principal:
    """The site's tenant: read, and made (a write) only on the site's first contact."""
    with state.db.reader() as session:
        found = tenants.find(session, site)
    if found is not None:
        return found
    try:
        with state.db.session() as session:
            return tenants.principal(session, site)
    except (Conflict, IntegrityError):  # a concurrent first request of the site made it
        with state.db.reader() as session:
            made = tenants.find(session, site)
        if made is None:
            raise
        return made


PeerSite = Annotated[str, Depends(peer_site)]


async def data_reader(
    state: StateDep,
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> mounts.Reader:
    """A person's token, or a job's data grant (`services/data/mounts.py`): the routes of
    what a job mounts take either."""
    if credentials is None or not mounts.is_grant(credentials.credentials):
        return await current_user(state, request, credentials)
    if credentials.scheme.lower() == "bearer":
        try:
            mounts.open_grant(state.sealer, credentials.credentials)
            return credentials.credentials
        except mounts.BadGrant:
            pass
    raise HTTPException(401, "invalid data grant", headers={"WWW-Authenticate": "Bearer"})


DataReader = Annotated[mounts.Reader, Depends(data_reader)]


def client_address(request: Request) -> str:
    """The caller's address (`forwarded_address` of the socket's peer)."""
    peer = request.client.host if request.client else ""
    trusted = get_state(request).settings.trusted_proxies
    return forwarded_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


def forwarded_address(
    peer: str, forwarded_for: Sequence[str], trusted: Sequence[IPvAnyNetwork]
) -> str:
    """The socket's peer, unless that peer is one of `trusted` proxies; then the right-most
    X-Forwarded-For hop that is not a trusted proxy (the left ones are whatever the client
    claimed). Nobody else's X-Forwarded-For is believed. Sign-in throttling and the rate limits
    key on this one answer."""
    if not trusted or not _within(peer, trusted):
        return peer
    hops = [h.strip() for line in forwarded_for for h in line.split(",")]
    hops = [h for h in hops if h]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _within(host: str, networks: Sequence[IPvAnyNetwork]) -> bool:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(address in network for network in networks)
