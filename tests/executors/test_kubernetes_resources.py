"""The device plugin's names for the catalog's devices (moved from the catalog, which keeps only
what is true of a device whatever runs it)."""

from __future__ import annotations

import pytest

from aicc.core.catalog import CATALOG, Vendor
from aicc.executors.kubernetes.resources import (
    MODEL_RESOURCES,
    PLUGIN_RESOURCES,
    VENDOR_RESOURCES,
    counts,
    device_resource,
    known_resources,
    resource_vendor,
)


def test_every_catalogued_device_has_a_resource() -> None:
    assert set(VENDOR_RESOURCES) == set(Vendor)
    for model in CATALOG.values():
        domain, _, name = device_resource(model).partition("/")
        assert domain and name, model.name


@pytest.mark.parametrize(
    ("name", "resource"),
    [
        ("H100-SXM", "nvidia.com/gpu"),
        ("Ascend-910B", "huawei.com/Ascend910"),
        ("MLU370-X8", "cambricon.com/mlu"),
        ("DCU-Z100", "hygon.com/dcu"),
        ("Kunlun-R200", "kunlunxin.com/xpu"),
        ("MI300X", "amd.com/gpu"),
        ("MTT-S4000", "mthreads.com/gpu"),
        ("Ascend-310P", "huawei.com/Ascend310P"),
        ("Ascend-310", "huawei.com/Ascend310"),
    ],
)
def test_device_resource(name: str, resource: str) -> None:
    assert device_resource(CATALOG[name]) == resource
    assert device_resource(name) == resource


def test_device_resource_for_mig_slice() -> None:
    assert device_resource("A100-80GB", mig_profile="1g.10gb") == "nvidia.com/mig-1g.10gb"
    with pytest.raises(ValueError, match="no MIG profile"):
        device_resource("A100-80GB", mig_profile="1g.5gb")
    with pytest.raises(ValueError, match="offers: none"):
        device_resource("T4", mig_profile="1g.10gb")


def test_a_chip_family_named_apart_by_its_plugin() -> None:
    by_model = {"Ascend-910B": "huawei.com/Ascend910B"}
    assert device_resource("Ascend-910B", by_model=by_model) == "huawei.com/Ascend910B"
    assert device_resource("Ascend-910B") == "huawei.com/Ascend910"


def test_every_resource_name_maps_back_to_its_vendor() -> None:
    """The tables are read both ways: a model's resource names its vendor, and every resource
    a node may count devices in is one a model of that vendor counts in."""
    for model in CATALOG.values():
        assert resource_vendor(device_resource(model)) is model.vendor, model.name
        assert counts(device_resource(model), model)
    for resource in known_resources():
        vendor = resource_vendor(resource)
        assert vendor is not None, resource
        assert any(counts(resource, m) for m in CATALOG.values() if m.vendor is vendor), resource
    assert set(MODEL_RESOURCES) <= set(CATALOG)
    assert resource_vendor("example.com/widget") is None


def test_hamis_names_count_their_vendors_devices() -> None:
    assert PLUGIN_RESOURCES["hygon.com/dcunum"] is Vendor.HYGON
    assert counts("hygon.com/dcunum", CATALOG["DCU-Z100"])
    assert not counts("hygon.com/dcunum", CATALOG["MLU370-X8"])
    assert not counts("huawei.com/Ascend910", CATALOG["Ascend-310P"])
