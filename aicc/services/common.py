"""What every service shares: the clock, new ids, the read models' base, and the errors the API
turns into 4xx answers. Pydantic, the standard library and `aicc.core` only: every context's
`views.py` builds on `View`, and the SDK imports those modules without the server's packages."""

from __future__ import annotations

import copy
import dataclasses
import functools
import secrets
import ssl
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict

from aicc.core import periods
from aicc.core.ids import make_id

Clock = Callable[[], datetime]
M = TypeVar("M")
B = TypeVar("B", bound=BaseModel)


class View(BaseModel):
    """A read model: frozen, as what a service hands out is read once and never written back."""

    model_config = ConfigDict(frozen=True)


# Values a read model can share with the row: nothing can change them in place.
_IMMUTABLE = frozenset({str, int, float, bool, type(None), datetime, date, Decimal})
_FIELDS: dict[type, tuple[str, ...]] = {}  # each read model's field names


def read(model: type[M], row: Any, /, **values: Any) -> M:
    """The read model `model` (a frozen dataclass) of a stored row: its fields by name, copied,
    so what a service hands out neither writes to the database nor goes stale with the session;
    `values` gives those worked out or named otherwise, as `from_row` takes them."""
    names = _FIELDS.get(model)
    if names is None:
        names = _FIELDS[model] = tuple(f.name for f in dataclasses.fields(model))  # type: ignore[arg-type]
    for name in names:
        if name not in values:
            value = getattr(row, name)
            values[name] = value if type(value) in _IMMUTABLE else copy.deepcopy(value)
    return model(**values)


def from_row(model: type[B], row: Any, /, **values: Any) -> B:
    """The pydantic read model `model` of a stored row: each field read from the row's attribute
    of the same name, unless `values` gives it (a figure worked out, a column named otherwise).
    Validation copies the row's lists and dicts, so the model shares none with the session."""
    given = {name: getattr(row, name) for name in model.model_fields if name not in values}
    return model.model_validate({**given, **values})


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc(at: datetime) -> datetime:
    """A time in UTC: stored times are UTC, and SQLite hands them back naive."""
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def new_id(prefix: str) -> str:
    return make_id(prefix, unix_ms=time.time_ns() // 1_000_000, random80=secrets.randbits(80))


class ServiceError(Exception):
    """A request that cannot be done as asked; `status` is the HTTP code the API answers with.

    The message is an English template with `{name}` placeholders and their values, e.g.
    `NotFound("job {job_id} not found", job_id=job_id)`: the API answers with `detail`, the
    template filled in, and the portal looks the template up in its catalog to show it in the
    reader's language (`portal/i18n`). Never an f-string: a filled-in text cannot be translated."""

    status = 400

    def __init__(self, template: str, /, **params: object) -> None:
        self.template = template
        self.params = params
        self.detail = template.format(**params) if params else template
        super().__init__(self.detail)


class NotFound(ServiceError):
    """Missing, or belonging to another tenant: the two look the same from outside."""

    status = 404


class Forbidden(ServiceError):
    """Your own tenant's object, but your role may not do this."""

    status = 403


class Conflict(ServiceError):
    status = 409


class Invalid(ServiceError):
    status = 422


def asked_month(text: str) -> str:
    """A month as a caller wrote it (YYYY-MM), checked: else a 422 saying how to write it."""
    try:
        return periods.parse_month(text)
    except ValueError as err:
        raise Invalid(f"month: {err}") from None


class TooMany(ServiceError):
    status = 429


class TooLarge(ServiceError):
    status = 413


@functools.cache
def tls() -> ssl.SSLContext:
    """The certificate authorities the server's outgoing clients trust (certifi's, httpx's
    default), loaded once a process and shared by them: a client that loads its own holds the
    GIL 20 to 25 ms doing it (the loops' probes and culler, the notifications' deliveries)."""
    return httpx.create_ssl_context(trust_env=False)
