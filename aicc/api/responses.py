"""Answers that several routers shape the same way: a route that answers bytes, and a chunk's
bytes (data sets' and models' routes).

They live here, not in the router that first needed them, so that no router imports another
(an import-linter contract in pyproject.toml). Read models are not shaped here: a service
returns its context's view (`services/<context>/views.py`) and the route answers it as-is.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

BINARY = {"schema": {"type": "string", "format": "binary"}}
# A route that answers bytes (`response_class=Response, responses=OCTETS`)
OCTETS: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": BINARY}}}


def chunk_answer(data: bytes) -> Response:
    """A chunk's bytes: immutable, so cached for a year."""
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


# --- GA4GH TES (routers/tes.py): errors in GA4GH's shape ---------------------------------------

TES_PREFIX = "/ga4gh/tes/v1"


class TesError(BaseModel):
    """An error of the TES routes: GA4GH's `{msg, status_code}`, and AICC's `detail` (the same
    words) for clients of the native API. Bad input is a 400 there, as TES clients expect."""

    msg: str
    status_code: int
    detail: str


TES_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "model": TesError}
    for status, description in {
        400: "The task cannot be run as asked: `msg` says why and what to send instead",
        401: "Missing, invalid, expired or revoked bearer token",
        403: "Your own tenant's task or project, but your role may not do this",
        404: "No such task, or another tenant's",
        413: "The request is too large",
        429: "Too many requests, or over a quota",
    }.items()
}


def is_tes(path: str) -> bool:
    return path == TES_PREFIX or path.startswith(TES_PREFIX + "/")


def tes_error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """TES's error answer; a 422 of the native API's rules is TES's 400."""
    status = 400 if status == 422 else status
    body = TesError(msg=message, status_code=status, detail=message)
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)
