"""The center's catalog of development environments and what a job's image needs of a node.

The catalog is configuration (aicc/services/jobs/devenvs.yaml, or the file `images.catalog` names:
docs/config.md), read once per process and parsed by `core.devenvs`; the scheduler's snapshot
asks `image_needs` for every waiting job, so the answer is kept per image reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import yaml

from aicc.core.devenvs import Catalog, Need, parse_catalog

# The catalog that ships with AICC, inside the package (a wheel carries it too).
DEFAULT_CATALOG = Path(__file__).with_name("devenvs.yaml")

_configured: Path | None = None


def configure(path: Path | None, home: Path | None = None) -> None:
    """Use the catalog at `path` from now on (None: the one that ships; a relative path is
    from `home`, $AICC_HOME). Reads it at once, so a server with a broken catalog refuses to
    start with the reason (ValueError)."""
    global _configured
    if path is not None and not path.is_absolute() and home is not None:
        path = home / path
    _configured = path
    load.cache_clear()
    image_needs.cache_clear()
    load()


@lru_cache(maxsize=1)
def load() -> Catalog:
    """The catalog in force: the configured one, which must exist and parse, or the one that
    ships."""
    path = _configured or DEFAULT_CATALOG
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ValueError(f"images.catalog: {path} does not exist") from None
    return _parsed(text, str(path))


@lru_cache(maxsize=4)
def _parsed(text: str, where: str) -> Catalog:
    """The catalog `text` says (frozen), parsed once a process for the same text: every server
    built reads the file again, and parsing its YAML took 15 to 25 ms each time (a broken one
    raises each time: an exception is not cached)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{where}: not valid YAML ({err})") from None
    return parse_catalog(data, where)


@lru_cache(maxsize=4096)
def image_needs(image: str) -> tuple[Need, ...]:
    """What the catalog says `image` needs of a node: () for an image it does not name."""
    entry = load().find(image)
    return entry.needs if entry is not None else ()


def needs_with_labels(image: str, labels: Mapping[str, str]) -> tuple[Need, ...]:
    """The catalog's needs of `image` with those its own labels declare
    (`org.aicc.needs.<label>=<version>`, as the registry records them): the higher minimum
    where both name a label. Labels are whatever the image's builder wrote: only well-formed
    label names and versions count (`core.devenvs.declared_needs`)."""
    return load().needs_of(image, labels) if labels else image_needs(image)
