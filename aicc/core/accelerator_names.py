"""Accelerator names as people, NVML and vendors' tools write them, read as catalog models.

A job spec, a quota file or a node's probe names a chip in many spellings ("H100 SXM",
"h100-sxm", "NVIDIA H100 80GB HBM3", npu-smi's "910B4-1"); the catalog (`core/catalog.py`) holds
the facts under one stable key each. `lookup` reads what people type (a close match named when
none fits), `from_nvml_name` and `from_tool_name` what the node's tools report, preferring
"unknown" (None) over a wrong model, because a misidentified card would be billed and scheduled
at the wrong speed. Pure: no I/O, standard library only.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from types import MappingProxyType

from aicc.core.catalog import CATALOG, AcceleratorModel, Vendor

__all__ = ["from_nvml_name", "from_tool_name", "lookup"]


def _squash(text: str) -> str:
    """Fold case and drop punctuation so "H100 SXM", "h100-sxm" and "h100_sxm" agree."""
    return re.sub(r"[^0-9a-z]", "", text.casefold())


# Shorthands people actually type.  A bare "A100" means the 80 GB SXM part because that is
# what AI computing centres predominantly run; the 40 GB and PCIe cards must be named.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "h100": "H100-SXM",
        "h10080gb": "H100-SXM",
        "h100sxm5": "H100-SXM",
        "h10080gbhbm3": "H100-SXM",
        "h100nvl94gb": "H100-NVL",
        "h200sxm": "H200",
        "h200141gb": "H200",
        "h20096gb": "H20",
        "h800sxm": "H800",
        "h800sxm5": "H800",
        "a100": "A100-80GB",
        "a100sxm": "A100-80GB",
        "a100sxm4": "A100-80GB",
        "a100sxm480gb": "A100-80GB",
        "a100pcie": "A100-80GB-PCIe",
        "a10080gbpcie": "A100-80GB-PCIe",
        "a100sxm440gb": "A100-40GB",
        "a100pcie40gb": "A100-40GB-PCIe",
        "a800": "A800-80GB",
        "a800sxm": "A800-80GB",
        "a800sxm480gb": "A800-80GB",
        "a800pcie": "A800-80GB-PCIe",
        "v100": "V100-32GB",
        "v100sxm2": "V100-32GB",
        "v100sxm232gb": "V100-32GB",
        "4090": "RTX-4090",
        "rtx4090": "RTX-4090",
        "geforcertx4090": "RTX-4090",
        "910b": "Ascend-910B",
        "910a": "Ascend-910A",
        "310p": "Ascend-310P",
        "ascend310p": "Ascend-310P",
        "ascend910": "Ascend-910A",  # the 2019 chip was sold as plain "Ascend 910"
        "mlu370": "MLU370-X8",
        "z100": "DCU-Z100",
        "r200": "Kunlun-R200",
        "kunlunxinr200": "Kunlun-R200",
        "kunlun2": "Kunlun-R200",
        "s4000": "MTT-S4000",
        "mi300": "MI300X",
    }
)

# Brand words that may precede a model name ("NVIDIA H100", "Huawei Ascend 910B").
_BRAND_PREFIXES: tuple[str, ...] = (
    "nvidia",
    "tesla",
    "geforce",
    "huawei",
    "ascend",
    "cambricon",
    "hygon",
    "dcu",
    "kunlunxin",
    "kunlun",
    "amd",
    "instinct",
    "moorethreads",
    "mtt",
)


def _build_index() -> Mapping[str, str]:
    index: dict[str, str] = {}
    for model in CATALOG.values():
        index[_squash(model.name)] = model.name
        for nvml_name in model.nvml_names:
            index.setdefault(_squash(nvml_name), model.name)
    for alias, key in _ALIASES.items():
        if key not in CATALOG:
            raise ValueError(f"alias {alias!r} points at unknown model {key!r}")
        existing = index.setdefault(alias, key)
        if existing != key:
            raise ValueError(f"alias {alias!r} is ambiguous: {existing} vs {key}")
    return MappingProxyType(index)


_INDEX: Mapping[str, str] = _build_index()


def lookup(name: str) -> AcceleratorModel:
    """Resolve a catalog key, alias or exact NVML name, ignoring case and punctuation.

    Raises ``KeyError`` naming the closest known models so a typo in a job spec or quota
    file is fixable from the error alone.
    """
    squashed = _squash(name)
    candidate = squashed
    while candidate:
        key = _INDEX.get(candidate)
        if key is not None:
            return CATALOG[key]
        for prefix in _BRAND_PREFIXES:
            if candidate.startswith(prefix) and len(candidate) > len(prefix):
                candidate = candidate[len(prefix) :]
                break
        else:
            break
    raise KeyError(_unknown_message(name, candidate or squashed))


def _unknown_message(name: str, squashed: str) -> str:
    close: list[str] = []
    if squashed:
        for hit in difflib.get_close_matches(squashed, list(_INDEX), n=8, cutoff=0.6):
            if _INDEX[hit] not in close:
                close.append(_INDEX[hit])
        for alias, key in _INDEX.items():
            if key not in close and len(squashed) >= 3 and squashed in alias:
                close.append(key)
    if close:
        return f"unknown accelerator model {name!r}; close matches: {', '.join(close[:5])}"
    return f"unknown accelerator model {name!r}; known models: {', '.join(CATALOG)}"


# --------------------------------------------------------------------------------------------
# NVML names.  Exact strings first; then a token match that prefers "unknown" (None) over a
# wrong model, because a misidentified card would be billed and scheduled at the wrong speed.

_NVML_EXACT: Mapping[str, str] = MappingProxyType(
    {
        " ".join(nvml_name.casefold().split()): model.name
        for model in CATALOG.values()
        for nvml_name in model.nvml_names
    }
)

# (catalog key, tokens that must all appear, tokens that must not appear); most specific first.
_NVML_RULES: tuple[tuple[str, frozenset[str], frozenset[str]], ...] = tuple(
    (key, frozenset(required.split()), frozenset(forbidden.split()))
    for key, required, forbidden in (
        ("H100-NVL", "H100 NVL", ""),
        ("H100-PCIe", "H100 PCIE", "94GB 96GB"),
        ("H100-SXM", "H100", "NVL PCIE 94GB 96GB"),
        ("H200", "H200", "NVL"),
        ("H20", "H20", "141GB"),
        ("H800-PCIe", "H800 PCIE", ""),
        ("H800", "H800", "NVL"),
        ("A100-80GB-PCIe", "A100 80GB PCIE", ""),
        ("A100-80GB", "A100 80GB", ""),
        ("A100-40GB-PCIe", "A100 40GB PCIE", ""),
        ("A100-40GB", "A100 40GB", ""),
        ("A800-80GB-PCIe", "A800 80GB PCIE", ""),
        ("A800-80GB", "A800 80GB", ""),
        ("L40S", "L40S", ""),
        ("L20", "L20", ""),
        ("L4", "L4", ""),
        ("A10", "A10", ""),
        ("V100-32GB", "V100 32GB", "PCIE"),
        ("T4", "T4", ""),
        ("RTX-4090", "RTX 4090", "D LAPTOP MOBILE"),
    )
)


def from_nvml_name(name: str) -> AcceleratorModel | None:
    """Map what ``nvmlDeviceGetName`` reports to a catalog model, or None if unrecognised."""
    exact = _NVML_EXACT.get(" ".join(name.casefold().split()))
    if exact is not None:
        return CATALOG[exact]
    tokens = frozenset(re.findall(r"[A-Z0-9]+", name.upper()))
    for key, required, forbidden in _NVML_RULES:
        if required <= tokens and not forbidden & tokens:
            return CATALOG[key]
    return None


# --------------------------------------------------------------------------------------------
# Names vendors' management tools print (core/smi/): per vendor, patterns over the squashed name,
# first match wins. A name none matches is None, never a guess: Huawei's A3 chips print a bare
# "Ascend910", which the generic `lookup` would read as the 2019 Ascend 910 (Ascend-910A).

_TOOL_NAMES: Mapping[Vendor, tuple[tuple[re.Pattern[str], str], ...]] = MappingProxyType(
    {
        vendor: tuple((re.compile(pattern), key) for pattern, key in rules)
        for vendor, rules in {
            # npu-smi's Name: 910B1..910B4 (and bins such as 910B4-1) are the Atlas A2 chips; the
            # 2019 family's bins print 910A, 910B, 910ProA, 910ProB, 910PremiumA
            Vendor.HUAWEI: (
                (r"^(ascend)?910b[1-4]", "Ascend-910B"),
                (r"^(ascend)?910(a|b|proa|prob|premiuma)$", "Ascend-910A"),
                (r"^(ascend)?310p[0-9]*$", "Ascend-310P"),
                (r"^(ascend)?310$", "Ascend-310"),
            ),
            Vendor.CAMBRICON: ((r"^mlu370x8$", "MLU370-X8"),),
            Vendor.HYGON: ((r"^(dcu)?z100(l|sm)?$", "DCU-Z100"),),
            Vendor.AMD: ((r"mi300x", "MI300X"),),
        }.items()
    }
)


def from_tool_name(vendor: Vendor, name: str) -> AcceleratorModel | None:
    """Map the model name a vendor's management tool prints (`910B4-1`, `MLU370-X8`, `Z100L`)
    to a catalog model, or None if unrecognised (the device keeps the printed name)."""
    squashed = _squash(name)
    for pattern, key in _TOOL_NAMES.get(vendor, ()):
        if pattern.search(squashed):
            return CATALOG[key]
    return None


def _check_tables() -> None:
    for key, _, _ in _NVML_RULES:
        if key not in CATALOG:
            raise ValueError(f"NVML rule points at unknown model {key!r}")
    for vendor, rules in _TOOL_NAMES.items():
        for _, key in rules:
            if key not in CATALOG or CATALOG[key].vendor is not vendor:
                raise ValueError(f"tool-name rule of {vendor} points at {key!r}")


_check_tables()
