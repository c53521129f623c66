"""The portal's two tables: signed-in sessions, and failed sign-ins (for throttling).

Migration 0003 creates them, 0008 adds a session's token. They live here, next to the code that
uses them, and share the store's `Base`, so the schema and the migrations stay one set.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables import Base


class PortalSessionRow(Base):
    """One signed-in browser. The cookie holds a random secret; only its SHA-256 is stored, so
    a copy of the database does not let anyone sign in as someone else."""

    __tablename__ = "portal_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie secret
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    # The API token it was started with (None: a password): revoking the token ends it.
    token_id: Mapped[str | None] = mapped_column(
        ForeignKey("tokens.id", name="fk_portal_sessions_token_id_tokens"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))  # the forms' hidden token for this session
    client: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SignInFailureRow(Base):
    """A failed sign-in: by user name (as typed) and by client address, for the throttle."""

    __tablename__ = "portal_sign_in_failures"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(100), index=True)
