"""Content safety's matching (docs/gateway.md, "Content safety"): an operator's word and pattern
lists compiled into one expression, a prompt checked whole, and a streamed completion checked as
it comes with a window of what came before, so a word split across two chunks is still caught.

A policy may also name a classifier (`Classifier`): a deployment of a sequence-classification
model the gateway asks for scores per category; `flagged` reads its answer into a hit
`classifier:LABEL`, which blocks as a rule's would.

Pure: no I/O. The gateway (`gateway/safety.py`) builds a `Policy` per deployment from the
settings, and records and counts what a policy found.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

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


@dataclass(frozen=True)
class Classifier:
    """Which deployment scores texts, from what score a category blocks (`labels`: the
    categories that may; empty: all), and what a classifier that does not answer means."""

    deployment: str
    threshold: float = 0.5
    labels: tuple[str, ...] = ()
    fail_open: bool = False
    timeout_s: float = 5.0
    every_chars: int = 400


def flagged(classifier: Classifier, scores: Mapping[str, float], text: str) -> Hit | None:
    """The highest-scoring category at or over the threshold (among `labels`) as a blocking
    hit over the whole text, or None."""
    found = [
        (score, label)
        for label, score in scores.items()
        if (not classifier.labels or label in classifier.labels) and score >= classifier.threshold
    ]
    if not found:
        return None
    _, label = max(found)
    return Hit(f"classifier:{label}", "block", 0, len(text))


def trie(words: Sequence[str]) -> str:
    """The words (lower-cased) as one regular expression shaped as a trie, so that at each
    position of a text the engine follows one branch per letter instead of trying every word
    in turn: thousands of words cost about one scan, not thousands."""
    root: dict[str, Any] = {}
    for word in words:
        node = root
        for char in word.lower():
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def emit(node: dict[str, Any]) -> str:
        branches = [re.escape(c) + emit(child) for c, child in sorted(node.items()) if c]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


class Policy:
    """Rules compiled into two expressions whatever their number: the words of every rule as
    tries matched on the lower-cased text, the patterns as one alternation on the text as it
    is (a pattern that should ignore case says `(?i)`); a named group per rule and kind, so a
    match says which rule it was."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        prompts: bool = True,
        completions: bool = True,
        store_text: bool = False,
        window: int = 64,
        classifier: Classifier | None = None,
    ) -> None:
        self.rules = tuple(r for r in rules if r.words or r.patterns)
        self.classifier = classifier
        self.prompts, self.completions = prompts, completions
        self.store_text, self.window = store_text, window
        self._by_group: dict[str, Rule] = {}
        words, patterns = [], []
        for i, rule in enumerate(self.rules):
            if rule.words:
                self._by_group[f"w{i}"] = rule
                words.append(f"(?P<w{i}>{trie(rule.words)})")
            if rule.patterns:
                self._by_group[f"p{i}"] = rule
                patterns.append(f"(?P<p{i}>{'|'.join(f'(?:{p})' for p in rule.patterns)})")
        self._words = re.compile("|".join(words)) if words else None
        # where lower-casing changes a text's length, its positions would not be the text's
        self._words_any_case = re.compile("|".join(words), re.IGNORECASE) if words else None
        self._patterns = re.compile("|".join(patterns)) if patterns else None

    @property
    def active(self) -> bool:
        found = self._words is not None or self._patterns is not None
        found = found or self.classifier is not None
        return found and (self.prompts or self.completions)

    def _scans(self, text: str) -> list[tuple[re.Pattern[str], str]]:
        scans = []
        if self._words is not None and self._words_any_case is not None:
            lowered = text.lower()
            if len(lowered) == len(text):
                scans.append((self._words, lowered))
            else:
                scans.append((self._words_any_case, text))
        if self._patterns is not None:
            scans.append((self._patterns, text))
        return scans

    def _hits(self, expression: re.Pattern[str], subject: str, start: int) -> Iterator[Hit]:
        for match in expression.finditer(subject, start):
            group = match.lastgroup
            if group is not None and match.end() > match.start():
                rule = self._by_group[group]
                yield Hit(rule.name, rule.action, match.start(), match.end())

    def find(self, text: str, start: int = 0) -> Hit | None:
        """The earliest blocking match in `text` from `start`, else the earliest masking one."""
        if not text:
            return None
        block: Hit | None = None
        mask: Hit | None = None
        for expression, subject in self._scans(text):
            for hit in self._hits(expression, subject, start):
                if hit.action == "block":
                    if block is None or hit.start < block.start:
                        block = hit
                    break  # the first of this scan; the other scan may have an earlier one
                if mask is None or hit.start < mask.start:
                    mask = hit
        return block or mask

    def mask(self, text: str) -> tuple[str, list[Hit]]:
        """`text` with every masking rule's match starred out, and the hits; a blocking rule's
        match is left (the caller asked `find` first)."""
        hits = sorted(
            (
                hit
                for expression, subject in self._scans(text)
                for hit in self._hits(expression, subject, 0)
                if hit.action == "mask"
            ),
            key=lambda h: h.start,
        )
        out, at, kept = [], 0, []
        for hit in hits:
            if hit.start < at:  # overlaps one starred already
                continue
            out += [text[at : hit.start], MASK * (hit.end - hit.start)]
            at = hit.end
            kept.append(hit)
        out.append(text[at:])
        return "".join(out), kept


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
