"""The vendors whose management tool AICC reads, one `Probe` each: which tool, the arguments
their documentation gives for the output the parser reads, where the vendor installs it besides
`PATH`, and the parser. A new vendor is a parser module and one line in `PROBES`; nothing
registers itself on import.

NVIDIA is not here: its devices are read through NVML (executors/local/nvml.py), which gives
the same `Device` and `DeviceReading`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aicc.core.catalog import Vendor
from aicc.core.smi import ascend, cambricon, rocm
from aicc.core.smi.report import Report

ROCM_ARGS = ("--showproductname", "--showmeminfo", "vram", "--showuse", "--showuniqueid", "--json")


@dataclass(frozen=True)
class Probe:
    vendor: Vendor
    tool: str  # the executable's name
    args: tuple[str, ...]
    parse: Callable[[str, str], Report]  # (the tool's stdout, this host's name)
    places: tuple[str, ...] = ()  # folders the vendor installs it in, tried after PATH


PROBES: tuple[Probe, ...] = (
    Probe(Vendor.HUAWEI, "npu-smi", ("info",), ascend.parse, ("/usr/local/bin", "/usr/local/sbin")),
    Probe(Vendor.CAMBRICON, "cnmon", (), cambricon.parse, ("/usr/bin", "/usr/local/neuware/bin")),
    Probe(Vendor.HYGON, "hy-smi", ROCM_ARGS, rocm.parse_hygon, ("/opt/hyhal/bin", "/opt/dtk/bin")),
    Probe(Vendor.AMD, "rocm-smi", ROCM_ARGS, rocm.parse_amd, ("/opt/rocm/bin",)),
)
