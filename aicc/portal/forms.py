"""Forms that create things: their values, and the errors to show next to each field.

A form's input is checked by the API's own request models (`api.schemas`), then handed to the
service, so the portal accepts exactly what the API accepts. Errors come back as message keys
(translated on the page) plus, for what the service said, its own words (a `Message`, shown in
the reader's language where the catalog has it); a bad input is never a 500. A service call
runs in a savepoint, so a refusal halfway leaves nothing behind.

What a larger form posts is one pydantic model (`Posted`), read by FastAPI from the body
(`Annotated[SomeForm, Form()]`) rather than a parameter per input, so that two routes taking the
same form (a deployment's `/deploy` and `/deployments/{name}/edit`) declare it once and the page
gets what was typed as one dict. Its inputs are `text_input` fields: a capped string whose empty
value takes the default, as a plain `Form()` parameter's does; one too long is FastAPI's 422.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.orm import Session

from aicc.core.mistakes import InputError
from aicc.portal.i18n import Message
from aicc.services.common import Conflict, Forbidden, NotFound, ServiceError

M = TypeVar("M", bound=BaseModel)

# pydantic's error types -> the page's message keys
_KINDS = {
    "missing": "form.error.required",
    "string_pattern_mismatch": "form.error.pattern",
    "string_too_short": "form.error.too_short",
    "string_too_long": "form.error.too_long",
    "enum": "form.error.choice",
    "literal_error": "form.error.choice",
    "int_parsing": "form.error.number",
    "greater_than_equal": "form.error.range",
    "less_than_equal": "form.error.range",
}


@dataclass(frozen=True)
class FieldError:
    key: str  # a message key
    detail: Message | str = ""  # the service's own words, when it said something specific


@dataclass
class Form:
    """One form on a page: which, what was typed, what is wrong with it."""

    name: str
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, FieldError] = field(default_factory=dict)

    def value(self, key: str, default: str = "") -> str:
        return self.values.get(key, default)

    def error(self, key: str) -> FieldError | None:
        return self.errors.get(key)

    @property
    def general(self) -> FieldError | None:
        """An error that belongs to no one field (a refusal by role, say)."""
        return self.errors.get("")


class Rejected(Exception):
    """The form's input was refused; `form.errors` says why, field by field, and `status` is
    the HTTP status of the page that shows them (422, or 403 when the role forbids it)."""

    def __init__(self, form: Form, status: int = 422) -> None:
        super().__init__(form.name)
        self.form = form
        self.status = status


def parse(form: Form, model: type[M], data: dict[str, Any], fields: dict[str, str]) -> M:
    """`model` from `data`, or Rejected with an error per field. `fields` maps the model's
    field names to the form's input names where they differ."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        for problem in err.errors():
            name = str(problem["loc"][0]) if problem["loc"] else ""
            empty = problem.get("input") in ("", None)
            key = (
                "form.error.required"
                if empty
                else _KINDS.get(problem["type"], "form.error.invalid")
            )
            # the domain's own refusal (a control character in a title) says what to fix
            refusal = (problem.get("ctx") or {}).get("error")
            detail: Message | str = ""
            if isinstance(refusal, InputError):
                detail = Message(refusal.template, refusal.params)
            form.errors.setdefault(fields.get(name, name), FieldError(key, detail))
        raise Rejected(form) from None


def checked(form: Form, model: type[M], data: dict[str, Any]) -> M:
    """`model` from `data`, or Rejected with pydantic's own words on the field each is about (a
    rule of two fields on the form), where `parse` says only the kind of mistake."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        for problem in err.errors(include_url=False):
            name = str(problem["loc"][0]) if problem["loc"] else ""
            if problem.get("input") in ("", None) and name:
                form.errors.setdefault(name, FieldError("form.error.required"))
            else:
                message = str(problem["msg"]).removeprefix("Value error, ")
                form.errors.setdefault(name, FieldError("form.error.invalid", message))
        raise Rejected(form) from None


@contextmanager
def service_call(
    session: Session, form: Form, *, name_field: str = "name", missing_is_404: bool = False
) -> Iterator[None]:
    """Run a service call in a savepoint; its refusal becomes the form's error (Rejected).
    `missing_is_404`: a NotFound stays the 404 page (the form names another tenant's object)."""
    try:
        with session.begin_nested():
            yield
    except ServiceError as err:
        if missing_is_404 and isinstance(err, NotFound):
            raise
        form.errors.update(_service_errors(err, name_field))
        raise Rejected(form, 403 if isinstance(err, Forbidden) else 422) from None


def _service_errors(err: ServiceError, name_field: str) -> dict[str, FieldError]:
    message = Message.of(err)
    if isinstance(err, Conflict):
        return {name_field: FieldError("form.error.exists")}
    if isinstance(err, Forbidden):
        return {"": FieldError("form.error.forbidden", message)}
    named = message.field()  # "password: use at least 8 characters"
    if named is not None and "." not in named[0]:
        return {named[0]: FieldError("form.error.invalid", named[1])}
    if isinstance(err, NotFound):
        return {"": FieldError("form.error.not_found", message)}
    return {"": FieldError("form.error.invalid", message)}


class Posted(BaseModel):
    """A form's inputs as posted (the CSRF token is `auth.Posting`'s)."""

    def typed(self, *names: str) -> dict[str, str]:
        """What was typed, to show again with the form's errors: the inputs `names` (all when
        none are named)."""
        values = self.model_dump()
        return {n: values[n] for n in names} if names else values


def text_input(max_length: int, default: str = "", **rules: Any) -> Any:
    """A text input of at most `max_length` characters; `default` when empty or absent."""
    return Field(default, max_length=max_length, **rules)


class Rated(Posted):
    """A rating form (a data set's page, a need's): 1 to 5, and what the person found, as the
    API's `ReviewIn` then reads it."""

    rating: str = text_input(10)
    text: str = text_input(4000)


def blank_to_none(value: str) -> str | None:
    value = value.strip()
    return value or None
