"""Languages of the portal: message catalogs (`i18n/<language>.json`) and choosing one.

Every string a person reads on a page comes from a catalog by key; `{name}` placeholders are
filled at render time. English is the reference catalog: a key missing elsewhere falls back to it
(and the tests fail, so that never ships).
"""

from __future__ import annotations

import json
import logging
from functools import cache
from pathlib import Path
from typing import Any

log = logging.getLogger("aicc.portal")

CATALOGS = Path(__file__).parent / "i18n"
DEFAULT = "en"
# language code -> its name, written in that language (what the switch shows)
LANGUAGES = {"en": "English", "zh-CN": "中文"}


@cache
def catalog(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOGS / f"{language}.json").read_text("utf-8"))
    return data


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
