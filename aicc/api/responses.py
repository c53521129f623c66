"""Answers that several routers shape the same way: a service's read model as its response
schema (`out`), a version's manifest and a chunk's bytes (data sets' and models' routes), an
object's rating and reviews (templates' and models').

They live here, not in the router that first needed them, so that no router imports another
(an import-linter contract in pyproject.toml). They are the API's: each turns what a service
returns into an `api/schemas` model or an HTTP response, which services do not know.
"""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel
from sqlalchemy.orm import Session

from aicc.api import schemas
from aicc.core.tenancy import Principal
from aicc.services.data import datasets
from aicc.services.models import reviews

BINARY = {"schema": {"type": "string", "format": "binary"}}
# A route that answers bytes (`response_class=Response, responses=OCTETS`)
OCTETS: dict[int | str, dict[str, Any]] = {200: {"content": {"application/octet-stream": BINARY}}}


def out(model: type[BaseModel], value: object) -> Any:
    """A service's read model (a dataclass) as the response schema `model`."""
    return model.model_validate(value, from_attributes=True)


def manifest_answer(
    session: Session,
    who: Principal,
    name: str,
    number: str,
    project: str | None,
    kind: str = datasets.DATA,
) -> dict[str, Any]:
    """A version's manifest as pulls read it (data sets', models')."""
    target, where = datasets.reference(name, project=project, version=number)
    version, manifest = datasets.open_version(session, who, target, project=where, kind=kind)
    return {"ref": version.ref, "digest": manifest.digest, **manifest.to_json()}


def chunk_answer(data: bytes) -> Response:
    """A chunk's bytes: immutable, so cached for a year."""
    return Response(
        data,
        media_type="application/octet-stream",
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


def reviews_out(session: Session, about: str) -> schemas.Reviews:
    """An object's rating and reviews (templates' and models' routes)."""
    rating = reviews.ratings(session, [about]).get(about, reviews.Rating(None, 0))
    listed = [
        schemas.Review.model_validate(r, from_attributes=True)
        for r in reviews.reviews(session, about)
    ]
    return schemas.Reviews(rating=rating.average, ratings=rating.count, reviews=listed)
