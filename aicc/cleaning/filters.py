"""Record filters: empty or whitespace-only, too short, too long, not in a wanted language."""

from __future__ import annotations

from dataclasses import dataclass

from aicc.cleaning.language import LANGUAGES, language


@dataclass(frozen=True)
class Filter:
    """Which records to drop. Lengths are characters of the text without surrounding
    whitespace; `langs` (codes of `language.LANGUAGES`) keeps only texts in those languages."""

    min_chars: int = 0
    max_chars: int | None = None
    langs: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if self.min_chars < 0:
            raise ValueError(f"min chars {self.min_chars}: a count from 0")
        if self.max_chars is not None and self.max_chars < max(self.min_chars, 1):
            raise ValueError(
                f"max chars {self.max_chars}: at least 1 and at least min chars ({self.min_chars})"
            )
        unknown = sorted((self.langs or frozenset()) - LANGUAGES)
        if unknown:
            raise ValueError(
                f"unknown language {', '.join(unknown)}; known: {', '.join(sorted(LANGUAGES))}"
            )
        if self.langs is not None and not self.langs:
            raise ValueError("no language to keep: name at least one, or leave the list out")

    def reason(self, text: str) -> str | None:
        """Why `text` is dropped (`empty`, `short`, `long`, `lang`), or None to keep it."""
        size = len(text.strip())
        if size == 0:
            return "empty"
        if size < self.min_chars:
            return "short"
        if self.max_chars is not None and size > self.max_chars:
            return "long"
        if self.langs is not None and language(text) not in self.langs:
            return "lang"
        return None
