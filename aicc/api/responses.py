"""Answers that several routers shape the same way: a route that answers bytes, and a chunk's
bytes (data sets' and models' routes).

They live here, not in the router that first needed them, so that no router imports another
(an import-linter contract in pyproject.toml). Read models are not shaped here: a service
returns its context's view (`services/<context>/views.py`) and the route answers it as-is.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response

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
