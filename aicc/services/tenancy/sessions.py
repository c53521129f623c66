"""Signing in to the portal: passwords or API tokens, sessions, the throttle, CSRF tokens.

The rules and the storage live here, below the portal, which keeps only the cookies and the
forms (`portal/auth.py`, `portal/signing.py`).

A session is a row in `portal_sessions`; the browser holds its random secret in an HttpOnly,
SameSite=Lax cookie, and the database only its SHA-256. Every session has its own CSRF token,
which each form carries in a hidden field. A session names the API token it was started with,
and every request checks that the token is still valid and the user still enabled: revoking the
token or disabling the user ends the session.

The throttle counts failed sign-ins within `WINDOW` three ways, so that guessing is slow but
nobody can lock a person out from where they usually sign in:
- one name from one address (`PAIR_FAILURES`): a guesser at one address stops there, while the
  same person signs in from anywhere else and other people from that address still can;
- one address, any names (`ADDRESS_FAILURES`): one address spraying many names;
- one name, any addresses (`NAME_FAILURES`): guessing spread over many addresses.
The last two do not apply to a browser that holds the name's *device cookie*, a sealed note set
when that person signed in there with their password (OWASP's device cookies), so failures by
others, at other addresses or behind the same one, never lock a person out of their own browser.
The address is the socket's peer, or a trusted proxy's X-Forwarded-For (`api.deps.client_address`).
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, delete, func, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal, Scope
from aicc.services.common import TooMany
from aicc.services.tenancy import audit, tokens, views
from aicc.services.tenancy.passwords import check_password, hash_password, needs_rehash
from aicc.services.tenancy.tenancy import principal_of
from aicc.store.sealing import Sealer, SealError
from aicc.store.tables.tenancy import PortalSessionRow, SignInFailureRow, TokenRow, UserRow

SESSION_TTL = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
PAIR_FAILURES = 5  # one name from one address
ADDRESS_FAILURES = 20  # one address, any names
NAME_FAILURES = 20  # one name, any addresses (not for browsers with its device cookie)
DEVICE_TTL = timedelta(days=90)

# Checked when the user name is unknown, so a wrong name costs as much time as a wrong password
# and the answer's timing does not tell which names exist.
_DUMMY_HASH = hash_password(secrets.token_hex(16))


@dataclass(frozen=True)
class SignedIn:
    """The person behind a valid session cookie."""

    session_id: str
    who: Principal
    csrf: str
    language: str
    expires_at: datetime


class Throttled(TooMany):
    """Too many failed sign-ins for this name or from this address; `retry_after` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("too many failed sign-ins; retry in {seconds} s", seconds=retry_after)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Started:
    """A session just started: the cookie's secret, and who it belongs to."""

    secret: str
    who: Principal


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a submitted CSRF token with the expected one."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# --- the throttle ---


def check_throttle(
    session: Session, *, username: str, client: str, now: datetime, known_device: bool = False
) -> None:
    """Raise Throttled if this name from this address, or (for a browser without the name's
    device cookie) this address or this name, failed too often within the window."""
    since = now - WINDOW
    name = SignInFailureRow.username == username[:64]
    address = SignInFailureRow.client == client[:100]
    rules: list[tuple[ColumnElement[bool], int]] = [(and_(name, address), PAIR_FAILURES)]
    if not known_device:
        rules.append((address, ADDRESS_FAILURES))
        if username:
            rules.append((name, NAME_FAILURES))
    for where, limit in rules:
        times = list(
            session.scalars(
                select(SignInFailureRow.at)
                .where(where, SignInFailureRow.at > since)
                .order_by(SignInFailureRow.at.desc())
                .limit(limit)
            )
        )
        if len(times) >= limit:
            # Free again when the oldest of the last `limit` failures leaves the window.
            free_at = times[-1] + WINDOW
            raise Throttled(max(1, int((free_at - now).total_seconds()) + 1))


def record_failure(session: Session, *, username: str, client: str, now: datetime) -> None:
    session.execute(delete(SignInFailureRow).where(SignInFailureRow.at <= now - WINDOW))
    session.add(SignInFailureRow(at=now, username=username[:64], client=client[:100]))


def device_cookie(sealer: Sealer, username: str, now: datetime) -> str:
    """The note that this browser signed in as `username` with its password."""
    return sealer.seal(json.dumps({"user": username, "until": (now + DEVICE_TTL).isoformat()}))


def known_device(sealer: Sealer, cookie: str | None, username: str, now: datetime) -> bool:
    """Does the browser hold a valid device cookie of `username`?"""
    if not cookie or not username or len(cookie) > 1000:
        return False
    try:
        note = json.loads(sealer.open(cookie))
        return bool(note["user"] == username and datetime.fromisoformat(note["until"]) > now)
    except (SealError, ValueError, KeyError, TypeError):
        return False


def failures(session: Session, *, username: str, now: datetime) -> int:
    """Failures for this name within the window (tests and operators read this)."""
    query = select(func.count()).where(
        SignInFailureRow.username == username, SignInFailureRow.at > now - WINDOW
    )
    return session.scalar(query.select_from(SignInFailureRow)) or 0


# --- who is signing in ---


def _user_by_password(session: Session, username: str, password: str) -> UserRow | None:
    """The enabled user with this name and password, or None. Always runs one hash, so an
    unknown name takes as long as a wrong password. A hash made with older parameters is
    replaced by one with today's, in the sign-in's transaction."""
    user = session.scalar(select(UserRow).where(UserRow.name == username)) if username else None
    if user is None or user.password_hash is None:
        check_password(password, _DUMMY_HASH)
        return None
    if not check_password(password, user.password_hash) or user.disabled:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


def _user_by_token(session: Session, secret: str) -> tuple[UserRow, views.Token] | None:
    """The user behind a valid API token, and the token (unknown, expired, revoked or
    disabled: None; limited to some scopes too: the portal does everything its user may)."""
    token = tokens.find(session, secret.strip())
    if token is not None and token.scopes != [Scope.ALL.value]:
        return None
    user = session.get(UserRow, token.user_id) if token is not None else None
    return (user, token) if user is not None and token is not None else None


# --- signing in ---


def sign_in(
    session: Session,
    *,
    username: str = "",
    password: str = "",
    token: str = "",
    client: str,
    now: datetime,
    known_device: bool = False,
    language: str | None = None,
) -> Started | None:
    """Sign in with an API token (when given) or a name and password: a new session, or None
    for a wrong name, password or token (counted as a failure). Raises Throttled first when
    this name or address failed too often. `language`, chosen before signing in, becomes the
    person's. The sign-in is audited."""
    use_token = bool(token.strip())
    typed = "" if use_token else username
    check_throttle(session, username=typed, client=client, now=now, known_device=known_device)
    used: views.Token | None = None
    if use_token:
        found = _user_by_token(session, token)
        user, used = found if found is not None else (None, None)
    else:
        user = _user_by_password(session, username, password)
    if user is None:
        record_failure(session, username=typed, client=client, now=now)
        return None
    secret, _ = start(session, user, client=client, now=now, token=used)
    if language is not None:
        user.language = language
    who = principal_of(session, user)
    method = "token" if use_token else "password"
    audit.record(session, who, "portal.sign_in", "user", user.id, detail={"by": method})
    return Started(secret, who)


# --- sessions ---


def start(
    session: Session,
    user: UserRow,
    *,
    client: str,
    now: datetime,
    token: views.Token | None = None,
) -> tuple[str, str]:
    """A new session for `user`, signed in with `token` or (None) a password: returns (the
    cookie's secret, the session's CSRF token). It ends when the token does, if sooner.

    Expired sessions of anyone are removed on the way, so the table stays small. The failures
    of this name from this address are forgiven; failures elsewhere still count."""
    session.execute(delete(PortalSessionRow).where(PortalSessionRow.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    csrf = new_csrf()
    expires_at = now + SESSION_TTL
    if token is not None and token.expires_at is not None:
        expires_at = min(expires_at, token.expires_at)
    session.add(
        PortalSessionRow(
            id=tokens.digest(secret),
            user_id=user.id,
            token_id=token.id if token is not None else None,
            csrf=csrf,
            client=client[:100],
            created_at=now,
            expires_at=expires_at,
        )
    )
    typed = "" if token is not None else user.name[:64]
    session.execute(
        delete(SignInFailureRow).where(
            and_(SignInFailureRow.username == typed, SignInFailureRow.client == client[:100])
        )
    )
    return secret, csrf


def resolve(session: Session, secret: str | None, *, now: datetime) -> SignedIn | None:
    """The person behind a session cookie, or None: unknown, expired, the user disabled, or the
    token it was started with revoked or expired (checked on every request)."""
    if not secret or len(secret) > 200:
        return None
    row = session.get(PortalSessionRow, tokens.digest(secret))
    if row is None or row.expires_at <= now:
        return None
    if row.token_id is not None and not tokens.usable(session.get(TokenRow, row.token_id), now):
        return None
    user = session.get(UserRow, row.user_id)
    if user is None or user.disabled:
        return None
    return SignedIn(
        session_id=row.id,
        who=principal_of(session, user),
        csrf=row.csrf,
        language=user.language,
        expires_at=row.expires_at,
    )


def end(session: Session, who: Principal, session_id: str) -> None:
    """Sign out: the session ends, audited as its sign-in was."""
    session.execute(delete(PortalSessionRow).where(PortalSessionRow.id == session_id))
    audit.record(session, who, "portal.sign_out", "user", who.user_id)


def set_language(session: Session, who: Principal, language: str) -> None:
    """Remember the signed-in person's language (their own row only)."""
    user = session.get(UserRow, who.user_id)
    if user is not None:
        user.language = language
