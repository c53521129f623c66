"""Languages of the portal: message catalogs (`i18n/<language>.json`) and choosing one.

Every string a person reads on a page comes from a catalog by key; `{name}` placeholders are
filled at render time. English is the reference catalog: a key missing elsewhere falls back to it
(and the tests fail, so that never ships).

The services' refusals (`ServiceError`) are English templates with values: a page shows them
as a `Message`, and `Translator.message` looks the template up in `i18n/errors.<language>.json`
(English template -> its translation, as gettext does), falling back to the English text.

A notification is stored as its English templates and values (services/notify/events.py):
`Translator.notice` looks the template up in `i18n/notify.<language>.json`.

What the server stores already filled in (a job's events and message, why it waits, why a run
made no model) is English text, not a template: `Translator.said` matches it against the
templates of `i18n/said.<language>.json` at render time (no stored key, no migration), and falls
back to the text as it is.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from aicc.services.common import ServiceError

log = logging.getLogger("aicc.portal")

CATALOGS = Path(__file__).parent / "i18n"
DEFAULT = "en"
# language code -> its name, written in that language (what the switch shows)
LANGUAGES = {"en": "English", "zh-CN": "中文"}


@cache
def catalog(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGS / f"{language}.json").read_text("utf-8"))
    return data


@cache
def error_catalog(language: str) -> dict[str, str]:
    """The services' message templates in `language` (none for English: they are English)."""
    path = CATALOGS / f"errors.{language}.json"
    data: dict[str, str] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    return data


@cache
def notice_catalog(language: str) -> dict[str, str]:
    """The notifications' templates in `language` (`notify.<language>.json`; none for English:
    the templates are English), by their English template, as services/notify/events.py
    stores them with an event."""
    path = CATALOGS / f"notify.{language}.json"
    data: dict[str, str] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    return data


# A placeholder of `said` whose value is itself a code or a message, and how it is translated.
_SAID_VALUES = {"state": "state", "reason": "job.reason", "within": "topology"}


@cache
def said_catalog(language: str) -> tuple[tuple[re.Pattern[str], str], ...]:
    """`said.<language>.json` as (pattern of the English template, translation), the longest
    templates first, so that the most specific one matches (none for English)."""
    path = CATALOGS / f"said.{language}.json"
    data: dict[str, str] = json.loads(path.read_text("utf-8")) if path.is_file() else {}
    return tuple((said_pattern(k), data[k]) for k in sorted(data, key=len, reverse=True))


def said_pattern(template: str) -> re.Pattern[str]:
    """A template ("replica {index} exited with code {code}") as a pattern whose groups are
    its values."""
    parts = re.split(r"\{([a-z_]+)\}", template)
    out = "".join(
        f"(?P<{p}>{_WORD if p in _ONE_WORD else '.+?'})" if i % 2 else re.escape(p)
        for i, p in enumerate(parts)
    )
    return re.compile(out, re.S)


# Placeholders whose values are one word (an index, a count, an id, a state): their pattern
# does not cross a space, so "replica {index} exited ..." never swallows a longer message.
_ONE_WORD = frozenset(
    {
        "index", "code", "job", "state", "attempt", "retries", "mib", "signal", "count",
        "fitted", "replicas", "ready", "desired", "failures", "revision", "node", "user",
        "seconds", "limit", "queue", "within",
    }
)  # fmt: skip
_WORD = r"\S+?"


@dataclass(frozen=True)
class Message:
    """A service's message: its English template and the values for its placeholders."""

    template: str
    params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, err: ServiceError) -> Message:
        return cls(err.template, err.params)

    def field(self) -> tuple[str, Message] | None:
        """("password", "use at least 8 characters") for "password: use at least 8 characters":
        the input a message is about, when it starts with one."""
        head, sep, rest = self.template.partition(": ")
        if sep and head.replace("_", "").replace(".", "").isalnum():
            return head, Message(rest, self.params)
        return None

    def under(self, name: str) -> Message:
        """This message about the input `name` ("resources: ...")."""
        return Message(f"{name}: {self.template}", self.params)

    def __str__(self) -> str:
        return self.template.format(**self.params) if self.params else self.template


def supported(language: str | None) -> str | None:
    """The supported language code for `language` (`zh`, `zh-cn`, `zh-Hans` -> `zh-CN`)."""
    if not language:
        return None
    lowered = language.strip().lower()
    for code in LANGUAGES:
        if lowered == code.lower():
            return code
    if lowered.startswith("zh"):
        return "zh-CN"
    if lowered.startswith("en"):
        return "en"
    return None


def negotiate(accept_language: str | None) -> str:
    """The best supported language from an `Accept-Language` header, by its q-values."""
    choices: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")):
        name, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        code = supported(name)
        if code is not None and quality > 0:
            choices.append((-quality, position, code))
    return min(choices)[2] if choices else DEFAULT


class Translator:
    """`t("jobs.title")`, `t("dashboard.greeting", name="alice")`: a message in one language."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT
        self._messages = catalog(self.language)
        self._fallback = catalog(DEFAULT)

    def __call__(self, key: str, /, **params: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            text = self._fallback.get(key)
            if text is None:
                log.warning("portal: no message %r", key)
                return key
        return text.format(**params) if params else text

    def has(self, key: str) -> bool:
        return key in self._messages or key in self._fallback

    def maybe(self, prefix: str, code: str | None, default: str | None = None) -> str:
        """The message `prefix.code` if the catalog has one, else the code itself: for codes
        (states, reasons) whose list grows with the server."""
        if not code:
            return default or ""
        key = f"{prefix}.{code}"
        return self(key) if self.has(key) else (default if default is not None else code)

    def message(self, text: Message | str) -> str:
        """A service's message in this language; a template the catalog lacks stays English.
        "field: text" is found whole or, failing that, as its text after the field's name."""
        if isinstance(text, str):
            text = Message(text)
        known = error_catalog(self.language)
        template = known.get(text.template)
        if template is None:
            named = text.field()
            if named is not None and named[1].template in known:
                template = f"{named[0]}: {known[named[1].template]}"
        if template is not None and template != text.template:
            try:
                return template.format(**text.params) if text.params else template
            except (KeyError, IndexError, ValueError):
                log.warning("portal: the translation of %r does not fit its values", text.template)
        return str(text)

    def notice(self, text: Message) -> str:
        """A notification's subject or body (its English template and values) in this
        language; a template the catalog lacks stays English."""
        template = notice_catalog(self.language).get(text.template, text.template)
        try:
            return template.format(**text.params)
        except (KeyError, IndexError, ValueError):
            log.warning("portal: the notice %r does not fit its values", text.template)
            return str(text)

    def said(self, text: str | None) -> str:
        """What the server stored as filled English (an event's or a job's message, a wait
        reason) in this language: a service's message as `message` finds it, else the template
        of `said.<language>.json` that matches it with the most of its own words (the least
        left to its values), its values put back (a state or a reason code translated, a nested
        message too); else the text as it is."""
        if not text:
            return ""
        found = self.message(text)
        if found != text:
            return found
        matches = [
            (sum(len(v) for v in m.groupdict().values()), m, template)
            for pattern, template in said_catalog(self.language)
            if (m := pattern.fullmatch(text)) is not None
        ]
        if matches:
            _, match, template = min(matches, key=lambda found: found[0])
            values = dict(match.groupdict())
            for name, value in values.items():
                if name in _SAID_VALUES:
                    values[name] = self.maybe(_SAID_VALUES[name], value)
                elif name == "why" and value != text:
                    values[name] = self.said(value)
            return template.format(**values)
        return text
