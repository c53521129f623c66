"""Development environments: the base images of each accelerator family, what each needs of a
node, and the test of a node's labels against those needs.

An image built for CUDA 12.4 fails on a node whose driver runs at most CUDA 12.2, and a CANN
image needs an Ascend driver at least as new as its release's. The catalog
(aicc/services/jobs/devenvs.yaml, read by the services) says, per image, the node label it needs
and the lowest version of it (`needs`); an image may also declare its own needs as labels
(`org.aicc.needs.<label>=<version>`). The scheduler places a replica that uses accelerators
only where every need is met (scheduler/fit.py), and a submit no node can ever meet is refused.

Pure: the catalog arrives as parsed data; no I/O here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

FAMILIES = ("nvidia", "ascend", "cambricon", "hygon", "cpu")
NEEDS_PREFIX = "org.aicc.needs."  # an image label declaring a need: org.aicc.needs.LABEL=VERSION

Need = tuple[str, str]  # (node label, lowest version that fits)

_TOKEN = re.compile(r"\d+|[a-z]+")
_VERSION = re.compile(r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}$")
# Words that mark a version before its release: 8.0.RC1 < 8.0 = 8.0.0 < 8.0.1
_PRE = {"dev": 0, "a": 1, "alpha": 1, "b": 2, "beta": 2, "pre": 3, "rc": 3}
_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_LABEL = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")


@lru_cache(maxsize=4096)
def version_key(text: str) -> tuple[tuple[int, int], ...]:
    """A sort key for a dotted version: numbers compare as numbers (12.10 > 12.4), a missing
    part is 0 (12.4 = 12.4.0), and a release candidate sorts before its release (24.1.RC1 <
    24.1.0). Raises ValueError for text that is no version."""
    if not _VERSION.match(text):
        raise ValueError(f"{text!r} is not a version (digits and dots, e.g. 12.4 or 24.1.RC1)")
    tokens = _TOKEN.findall(text.lower())
    if not tokens or not tokens[0].isdigit():
        raise ValueError(f"{text!r} is not a version (digits and dots, e.g. 12.4 or 24.1.RC1)")
    key: list[tuple[int, int]] = []
    for token in tokens:
        if token.isdigit():
            key.append((2, int(token)))
        elif token in _PRE:
            key.append((0, _PRE[token]))
        else:  # post, p, ...: after the release it names
            key.append((3, 0))
    while key and key[-1] == (2, 0):  # 12.4.0 is 12.4
        key.pop()
    return tuple(key)


def _padded(a: tuple[tuple[int, int], ...], n: int) -> tuple[tuple[int, int], ...]:
    return a + ((2, 0),) * (n - len(a))


def at_least(have: str, minimum: str) -> bool:
    """Whether version `have` is `minimum` or newer. Raises ValueError when either is no
    version."""
    a, b = version_key(have), version_key(minimum)
    n = max(len(a), len(b))
    return _padded(a, n) >= _padded(b, n)


def meets(needs: Iterable[Need], labels: Mapping[str, str]) -> bool:
    """Whether a node with these labels meets every need (the scheduler's cheap test; a label
    that is no version meets nothing)."""
    for label, minimum in needs:
        have = labels.get(label)
        if have is None:
            return False
        try:
            if not at_least(have, minimum):
                return False
        except ValueError:
            return False
    return True


def unmet(needs: Iterable[Need], labels: Mapping[str, str]) -> tuple[Need, str | None] | None:
    """The first need these labels miss and what the node has of it (None: no such label);
    None when every need is met."""
    for label, minimum in needs:
        have = labels.get(label)
        if have is None:
            return (label, minimum), None
        try:
            ok = at_least(have, minimum)
        except ValueError:
            ok = False
        if not ok:
            return (label, minimum), have
    return None


def fits(
    needs: Iterable[Need], node_labels: Mapping[str, str], *, image: str = "", node: str = ""
) -> str | None:
    """None when the node meets every need, else why not, in words: "image cuda12.4-torch2.5
    needs nvidia.com/cuda >= 12.4; node n1 has 12.2"."""
    missed = unmet(needs, node_labels)
    if missed is None:
        return None
    (label, minimum), have = missed
    who = f"image {image}" if image else "the image"
    where = f"node {node}" if node else "the node"
    if have is None:
        has = f"{where} has no {label} label"
    else:
        try:
            version_key(have)
            has = f"{where} has {have}"
        except ValueError:
            has = f"{where} has {have[:40]!r}, which is no version"
    return f"{who} needs {label} >= {minimum}; {has}"


def declared_needs(labels: Mapping[str, str]) -> tuple[Need, ...]:
    """The needs an image declares in its labels (`org.aicc.needs.nvidia.com/cuda=12.4`), in
    label order. Labels come from whoever built the image: one that names no label or no
    version is skipped, never trusted."""
    out: list[Need] = []
    for key in sorted(labels):
        if not key.startswith(NEEDS_PREFIX):
            continue
        label, value = key[len(NEEDS_PREFIX) :], str(labels[key]).strip()
        try:
            version_key(value)
        except ValueError:
            continue
        if _LABEL.match(label) and len(label) <= 253:
            out.append((label, value))
    return tuple(out)


def merge_needs(*groups: Iterable[Need]) -> tuple[Need, ...]:
    """One need per label, the highest minimum of all groups, sorted by label."""
    best: dict[str, str] = {}
    for group in groups:
        for label, minimum in group:
            old = best.get(label)
            if old is None or not at_least(old, minimum):
                best[label] = minimum
    return tuple(sorted(best.items()))


def split_reference(reference: str) -> tuple[str, str | None]:
    """(repository path without its registry, tag or None) of an image reference:
    `registry.example:5000/base/cuda:12.4-torch2.5` -> (`base/cuda`, `12.4-torch2.5`). A
    digest is dropped; no tag is None (not `latest`: a catalog entry names its tag)."""
    name = reference.strip().split("@", 1)[0]
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # the registry host
    if parts[:1] == ["library"] and len(parts) == 2:
        parts = parts[1:]  # docker.io's official images
    return "/".join(parts).lower(), tag


@dataclass(frozen=True)
class DevEnv:
    """One catalog entry: a base image, its family and runtime, and what it needs of a node.
    `driver` (the equivalent driver minimum) and `compat` (what the vendor's compatibility
    rules would also allow) are for people; the scheduler reads `needs` only."""

    name: str
    image: str  # repository:tag in the center registry, e.g. base/cuda:12.4-torch2.5
    family: str
    runtime: str  # cuda, cann, cntoolkit, dtk, python
    runtime_version: str
    needs: tuple[Need, ...] = ()
    framework: tuple[tuple[str, str], ...] = ()  # (package, version), e.g. ("torch", "2.5.1")
    driver: str | None = None
    compat: str | None = None
    vendor_image: str | None = None  # what a site mirrors from its vendor under `image`
    estimate: bool = False  # numbers not checked against a published vendor table
    build: tuple[tuple[str, Any], ...] = ()  # how scripts/build-base-images.sh makes it here

    def matches(self, reference: str) -> bool:
        """Whether an image reference names this entry: its name, or its image (or vendor
        image) by repository path, in any registry or under any prefix, with the same tag."""
        if reference.strip() == self.name:
            return True
        path, tag = split_reference(reference)
        if tag is None:
            return False
        for own in (self.image, self.vendor_image):
            if own is None:
                continue
            own_path, own_tag = split_reference(own)
            if own_tag == tag and (path == own_path or path.endswith("/" + own_path)):
                return True
        return False


@dataclass(frozen=True)
class Catalog:
    entries: tuple[DevEnv, ...] = ()

    def find(self, reference: str) -> DevEnv | None:
        """The entry an image reference names, or None."""
        for entry in self.entries:
            if entry.matches(reference):
                return entry
        return None

    def needs_of(self, reference: str, labels: Mapping[str, str] | None = None) -> tuple[Need, ...]:
        """What an image needs of a node: its catalog entry's needs with those its labels
        declare (the higher minimum where both name a label)."""
        entry = self.find(reference)
        return merge_needs(entry.needs if entry else (), declared_needs(labels or {}))


def parse_catalog(data: Mapping[str, Any] | None, where: str = "catalog") -> Catalog:
    """A catalog from its parsed YAML (`images:` a list of entries). Raises ValueError saying
    which entry and field to fix."""
    if data is None:
        return Catalog()
    if not isinstance(data, Mapping):
        raise ValueError(f"{where}: a mapping with an `images:` list")
    items = data.get("images") or []
    if not isinstance(items, list):
        raise ValueError(f"{where}: `images:` must be a list")
    entries: list[DevEnv] = []
    names: set[str] = set()
    for n, item in enumerate(items):
        entry = _entry(item, f"{where}: images[{n}]")
        if entry.name in names:
            raise ValueError(f"{where}: images[{n}]: name {entry.name!r} appears twice")
        names.add(entry.name)
        entries.append(entry)
    for entry in entries:
        like = dict(entry.build).get("like")
        if like is not None and like not in names:
            raise ValueError(f"{where}: {entry.name}: build.like {like!r} is no catalog entry")
    return Catalog(tuple(entries))


_FIELDS = {
    "name",
    "image",
    "family",
    "runtime",
    "framework",
    "needs",
    "driver",
    "compat",
    "vendor_image",
    "estimate",
    "build",
}


def _entry(item: Any, at: str) -> DevEnv:
    if not isinstance(item, Mapping):
        raise ValueError(f"{at}: an entry is a mapping (name, image, family, runtime, needs)")
    unknown = set(item) - _FIELDS
    if unknown:
        raise ValueError(f"{at}: unknown fields {', '.join(sorted(map(str, unknown)))}")
    name = str(item.get("name") or "")
    if not _NAME.match(name):
        raise ValueError(f"{at}: name {name!r}: lowercase letters, digits, '.', '-', '_'")
    at = f"{at} ({name})"
    image = str(item.get("image") or "")
    if not image or split_reference(image)[1] is None:
        raise ValueError(f"{at}: image must be a repository:tag, e.g. base/cuda:12.4-torch2.5")
    family = str(item.get("family") or "")
    if family not in FAMILIES:
        raise ValueError(f"{at}: family {family!r} is not one of {', '.join(FAMILIES)}")
    runtime = item.get("runtime") or {}
    if not isinstance(runtime, Mapping) or not runtime.get("name"):
        raise ValueError(f"{at}: runtime must be {{name: cuda, version: '12.4'}}")
    runtime_version = str(runtime.get("version") or "")
    _version(runtime_version, f"{at}: runtime.version")
    needs_in = item.get("needs") or {}
    if not isinstance(needs_in, Mapping):
        raise ValueError(f"{at}: needs must map a node label to a version")
    needs: list[Need] = []
    for label, minimum in needs_in.items():
        if not _LABEL.match(str(label)):
            raise ValueError(f"{at}: needs: {label!r} is not a node label name")
        needs.append((str(label), _version(str(minimum), f"{at}: needs.{label}")))
    if family != "cpu" and not needs:
        raise ValueError(f"{at}: a {family} image needs at least one node label (its driver)")
    framework = item.get("framework") or {}
    if not isinstance(framework, Mapping):
        raise ValueError(f"{at}: framework must map a package to its version")
    driver = item.get("driver")
    if driver is not None:
        _version(str(driver), f"{at}: driver")
    build = item.get("build") or {}
    if not isinstance(build, Mapping):
        raise ValueError(f"{at}: build must be a mapping (suite, variant, packages; or like)")
    vendor = item.get("vendor_image")
    return DevEnv(
        name=name,
        image=image,
        family=family,
        runtime=str(runtime["name"]),
        runtime_version=runtime_version,
        needs=tuple(sorted(needs)),
        framework=tuple((str(k), str(v)) for k, v in framework.items()),
        driver=None if driver is None else str(driver),
        compat=None if item.get("compat") is None else str(item["compat"]),
        vendor_image=None if vendor is None else str(vendor),
        estimate=bool(item.get("estimate", False)),
        build=tuple((str(k), tuple(v) if isinstance(v, list) else v) for k, v in build.items()),
    )


def _version(text: str, at: str) -> str:
    try:
        version_key(text)
    except ValueError as err:
        raise ValueError(f"{at}: {err}") from None
    return text
