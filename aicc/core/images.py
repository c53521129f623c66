"""Image references and registry scopes, parsed as the OCI distribution registry reads them.

A center registry names repositories `ORG/PROJECT/NAME` (lowercase path components, as
Distribution's grammar allows); a job spec may also give a short `NAME:TAG`, which is in the
caller's project. Parsing is pure so the token server, the job submit and the CLI refuse the
same malformed names with the same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Distribution's reference grammar (distribution/reference/regexp.go), one component at a time.
COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
TAG = re.compile(r"^[\w][\w.-]{0,127}$")
DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
HOST = re.compile(r"^(?:[a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$")
MAX_NAME = 255  # Distribution's limit on a repository name
ACTIONS = frozenset({"pull", "push", "delete", "*"})
VISIBILITIES = ("private", "org", "public")
DEFAULT_TAG = "latest"


class BadReference(ValueError):
    """A name a person must correct; the message says how."""


@dataclass(frozen=True)
class Reference:
    """`registry/repository[:tag][@digest]`; `registry` None for a short or path-only name."""

    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def parts(self) -> list[str]:
        return self.repository.split("/")

    @property
    def version(self) -> str:
        """What the registry's manifest URL takes: the digest where given, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def check_repository(name: str) -> str:
    """`name` if it is a repository path Distribution accepts, else `BadReference`."""
    if not name or len(name) > MAX_NAME:
        raise BadReference(f"repository {name[:80]!r}: 1 to {MAX_NAME} characters")
    for part in name.split("/"):
        if not COMPONENT.match(part):
            raise BadReference(
                f"repository {name[:80]!r}: each part lowercase letters and digits, "
                "separated by '.', '_', '__' or '-'"
            )
    return name


def parse(text: str) -> Reference:
    """A reference as a client writes it (`host:5000/org/prj/name:tag`, `name:tag`,
    `name@sha256:...`). The first part is a registry when it has a '.' or a ':' or is
    `localhost`, as docker reads it."""
    if not text or len(text) > 512 or any(c.isspace() for c in text):
        raise BadReference(f"image {text[:80]!r}: not an image reference (NAME[:TAG])")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not DIGEST.match(digest):
            raise BadReference(f"image {text[:80]!r}: a digest is sha256: and 64 hex digits")
    registry = None
    first, slash, after = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        if not HOST.match(first):
            raise BadReference(f"image {text[:80]!r}: {first!r} is not a registry host[:port]")
        registry, rest = first, after
    tag = None
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    if colon > last_slash:
        rest, tag = rest[:colon], rest[colon + 1 :]
        if not TAG.match(tag):
            raise BadReference(
                f"image {text[:80]!r}: a tag is letters, digits, '_', '.', '-', at most 128"
            )
    return Reference(registry, check_repository(rest), tag, digest)


@dataclass(frozen=True)
class ScopeRequest:
    """One `scope` of a token request: `repository:NAME:pull,push` (Distribution's token spec)."""

    type: str
    name: str
    actions: tuple[str, ...]


def parse_scope(text: str) -> ScopeRequest:
    """A scope as the registry's client sends it; `BadReference` for one that is not."""
    kind, colon, rest = text.partition(":")
    name, colon2, actions = rest.rpartition(":")
    if not colon or not colon2 or not name or kind not in ("repository", "registry"):
        raise BadReference(f"scope {text[:80]!r}: repository:NAME:ACTIONS")
    wanted = tuple(dict.fromkeys(a for a in actions.split(",") if a))
    if not wanted or any(a not in ACTIONS for a in wanted):
        raise BadReference(f"scope {text[:80]!r}: actions among pull, push, delete, *")
    if kind == "repository":
        check_repository(name)
    return ScopeRequest(kind, name, wanted)


def owner_path(org: str, project: str) -> str | None:
    """The first two parts of a project's repositories (`org/project`, lowercase), or None when
    the organization's or project's name cannot be a repository path component."""
    parts = (org.lower(), project.lower())
    return "/".join(parts) if all(COMPONENT.match(p) for p in parts) else None
