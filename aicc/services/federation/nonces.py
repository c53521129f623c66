"""Replay protection for signed federation calls: each nonce a peer signs with is accepted once.

`signing.check` proves who signed a request and that its time is within `MAX_SKEW_S` of this
site's clock; within that window the same bytes could be sent again (issue 35: one signed
`POST /jobs` replayed 3 times in 10 s made 3 jobs). `remember` records (site, nonce) in the
store, in its own transaction before the request's work, and refuses a pair seen before; a
row is kept until the request's signed time leaves the window (after that the signature is
refused as stale), then swept by the next call. Durable: a restart does not reopen the window.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aicc.services.common import ServiceError
from aicc.services.federation.signing import MAX_SKEW_S, Signed
from aicc.store.tables.base import table
from aicc.store.tables.federation import FederationNonceRow

_NONCES = table(FederationNonceRow)


class Replayed(ServiceError):
    """A signed request whose nonce this site has accepted before (401: not proof of a caller)."""

    status = 401


def remember(session: Session, *, signed: Signed, now: datetime) -> None:
    """Record the request's nonce, or Replayed when the site used it before. A concurrent
    copy of the same request loses on the primary key (IntegrityError at flush: Replayed)."""
    session.execute(delete(_NONCES).where(_NONCES.c.expires_at < now))
    seen = session.execute(
        select(_NONCES.c.site).where(_NONCES.c.site == signed.site, _NONCES.c.nonce == signed.nonce)
    ).first()
    if seen is not None:
        raise _replayed(signed)
    expires = signed.at + timedelta(seconds=MAX_SKEW_S)
    try:
        with session.begin_nested():
            session.execute(
                insert(_NONCES).values(site=signed.site, nonce=signed.nonce, expires_at=expires)
            )
    except IntegrityError:
        raise _replayed(signed) from None


def _replayed(signed: Signed) -> Replayed:
    return Replayed(
        "a replayed request: site {site} signed nonce {nonce} before; sign each request anew",
        site=signed.site,
        nonce=signed.nonce,
    )
