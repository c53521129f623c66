"""A Containerfile as the server and the node read it: the images it names (`images_of`, at
submit, each checked against what the submitter may pull) and its text with each resolved to
what was checked (`rewrite`, on the node, before the build).

The check refuses what it and buildah could read apart: an `escape` directive, a byte-order
mark, control or bidi characters, a lone CR, bytes that are not UTF-8, and any transport
(`containers-storage:`, `oci:`, ...) that would read the node's storage or disk, not a registry.
Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_CONTAINERFILE_BYTES = 1 << 20
# containers/image's transports: a FROM naming one reads the node's storage or disk, not a registry
TRANSPORTS = frozenset(
    {"containers-storage", "docker", "docker-archive", "docker-daemon", "dir", "oci",
     "oci-archive", "ostree", "sif", "tarball"}
)  # fmt: skip
_DIRECTIVE = re.compile(r"#[ \t]*([a-zA-Z][a-zA-Z0-9]*)[ \t]*=[ \t]*(.*?)[ \t]*")
# What the Dockerfile parser (Go) and this module might split, join or trim differently: control
# characters but tab and newline, a byte-order mark, bidi controls, Unicode line separators.
_UNCLEAR = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\ufeff\u200e\u200f\u202a-\u202e\u2028\u2029\u2066-\u2069\u061c]"
)
_BLANKS = " \t"  # the Dockerfile parser's white space (Go's, ASCII), not str.strip()'s
_FLAG_FROM = re.compile(r"^--from=(\S+)$")
_MOUNT_FROM = re.compile(r"(?:^--mount=|,)from=([^,\s]+)")


class BadContainerfile(ValueError):
    """A Containerfile whose images cannot be told (a variable in FROM, no FROM at all)."""


@dataclass(frozen=True)
class ImageMention:
    """An image a Containerfile names: where (0-based physical line), and as written."""

    line: int
    written: str


def _lines(text: str) -> list[str]:
    """The Containerfile's lines as the Dockerfile parser reads them (split at newlines, a
    CR before one dropped), once it is clear that both read the same: a 422-worthy
    BadContainerfile for a byte-order mark, a control or bidi character, a lone CR, or an
    `escape` parser directive, each of which one parser reads and the other does not."""
    text = text.replace("\r\n", "\n")
    unclear = _UNCLEAR.search(text)
    if unclear is not None or "\r" in text:
        at = unclear.start() if unclear is not None else text.index("\r")
        where = text.count("\n", 0, at) + 1
        char = f"U+{ord(text[at]):04X}"
        raise BadContainerfile(
            f"line {where}: character {char} is not accepted (a byte-order mark, control or "
            "bidi character); save the file as plain UTF-8"
        )
    lines = text.split("\n")
    for number, line in enumerate(lines, 1):  # directives: the comments before anything else
        directive = _DIRECTIVE.fullmatch(line.strip(_BLANKS))
        if directive is None:
            break
        if directive.group(1).lower() == "escape" and directive.group(2) != "\\":
            raise BadContainerfile(
                f"line {number}: the parser directive 'escape' is not accepted; use the "
                "default escape character (\\)"
            )
    return lines


def _instructions(text: str) -> list[tuple[int, int, str]]:
    """The logical instructions: (first line, last line, the text joined), comments and blank
    lines left out, `\\` continuations joined. Where this and the Dockerfile parser could
    differ (a comment or blank line inside a continuation), this one ends the instruction, so
    it sees more instructions than buildah does, never fewer."""
    lines = _lines(text)
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(lines):
        start, parts = i, list[str]()
        while True:
            line = lines[i]
            stripped = line.strip(_BLANKS)
            if not (parts and stripped.startswith("#")):
                parts.append(line.rstrip(_BLANKS))
            i += 1
            if not (parts and parts[-1].endswith("\\")) or i >= len(lines):
                break
            parts[-1] = parts[-1][:-1]
        joined = " ".join(p.strip(_BLANKS) for p in parts).strip(_BLANKS)
        if joined and not joined.startswith("#"):
            found.append((start, i - 1, joined))
    return found


def images_of(text: str) -> list[ImageMention]:
    """The images a Containerfile pulls: each FROM that is not an earlier stage or `scratch`,
    each COPY/ADD `--from=` and RUN `--mount=...,from=` that is not a stage. A variable in one
    of them is refused: what it pulls would not be known before the build; so is a transport
    (`containers-storage:`, `oci:`, ...): a build pulls from registries alone."""
    stages: set[str] = set()
    found: list[ImageMention] = []
    saw_from = False

    def named(value: str, line: int) -> None:
        if value.lower() in stages or value.isdigit() or value == "scratch":
            return
        if "$" in value:
            raise BadContainerfile(
                f"line {line + 1}: {value!r} names its image with a variable; write the image"
            )
        transport = value.split(":", 1)[0].lower() if ":" in value else ""
        if transport in TRANSPORTS:
            raise BadContainerfile(
                f"line {line + 1}: {value!r} names the transport {transport}:, which reads "
                "a node's storage or disk; name an image of a registry"
            )
        found.append(ImageMention(line, value))

    for start, _, joined in _instructions(text):
        words = joined.split()
        keyword = words[0].upper()
        if keyword == "FROM":
            saw_from = True
            rest = [w for w in words[1:] if not w.startswith("--")]
            if not rest:
                raise BadContainerfile(f"line {start + 1}: FROM names no image")
            named(rest[0], start)
            if len(rest) >= 3 and rest[1].upper() == "AS":
                stages.add(rest[2].lower())
        elif keyword in ("COPY", "ADD", "RUN"):
            for word in words[1:]:
                if not word.startswith("--"):
                    break
                match = _FLAG_FROM.match(word) if keyword != "RUN" else None
                for value in [match.group(1)] if match else _MOUNT_FROM.findall(word):
                    named(value.strip("\"'"), start)
    if not saw_from:
        raise BadContainerfile("the Containerfile has no FROM")
    return found


def read_containerfile(data: bytes) -> str:
    """A Containerfile's text: UTF-8, or a BadContainerfile saying so (a replacement character
    would make the server read other text than buildah)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise BadContainerfile(
            f"byte {err.start + 1} is not UTF-8; save the file as plain UTF-8"
        ) from None


def rewrite(text: str, resolved: dict[str, str]) -> str:
    """The Containerfile with each image it pulls as `resolved` maps it (what the server
    checked at submit). One it does not map is refused: the build would pull what nobody
    checked."""
    mentions = images_of(text)
    lines = _lines(text)
    for mention in mentions:
        full = resolved.get(mention.written)
        if full is None:
            raise BadContainerfile(f"{mention.written!r} was not checked at submit")
        pattern = re.compile(r"(?<=[\s=,])" + re.escape(mention.written) + r"(?=$|[\s,])")
        for at in range(mention.line, len(lines)):  # the mention's own line, or a continuation
            new, count = pattern.subn(full.replace("\\", "\\\\"), lines[at], count=1)
            if count:
                lines[at] = new
                break
    return "\n".join(lines).removesuffix("\n") + "\n"
