"""MIG slices read through NVML at discovery, from a fake NVML (no GPU here): what a GPU in MIG
mode reports becomes its slices; a GPU without MIG, or a driver that cannot say, gives none."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from aicc.core import catalog
from aicc.core.topology import MigInstance
from aicc.executors.local.mig import mig_instances, profile_name

A100 = catalog.CATALOG["A100-80GB"].mig_profiles


class NVMLError(Exception):
    pass


@dataclass
class FakeNvml:
    """The few pynvml calls discovery makes, answering for one GPU (handle "gpu")."""

    mode: int | None = 1  # None: the GPU does not support MIG
    slices: dict[int, tuple[str, int, int, str]] = field(default_factory=dict)
    positions: int = 7
    NVML_DEVICE_MIG_ENABLE: int = 1
    NVMLError: type[Exception] = NVMLError

    def nvmlDeviceGetMigMode(self, handle: str) -> list[int]:
        if self.mode is None:
            raise NVMLError("Not Supported")
        return [self.mode, self.mode]

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: str) -> int:
        return self.positions

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: str, index: int) -> int:
        if index not in self.slices:
            raise NVMLError("Not Found")
        return index

    def nvmlDeviceGetName(self, mig: int) -> bytes:
        return self.slices[mig][0].encode()

    def nvmlDeviceGetAttributes(self, mig: int) -> Any:
        return SimpleNamespace(gpuInstanceSliceCount=self.slices[mig][1])

    def nvmlDeviceGetMemoryInfo(self, mig: int) -> Any:
        return SimpleNamespace(total=self.slices[mig][2] * 1024 * 1024)

    def nvmlDeviceGetUUID(self, mig: int) -> str:
        return self.slices[mig][3]


def test_the_instances_of_a_gpu_in_mig_mode_become_its_slices() -> None:
    nvml = FakeNvml(
        slices={
            0: ("NVIDIA A100-SXM4-80GB MIG 3g.40gb", 3, 40192, "MIG-aaaa"),
            2: ("NVIDIA A100-SXM4-80GB MIG 1g.10gb", 1, 9728, "MIG-bbbb"),
        }
    )
    assert mig_instances(nvml, "gpu", A100) == (
        MigInstance(0, "3g.40gb", "MIG-aaaa"),
        MigInstance(2, "1g.10gb", "MIG-bbbb"),
    )


def test_no_mig_support_or_mig_off_gives_no_slices() -> None:
    assert mig_instances(FakeNvml(mode=None), "gpu", A100) == ()
    on_but_empty = FakeNvml(mode=0, slices={0: ("x MIG 1g.10gb", 1, 9728, "MIG-c")})
    assert mig_instances(on_but_empty, "gpu", A100) == ()


def test_a_slice_nvml_does_not_name_is_matched_to_the_catalog() -> None:
    # a slice's usable memory is a little under its nominal size
    assert profile_name("MIG device", 1, 9728, A100) == "1g.10gb"
    assert profile_name("MIG device", 1, 19968, A100) == "1g.20gb"
    assert profile_name("MIG device", 3, 40192, A100) == "3g.40gb"
    assert profile_name("MIG device", 2, 20480, ()) == "2g.20gb"  # a model the catalog lacks
