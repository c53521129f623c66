"""What every resource's schemas share: pages, request bodies that refuse unknown fields, names,
and the error answer documented on every route (docs/api.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """One invalid input of a 422: where it is (`loc`), what is wrong (`msg`), of which kind."""

    model_config = ConfigDict(extra="allow")  # FastAPI adds `input` and `ctx`
    loc: list[str | int]
    msg: str
    type: str


class Error(BaseModel):
    """Every error answer: a sentence saying what to fix, or FastAPI's list naming the fields."""

    detail: str | list[Problem]


# Documented on every API route, so a client (and the fuzzer, tests/api/test_fuzz.py) knows each
# status it may get; any other is a bug. Spelled out as JSON: FastAPI would give `model` the media
# type of a plain-text route, but its errors are JSON too. The schema is one component, `Error`
# (`document_errors`), so a generated client has one error class, not one per route and status.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    for status, description in {
        400: "The request cannot be done as asked",
        401: "Missing, invalid, expired or revoked bearer token",
        403: "Your own tenant's object, but your role may not do this",
        404: "No such object, or another tenant's",
        409: "Conflicts with the object's current state",
        413: "The request or an upload is too large",
        422: "Invalid input: `detail` names the field",
        429: "Too many requests, or over a quota",
    }.items()
}


def document_errors(app: FastAPI) -> None:
    """Add `Error` and `Problem` to the components of `app`'s OpenAPI document, where ERRORS
    points."""
    schema = Error.model_json_schema(ref_template="#/components/schemas/{model}")
    components = {"Error": schema, **schema.pop("$defs")}
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        spec = build()
        spec.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return spec

    app.openapi = openapi  # type: ignore[method-assign]
