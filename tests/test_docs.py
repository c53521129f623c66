"""The docs stay true to the code: the generated schema is current and every example loads.

Examples are fenced ```yaml blocks whose first line names them: `# example` (a job spec, in
docs/job-spec.md), `# example: config` and `# example: inventory` (docs/config.md). The files
under examples/ are checked the same way.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from aicc.config import Limits, Settings
from aicc.core import catalog
from aicc.core.jobspec import JobSpec
from aicc.core.states import JobState, Reason
from aicc.scheduler.profiles import get_profile
from aicc.services.nodes.nodes import Inventory, inventory_nodes

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "examples"
FENCE = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def examples(page: str, marker: str) -> list[Any]:
    """The YAML blocks of a page whose first line is `marker`, each as a pytest param."""
    text = (DOCS / page).read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        block = match.group(1)
        if block.split("\n", 1)[0].strip() == marker:
            line = text.count("\n", 0, match.start()) + 1
            found.append(pytest.param(block, id=f"{page}:{line}"))
    return found


def test_schema_block_is_current() -> None:
    assert _gen_docs().check(DOCS / "job-spec.md"), (
        "docs/job-spec.md: the JSON Schema is stale; run python scripts/gen_docs.py"
    )


def test_every_page_has_examples() -> None:
    assert examples("job-spec.md", "# example")
    assert examples("config.md", "# example: config")
    assert examples("config.md", "# example: inventory")


def test_no_example_of_an_unknown_kind() -> None:
    """A misspelt marker would silently drop an example from these tests."""
    known = {"# example", "# example: config", "# example: inventory"}
    for page in ("job-spec.md", "config.md"):
        for match in FENCE.finditer((DOCS / page).read_text(encoding="utf-8")):
            first = match.group(1).split("\n", 1)[0].strip()
            if first.startswith("# example"):
                assert first in known, f"{page}: unknown example marker {first!r}"


@pytest.mark.parametrize("block", examples("job-spec.md", "# example"))
def test_job_spec_example_validates(block: str) -> None:
    JobSpec.model_validate(yaml.safe_load(block))


def _check_config(doc: Any) -> None:
    settings = Settings.model_validate(doc)
    for group in settings.simulated_devices:
        catalog.lookup(group.model)  # the server looks the model up at start
    for name in settings.profiles:  # and builds every profile the site wrote
        get_profile(name, settings.profiles)
    get_profile(settings.policy, settings.profiles)


def _check_inventory(doc: Any) -> None:
    nodes = inventory_nodes(Inventory.model_validate(doc))
    assert nodes, "an inventory example should declare nodes"


@pytest.mark.parametrize(
    "block", examples("config.md", "# example: config") + examples("sso.md", "# example: config")
)
def test_config_example_validates(block: str) -> None:
    _check_config(yaml.safe_load(block))


@pytest.mark.parametrize("block", examples("config.md", "# example: inventory"))
def test_inventory_example_validates(block: str) -> None:
    _check_inventory(yaml.safe_load(block))


@pytest.mark.parametrize("path", ["hello.yaml", "train-mlp/job.yaml"])
def test_example_job_validates(path: str) -> None:
    JobSpec.model_validate(yaml.safe_load((EXAMPLES / path).read_text(encoding="utf-8")))


def test_example_inventory_validates() -> None:
    _check_inventory(yaml.safe_load((EXAMPLES / "inventory.yaml").read_text(encoding="utf-8")))


def test_example_workdir_exists() -> None:
    spec = yaml.safe_load((EXAMPLES / "train-mlp" / "job.yaml").read_text(encoding="utf-8"))
    workdir = (EXAMPLES / "train-mlp" / spec["workdir"]).resolve()
    command = spec["command"].split() if isinstance(spec["command"], str) else spec["command"]
    assert (workdir / command[1]).is_file()


def test_config_page_names_every_setting() -> None:
    text = (DOCS / "config.md").read_text(encoding="utf-8")
    for name in Settings.model_fields:
        assert f"`{name}`" in text, f"docs/config.md does not document setting {name}"
    for name in Limits.model_fields:
        assert f"`{name}`" in text, f"docs/config.md does not document limits.{name}"
    assert "`AICC_GATEWAY__READ_TIMEOUT_S=30`" in text  # the rule every variable follows


def test_job_spec_page_names_every_field_state_and_reason() -> None:
    text = (DOCS / "job-spec.md").read_text(encoding="utf-8")
    people = {"cpu_milli": "cpu", "memory_mib": "memory", "max_runtime_s": "max_runtime"}
    for name in JobSpec.model_fields:
        shown = people.get(name, name)
        assert f"`{shown}`" in text, f"docs/job-spec.md does not document field {shown}"
    for state in JobState:
        assert f"`{state.value}`" in text, f"docs/job-spec.md does not describe state {state}"
    for reason in Reason:
        assert f"`{reason.value}`" in text, f"docs/job-spec.md does not describe reason {reason}"


def _architecture_rows() -> dict[str, str]:
    """docs/ARCHITECTURE.md's folder table: each path its first cell names, to the whole row."""
    rows: dict[str, str] = {}
    for line in (DOCS / "ARCHITECTURE.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `"):
            for path in re.findall(r"`([^`]+)`", line.split("|")[1]):
                rows[path] = line
    return rows


def test_architecture_names_every_folder_and_module() -> None:
    """A newcomer reads the map before the code: a folder or module it leaves out fails here.
    Every top-level folder has a row; every package of `aicc` has a row that names each of its
    modules (as `name.py` or `name`), or the module's whole path heads a row of its own."""
    rows = _architecture_rows()
    built = {"node_modules", "build", "dist", "__pycache__"}  # made by installs, not ours
    missing = [
        f"{p.name}/"
        for p in sorted(ROOT.iterdir())
        if p.is_dir()
        and not p.name.startswith(".")
        and p.name not in built
        and not p.name.endswith(".egg-info")
        and f"{p.name}/" not in rows
    ]
    for path in sorted((ROOT / "aicc").rglob("*.py")):
        rel = path.relative_to(ROOT)
        folder = f"{rel.parent.as_posix()}/"
        if rel.parent.name == "versions":
            continue  # one file per schema revision: the migrations row says so
        if path.name == "__init__.py":
            missing += [] if folder in rows else [folder]
            continue
        row = rows.get(folder, "")
        named = f"`{path.name}`" in row or f"`{path.stem}`" in row or rel.as_posix() in rows
        missing += [] if named else [rel.as_posix()]
    assert not missing, "docs/ARCHITECTURE.md does not name: " + ", ".join(missing)
