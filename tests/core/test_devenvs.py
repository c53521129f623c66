"""Development environments (issue 39): versions compare as versions, a node's labels are
checked against what an image needs with the reason in words, image references find their
catalog entry in any registry, and the catalog AICC ships loads with every entry valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aicc.core.devenvs import (
    FAMILIES,
    at_least,
    declared_needs,
    fits,
    meets,
    merge_needs,
    parse_catalog,
    split_reference,
    version_key,
)

CATALOG = Path(__file__).resolve().parents[2] / "aicc" / "services" / "jobs" / "devenvs.yaml"
CUDA_124 = (("nvidia.com/cuda", "12.4"),)


@pytest.mark.parametrize(
    ("have", "minimum", "ok"),
    [
        ("12.4", "12.4", True),
        ("12.6", "12.4", True),
        ("12.2", "12.4", False),
        ("12.10", "12.4", True),  # numbers, not text: "12.10" < "12.4" as strings
        ("12.4.0", "12.4", True),
        ("12.4", "12.4.1", False),
        ("550.54.14", "550.54.14", True),
        ("535.183.01", "550.54.14", False),
        ("560.28.03", "550.54.14", True),
        ("24.1.RC1", "24.1.RC1", True),
        ("24.1.rc2", "24.1.RC1", True),  # case does not matter
        ("24.1.RC1", "24.1.0", False),  # a release candidate comes before its release
        ("24.1.0", "24.1.RC3", True),
        ("23.0.3", "24.1.RC1", False),
        ("8.0.RC1", "7.0.0", True),
    ],
)
def test_versions_compare_part_by_part_as_numbers(have: str, minimum: str, ok: bool) -> None:
    assert at_least(have, minimum) is ok


@pytest.mark.parametrize("text", ["", "latest", "v", "12 .4", "x" * 80, "../12"])
def test_text_that_is_no_version_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a version"):
        version_key(text)


def test_fits_names_the_image_the_label_and_what_the_node_has() -> None:
    image = "cuda12.4-torch2.5"
    said = fits(CUDA_124, {"nvidia.com/cuda": "12.2"}, image=image, node="n1")
    assert said == "image cuda12.4-torch2.5 needs nvidia.com/cuda >= 12.4; node n1 has 12.2"
    assert fits(CUDA_124, {"nvidia.com/cuda": "12.6"}, image=image, node="n2") is None
    missing = fits(CUDA_124, {"pool": "a"}, node="cpu1")
    no_label = "node cpu1 has no nvidia.com/cuda label"
    assert missing == f"the image needs nvidia.com/cuda >= 12.4; {no_label}"
    junk = fits(CUDA_124, {"nvidia.com/cuda": "<b>new</b>"}, node="n3")
    assert junk is not None and "which is no version" in junk


def test_every_need_must_be_met() -> None:
    needs = (("huawei.com/ascend-driver", "24.1.RC1"), ("pool", "1"))
    assert meets(needs, {"huawei.com/ascend-driver": "24.1.0", "pool": "2"})
    assert not meets(needs, {"huawei.com/ascend-driver": "24.1.0"})
    assert not meets(needs, {"huawei.com/ascend-driver": "garbage", "pool": "2"})
    assert meets((), {})


def test_an_image_declares_needs_in_its_labels_and_junk_is_skipped() -> None:
    labels = {
        "org.aicc.needs.nvidia.com/cuda": "12.6",
        "org.aicc.needs.bad label": "1.0",  # no label name
        "org.aicc.needs.huawei.com/ascend-driver": "; rm -rf /",  # no version
        "org.opencontainers.image.version": "1.0",
    }
    assert declared_needs(labels) == (("nvidia.com/cuda", "12.6"),)
    assert merge_needs(CUDA_124, declared_needs(labels)) == (("nvidia.com/cuda", "12.6"),)
    assert merge_needs((("a", "2"),), (("a", "1.9"), ("b", "1"))) == (("a", "2"), ("b", "1"))


@pytest.mark.parametrize(
    ("reference", "path", "tag"),
    [
        ("base/cuda:12.4-torch2.5", "base/cuda", "12.4-torch2.5"),
        ("registry.center:5000/base/cuda:12.4-torch2.5", "base/cuda", "12.4-torch2.5"),
        ("localhost/acme/ml/base/cuda:12.4-torch2.5", "acme/ml/base/cuda", "12.4-torch2.5"),
        ("docker.io/library/python:3.11", "python", "3.11"),
        ("python", "python", None),
        ("base/cuda@sha256:" + "a" * 64, "base/cuda", None),
    ],
)
def test_references_split_into_repository_path_and_tag(reference: str, path: str, tag: str) -> None:
    assert split_reference(reference) == (path, tag)


def shipped() -> dict:
    return yaml.safe_load(CATALOG.read_text())


def test_the_shipped_catalog_loads_and_covers_every_family() -> None:
    catalog = parse_catalog(shipped(), str(CATALOG))
    assert {e.family for e in catalog.entries} == set(FAMILIES)
    runtimes = {(e.runtime, e.runtime_version) for e in catalog.entries if e.family == "nvidia"}
    assert {("cuda", v) for v in ("11.8", "12.1", "12.4", "12.6")} <= runtimes
    for entry in catalog.entries:
        if entry.family == "cpu":
            assert entry.needs == ()
            continue
        assert entry.needs, entry.name  # a vendor image needs its driver
        for _, minimum in entry.needs:
            version_key(minimum)
        build = dict(entry.build)
        assert "like" in build or "packages" in build, entry.name  # the script can build it


def test_the_catalog_finds_an_image_in_any_registry_or_by_its_name() -> None:
    catalog = parse_catalog(shipped())
    for reference in (
        "base/cuda:12.4-torch2.5",
        "registry.center:5000/base/cuda:12.4-torch2.5",
        "registry.center:5000/acme/ml/base/cuda:12.4-torch2.5",
        "cuda12.4-torch2.5",
        "docker.io/pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",  # the vendor's own
    ):
        assert catalog.needs_of(reference) == CUDA_124, reference
    assert catalog.find("base/cuda:12.5-torch2.5") is None  # another tag
    assert catalog.find("base/cuda") is None  # no tag: no guess
    assert catalog.find("mybase/cuda:12.4-torch2.5") is None  # not at a path boundary
    assert catalog.needs_of("base/python:3.11-bookworm") == ()
    # An image's own labels raise what the catalog says, never lower it.
    raised = catalog.needs_of("cuda12.4-torch2.5", {"org.aicc.needs.nvidia.com/cuda": "12.6"})
    assert raised == (("nvidia.com/cuda", "12.6"),)
    lowered = catalog.needs_of("cuda12.4-torch2.5", {"org.aicc.needs.nvidia.com/cuda": "11.0"})
    assert lowered == CUDA_124


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"family": "tpu"}, "family 'tpu' is not one of"),
        ({"needs": {"nvidia.com/cuda": "new"}}, "needs.nvidia.com/cuda"),
        ({"needs": {}}, "needs at least one node label"),
        ({"image": "base/cuda"}, "repository:tag"),
        ({"runtime": "cuda"}, "runtime must be"),
        ({"colour": "green"}, "unknown fields colour"),
        ({"build": {"like": "nothing"}}, "build.like 'nothing'"),
    ],
)
def test_a_broken_entry_is_refused_with_what_to_fix(change: dict, words: str) -> None:
    data = shipped()
    entry = next(e for e in data["images"] if e["name"] == "cuda12.4-torch2.5")
    entry.update(change)
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(".", r"\.")):
        parse_catalog(data, "site.yaml")


def test_a_name_twice_is_refused() -> None:
    data = shipped()
    data["images"].append(dict(data["images"][0]))
    with pytest.raises(ValueError, match="appears twice"):
        parse_catalog(data)
