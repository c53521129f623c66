"""Content safety's matching (docs/gateway.md, "Content safety"): an operator's word and pattern
lists compiled into one expression, a prompt checked whole, and a streamed completion checked as
it comes with a window of what came before, so a word split across two chunks is still caught.

Pure: no I/O. The gateway (`gateway/safety.py`) builds a `Policy` per deployment from the
settings, and records and counts what a policy found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Action = Literal["block", "mask"]
MASK = "*"


@dataclass(frozen=True)
class Rule:
    """Words (matched literally, case-folded) and regular expressions under one name."""

    name: str
    words: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    action: Action = "block"


@dataclass(frozen=True)
class Hit:
    """What a check found: the first rule matched, its action, and where."""

    rule: str
    action: Action
    start: int
    end: int


class Policy:
    """Rules compiled into one alternation (one scan per text, however many rules): a named
    group per rule, so the match says which rule it was."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        prompts: bool = True,
        completions: bool = True,
        store_text: bool = False,
        window: int = 64,
    ) -> None:
        self.rules = tuple(r for r in rules if r.words or r.patterns)
        self.prompts, self.completions = prompts, completions
        self.store_text, self.window = store_text, window
        self._by_group: dict[str, Rule] = {}
        parts = []
        for i, rule in enumerate(self.rules):
            group = f"r{i}"
            self._by_group[group] = rule
            alternatives = [re.escape(w) for w in rule.words] + [f"(?:{p})" for p in rule.patterns]
            parts.append(f"(?P<{group}>{'|'.join(alternatives)})")
        self._expression = re.compile("|".join(parts), re.IGNORECASE) if parts else None

    @property
    def active(self) -> bool:
        return self._expression is not None and (self.prompts or self.completions)

    def find(self, text: str, start: int = 0) -> Hit | None:
        """The first match in `text` from `start`, a blocking rule's before a masking one's."""
        if self._expression is None or not text:
            return None
        first: Hit | None = None
        for match in self._expression.finditer(text, start):
            group = match.lastgroup
            if group is None or match.end() == match.start():
                continue
            rule = self._by_group[group]
            hit = Hit(rule.name, rule.action, match.start(), match.end())
            if rule.action == "block":
                return hit
            first = first or hit
        return first

    def mask(self, text: str) -> tuple[str, list[Hit]]:
        """`text` with every masking rule's match starred out, and the hits; a blocking rule's
        match is left (the caller asked `find` first)."""
        if self._expression is None:
            return text, []
        hits: list[Hit] = []

        def star(match: re.Match[str]) -> str:
            group = match.lastgroup
            rule = self._by_group[group] if group else None
            if rule is None or rule.action != "mask" or match.end() == match.start():
                return match.group(0)
            hits.append(Hit(rule.name, rule.action, match.start(), match.end()))
            return MASK * (match.end() - match.start())

        return self._expression.sub(star, text), hits


class StreamCheck:
    """A streamed completion checked piece by piece: each piece is searched together with the
    last `window` characters before it, so a match that spans two pieces is found when its end
    arrives. Only matches that end inside the new piece count (the window's were seen)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.tail = ""

    def feed(self, piece: str) -> tuple[str, Hit | None, list[Hit]]:
        """The piece to send on (masked where a masking rule matched inside it), a hit that
        must end the stream (a blocking rule's, or a masking one's that began in a piece
        already sent: what is sent cannot be starred out), and the masking hits."""
        if not piece:
            return piece, None, []
        text = self.tail + piece
        offset = len(self.tail)
        hit = self.policy.find(text)
        while hit is not None and hit.end <= offset:  # in the window: seen already
            hit = self.policy.find(text, hit.start + 1)
        if hit is not None and (hit.action == "block" or hit.start < offset):
            return "", hit, []
        self.tail = text[-self.policy.window :] if self.policy.window else ""
        if hit is None:
            return piece, None, []
        masked, hits = self.policy.mask(piece)
        return masked, None, hits
