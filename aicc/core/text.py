"""Text a person reads: the one rule for what a name, a title or a description a tenant sets may
hold, and the one way to show text stored before the rule.

A NUL, a carriage return or an escape sequence in a name breaks logs, CSV exports and terminals,
and a right-to-left override (U+202E) makes `exe.txt` read as `txt.exe` in a table or a mail.
So every name and title of a request body is marked `LINE` (one line: no control character, no
line break, no bidirectional embedding, override, isolate or mark), and every free text `PROSE`
(line breaks and tabs allowed, the rest refused as in a line). Both refuse with an `InputError`,
so the API's 422 names the field and the portal says it in its reader's language
(errors.zh-CN.json). What was stored before is shown through `visible`, which writes each such
character as its escape (`\\u202e`), in the CLI's tables and the portal's pages alike.
"""

from __future__ import annotations

import re

from pydantic import AfterValidator

from aicc.core.mistakes import InputError

# Bidirectional formatting: the Arabic letter mark, the left-to-right and right-to-left marks,
# the embeddings and overrides (U+202A-U+202E), the isolates (U+2066-U+2069).
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
# C0 controls, DEL, C1 controls, the line and paragraph separators, lone surrogates.
_CONTROLS = "\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff"
_NOT_IN_LINE = re.compile(f"[{_CONTROLS}{_BIDI}]")
# Prose keeps its tabs and line breaks (a browser's text area sends CR LF): the same but \t \n \r.
_NOT_IN_PROSE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff{_BIDI}]")


def _code(char: str) -> str:
    return f"U+{ord(char):04X}"


def one_line(text: str) -> str:
    """`text` when it is one clean line; else an InputError naming the first bad character."""
    found = _NOT_IN_LINE.search(text)
    if found is None:
        return text
    raise InputError(
        "must be one line with no control characters or direction overrides: "
        "remove {char} at character {at}",
        char=_code(found.group()),
        at=found.start() + 1,
    )


def prose(text: str) -> str:
    """`text` when it holds no control character but tabs and line breaks, and no direction
    override; else an InputError naming the first bad character."""
    found = _NOT_IN_PROSE.search(text)
    if found is None:
        return text
    raise InputError(
        "must not hold control characters or direction overrides (line breaks and tabs are "
        "fine): remove {char} at character {at}",
        char=_code(found.group()),
        at=found.start() + 1,
    )


def _line(text: str | None) -> str | None:
    return text if text is None else one_line(text)


def _prose(text: str | None) -> str | None:
    return text if text is None else prose(text)


# What a request body's text is annotated with, last, after its bounds (so a text too long is
# refused as too long, and the JSON Schema keeps them): `Annotated[str, Field(max_length=64),
# LINE]`, `Annotated[str | None, Field(max_length=4000), PROSE]`.
LINE = AfterValidator(_line)
PROSE = AfterValidator(_prose)


def _escape(found: re.Match[str]) -> str:
    code = ord(found.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, lines: bool = False) -> str:
    """`text` as it may be shown: each control or direction character written as its escape
    (`\\x1b`, `\\u202e`), so stored text from before the rule cannot move the cursor, reorder
    what follows it or hide a character; `lines` keeps tabs and line breaks."""
    pattern = _NOT_IN_PROSE if lines else _NOT_IN_LINE
    return pattern.sub(_escape, text) if pattern.search(text) else text
