"""Bad input the domain refuses, kept as its English template and the values in it: the CLI and
the API print it filled in, the portal says it in its reader's language (errors.zh-CN.json has
the template). A ValueError, so pydantic reports it as a validation error of its field.

A model that reads people's input reports every mistake of it in one ValidationError
(`all_at_once`), and a service names the first in one line (`first_problem`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError, PydanticKnownError

M = TypeVar("M")

# A mistake found while reading people's input, kept to be reported beside the others: the key
# they wrote, its value, and why it does not hold.
Mistake = tuple[str, Any, ValueError]


class InputError(ValueError):
    def __init__(self, template: str, **params: Any) -> None:
        super().__init__(template.format(**params) if params else template)
        self.template = template
        self.params = params


def all_at_once(name: str, data: Any, mistakes: list[Mistake], handler: Callable[[Any], M]) -> M:
    """The model from what parsed, or one ValidationError with every mistake of the input: the
    units' (`mistakes`, left out of `data`) and the fields' own. A spec with several mistakes
    gets them all in one answer (`max_runtime: 2x` used to hide `replicas: many`)."""
    found = [
        InitErrorDetails(type="value_error", loc=(key,), input=value, ctx={"error": err})
        for key, value, err in mistakes
    ]
    try:
        model = handler(data)
    except ValidationError as err:
        if not found:
            raise
        found += [_again(e) for e in err.errors(include_url=False)]
    if found:
        raise ValidationError.from_exception_data(name, found)
    return model


def _again(error: ErrorDetails) -> InitErrorDetails:
    """One of pydantic's errors, to be raised again beside others: a type pydantic knows keeps
    its context (the portal words and translates it from there), any other its message."""
    context = error.get("ctx") or {}
    try:
        PydanticKnownError(error["type"], context or None)  # type: ignore[arg-type]
    except (KeyError, TypeError):  # a custom type (`_problem`)
        message = error["msg"].replace("{", "{{").replace("}", "}}")
        return error_at(error["type"], error["loc"], message, error["input"])
    return InitErrorDetails(type=error["type"], loc=error["loc"], input=error["input"], ctx=context)


def error_at(kind: str, loc: tuple[str | int, ...], message: str, value: Any) -> InitErrorDetails:
    return InitErrorDetails(type=PydanticCustomError(kind, message), loc=loc, input=value)


def first_problem(err: ValidationError, prefix: str = "") -> str:
    """A validation error as one line naming the field: `resources.cpu: must be ...`."""
    first = err.errors(include_url=False)[0]
    where = ".".join(str(part) for part in (*([prefix] if prefix else []), *first["loc"]))
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
