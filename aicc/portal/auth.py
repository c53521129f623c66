"""Signing in to the portal: passwords or API tokens, sessions, the throttle, CSRF tokens.

A session is a row in `portal_sessions`; the browser holds its random secret in an HttpOnly,
SameSite=Lax cookie, and the database only its SHA-256. Every session has its own CSRF token,
which each form carries in a hidden field. Failed sign-ins are counted per user name and per
client address: after `MAX_FAILURES` within `WINDOW`, sign-ins for that name or from that address
are refused until the oldest failure ages out of the window.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from aicc.core.tenancy import Principal
from aicc.portal.models import PortalSessionRow, SignInFailureRow
from aicc.services import tokens
from aicc.services.tenancy import check_password, hash_password, principal_of
from aicc.store.tables import UserRow

SESSION_TTL = timedelta(hours=12)
WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5

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


class Throttled(Exception):
    """Too many failed sign-ins for this name or from this address; `retry_after` in seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; retry in {retry_after} s")
        self.retry_after = retry_after


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_csrf() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison of a submitted CSRF token with the expected one."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# --- the throttle ---


def check_throttle(session: Session, *, username: str, client: str, now: datetime) -> None:
    """Raise Throttled if this name or this address failed `MAX_FAILURES` times in the window."""
    since = now - WINDOW
    for column, value in ((SignInFailureRow.username, username), (SignInFailureRow.client, client)):
        if not value:
            continue
        times = list(
            session.scalars(
                select(SignInFailureRow.at)
                .where(column == value, SignInFailureRow.at > since)
                .order_by(SignInFailureRow.at.desc())
                .limit(MAX_FAILURES)
            )
        )
        if len(times) >= MAX_FAILURES:
            # Free again when the oldest of the last MAX_FAILURES failures leaves the window.
            free_at = times[-1] + WINDOW
            raise Throttled(max(1, int((free_at - now).total_seconds()) + 1))


def record_failure(session: Session, *, username: str, client: str, now: datetime) -> None:
    session.execute(delete(SignInFailureRow).where(SignInFailureRow.at <= now - WINDOW))
    session.add(SignInFailureRow(at=now, username=username[:64], client=client[:100]))


def failures(session: Session, *, username: str, now: datetime) -> int:
    """Failures for this name within the window (tests and operators read this)."""
    query = select(func.count()).where(
        SignInFailureRow.username == username, SignInFailureRow.at > now - WINDOW
    )
    return session.scalar(query.select_from(SignInFailureRow)) or 0


# --- who is signing in ---


def user_by_password(session: Session, username: str, password: str) -> UserRow | None:
    """The enabled user with this name and password, or None. Always runs one scrypt."""
    user = session.scalar(select(UserRow).where(UserRow.name == username)) if username else None
    if user is None or user.password_hash is None:
        check_password(password, _DUMMY_HASH)
        return None
    if not check_password(password, user.password_hash) or user.disabled:
        return None
    return user


def user_by_token(session: Session, secret: str) -> UserRow | None:
    """The user behind a valid API token (unknown, expired, revoked or disabled: None)."""
    who, _ = tokens.authenticate(session, secret.strip())
    return session.get(UserRow, who.user_id) if who is not None else None


# --- sessions ---


def start(session: Session, user: UserRow, *, client: str, now: datetime) -> tuple[str, str]:
    """A new session for `user`: returns (the cookie's secret, the session's CSRF token).

    Expired sessions of anyone are removed on the way, so the table stays small."""
    session.execute(delete(PortalSessionRow).where(PortalSessionRow.expires_at <= now))
    secret = secrets.token_urlsafe(32)
    csrf = new_csrf()
    session.add(
        PortalSessionRow(
            id=_digest(secret),
            user_id=user.id,
            csrf=csrf,
            client=client[:100],
            created_at=now,
            expires_at=now + SESSION_TTL,
        )
    )
    session.execute(
        delete(SignInFailureRow).where(
            or_(SignInFailureRow.username == user.name, SignInFailureRow.at <= now - WINDOW)
        )
    )
    return secret, csrf


def resolve(session: Session, secret: str | None, *, now: datetime) -> SignedIn | None:
    """The person behind a session cookie, or None (unknown, expired, or the user disabled)."""
    if not secret or len(secret) > 200:
        return None
    row = session.get(PortalSessionRow, _digest(secret))
    if row is None or row.expires_at <= now:
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


def end(session: Session, session_id: str) -> None:
    session.execute(delete(PortalSessionRow).where(PortalSessionRow.id == session_id))


def set_language(session: Session, who: Principal, language: str) -> None:
    """Remember the signed-in person's language (their own row only)."""
    user = session.get(UserRow, who.user_id)
    if user is not None:
        user.language = language
