"""Bad input the domain refuses, kept as its English template and the values in it: the CLI and
the API print it filled in, the portal says it in its reader's language (errors.zh-CN.json has
the template). A ValueError, so pydantic reports it as a validation error of its field."""

from __future__ import annotations

from typing import Any

# A mistake found while reading people's input, kept to be reported beside the others: the key
# they wrote, its value, and why it does not hold.
Mistake = tuple[str, Any, ValueError]


class InputError(ValueError):
    def __init__(self, template: str, **params: Any) -> None:
        super().__init__(template.format(**params) if params else template)
        self.template = template
        self.params = params
