"""The docs stay true to the code: the generated schema is current, every example loads, and
docs/ARCHITECTURE.md, the map, names every package and only what exists, draws the floors as
the import contract has them and the contexts of `aicc/services` as they import each other,
lists each context's modules whole, and says true what can be checked (the loop steps, what the
views and the CLI import, that no face wakes the loops), in at most MAP_BYTES; every module has
the docstring the map leaves the details to.

Examples are fenced ```yaml blocks whose first line names them: `# example` (a job spec, in
docs/job-spec.md), `# example: config` and `# example: inventory` (docs/config.md). The files
under examples/ are checked the same way.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import re
import subprocess
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from aicc.config import Limits, Settings
from aicc.core import accelerator_names
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
        accelerator_names.lookup(group.model)  # the server looks the model up at start
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


ARCHITECTURE = DOCS / "ARCHITECTURE.md"
TICKED = re.compile(r"`([^`\n]+)`")
PICTURE = re.compile(r"^```text\n(.*?)^```", re.MULTILINE | re.DOTALL)
BUILT = {"node_modules", "build", "dist", "__pycache__"}  # made by installs, not ours


def _architecture() -> str:
    return ARCHITECTURE.read_text(encoding="utf-8")


def _expand(token: str) -> list[str]:
    """`services/jobs/{jobs,views}.py` is `services/jobs/jobs.py` and `services/jobs/views.py`."""
    brace = re.search(r"\{([^{}]*)\}", token)
    if brace is None:
        return [token]
    head, tail = token[: brace.start()], token[brace.end() :]
    return [p for part in brace.group(1).split(",") for p in _expand(head + part + tail)]


def _named_paths(*, listed: bool = False) -> list[str]:
    """The paths the map names: ticked, with a `/`, no spaces or placeholders; a route (`/v1`)
    or a place under `$AICC_HOME` is no path of the tree. `listed`: also the folder of every
    module list (`services/jobs/{jobs,views}.py` names `services/jobs/`)."""
    found = []
    for token in TICKED.findall(_architecture()):
        if "/" not in token or token.startswith(("/", "$")) or re.search(r"[\s<>*|]", token):
            continue
        found += _expand(token)
        if listed and "{" in token:
            found.append(token.split("{", 1)[0])
    return found


def _in_tree(path: str) -> Path | None:
    """A named path, from the root of the repository or from `aicc/` (`api/params.py`)."""
    for base in (ROOT, ROOT / "aicc"):
        if (base / path).exists():
            return (base / path).resolve()
    return None


def _picture(heading: str, *, described: bool) -> list[list[str]]:
    """The first ```text block after `heading`, top line first: each line's names (split at
    `|` or spaces), before two spaces and a description where lines are `described`."""
    text = _architecture()
    start = text.index(heading)
    match = PICTURE.search(text, start)
    assert match is not None, f"docs/ARCHITECTURE.md: no picture under {heading!r}"
    rows = []
    for line in match.group(1).splitlines():
        names = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0] if described else line
        rows.append([n for n in re.split(r"[\s|]+", names) if n])
    return rows


def test_architecture_names_every_folder() -> None:
    """A newcomer reads the map before the code: a top-level folder or a package of `aicc` it
    leaves out (by its path, or a list of its modules) fails here, and so does a built-in
    template it does not name."""
    named = {found for p in _named_paths(listed=True) if (found := _in_tree(p)) is not None}
    tops = [
        p
        for p in sorted(ROOT.iterdir())
        if p.is_dir()
        and not p.name.startswith(".")
        and p.name not in BUILT
        and not p.name.endswith(".egg-info")
    ]
    packages = [p.parent for p in sorted((ROOT / "aicc").rglob("__init__.py"))]
    folders = [
        *tops,
        *packages,
        ROOT / "aicc" / "store" / "migrations",
        ROOT / "aicc" / "templates",
    ]
    missing = [p.relative_to(ROOT).as_posix() + "/" for p in folders if p.resolve() not in named]
    ticked = set(TICKED.findall(_architecture()))
    templates = [p for p in sorted((ROOT / "aicc" / "templates").iterdir()) if p.is_dir()]
    missing += [
        f"the template {p.name}" for p in templates if p.name not in BUILT and p.name not in ticked
    ]
    assert not missing, "docs/ARCHITECTURE.md does not name: " + ", ".join(missing)


def test_architecture_names_only_what_exists() -> None:
    """Every path the map names exists, every `aicc.x` it names imports, and where it says
    `module.py`'s `name`, the module defines that name: a moved or renamed module fails here."""
    text = _architecture()
    missing = [p for p in _named_paths() if _in_tree(p) is None]
    for dotted in set(re.findall(r"`(aicc(?:\.\w+)+)`", text)):
        module, _, attribute = dotted.rpartition(".")
        try:
            imports = importlib.util.find_spec(dotted) is not None
            imports = imports or hasattr(importlib.import_module(module), attribute)
        except ImportError:
            imports = False
        missing += [] if imports else [dotted]
    for path, name in re.findall(r"`([\w/]+\.py)`'s `(\w+)`", text):
        file = _in_tree(path)
        source = file.read_text(encoding="utf-8") if file else ""
        if not re.search(rf"^\s*(?:def|class|async def) {name}\b|^{name}\b.*=", source, re.M):
            missing.append(f"{path}'s {name}")
    assert not missing, "docs/ARCHITECTURE.md names what is not there: " + ", ".join(missing)


def test_every_module_has_a_docstring() -> None:
    """The details the map leaves out live in the modules' docstrings: each says what it holds
    and why. An empty `__init__.py` (a folder marked as a package, nothing more) is exempt."""
    missing = []
    for path in sorted((ROOT / "aicc").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if path.name == "__init__.py" and not source.strip():
            continue
        if ast.get_docstring(ast.parse(source)) is None:
            missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, "modules without a docstring: " + ", ".join(missing)


def test_the_floors_picture_is_the_import_contract() -> None:
    """The floors drawn in docs/ARCHITECTURE.md are the `floors` layers of pyproject.toml, and
    the map names every other import contract."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    (floors,) = [c for c in contracts if c["id"] == "floors"]
    layers = [
        sorted(n.strip().removeprefix("aicc.") for n in f.split("|")) for f in floors["layers"]
    ]
    drawn = [sorted(row) for row in _picture("## Floors", described=True)]
    assert drawn == layers, "docs/ARCHITECTURE.md's floors are not pyproject.toml's `floors`"
    ticked = set(TICKED.findall(_architecture()))
    unsaid = [c["id"] for c in contracts if c["id"] not in ticked]
    assert not unsaid, "docs/ARCHITECTURE.md does not say what these contracts keep: " + str(unsaid)


def _context_of(module: str, name: str) -> str | None:
    """The context (or `common`, `changes`) an import of `name` from `module` reaches."""
    if module == "aicc.services":
        return name
    if module.startswith("aicc.services."):
        return module.split(".")[2]
    return None


def _uses() -> dict[str, set[str]]:
    """Which contexts each context of `aicc/services` imports, as the code has it."""
    services = ROOT / "aicc" / "services"
    uses: dict[str, set[str]] = {}
    for init in sorted(services.glob("*/__init__.py")):
        context = init.parent.name
        reached: set[str | None] = set()
        for path in sorted(init.parent.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ImportFrom) and node.module:
                    reached |= {_context_of(node.module, a.name) for a in node.names}
                elif isinstance(node, ast.Import):
                    reached |= {_context_of(a.name.rpartition(".")[0], a.name) for a in node.names}
        uses[context] = {c for c in reached if c and c not in (context, "common", "changes")}
    return uses


def _uses_table() -> dict[str, set[str]]:
    """The map's table under the contexts' picture: `| context(s) | uses |`."""
    text = _architecture()
    section = text[text.index("## The contexts of `services`") :]
    table: dict[str, set[str]] = {}
    for row in re.findall(r"^\| ([a-z, ]+) \| ([a-z, —]+) \|$", section, re.MULTILINE):
        for context in row[0].split(", "):
            table[context] = {u for u in row[1].split(", ") if u != "—"}
    return table


def test_the_contexts_picture_is_their_imports() -> None:
    """Each context of `aicc/services` is drawn once, has its paragraph, imports only the
    contexts drawn on lower lines, and its row of the table names exactly the contexts it
    imports: a new import means the map (or the code) is wrong."""
    rows = _picture("## The contexts of `services`", described=False)
    line = {name: i for i, row in enumerate(rows) for name in row}
    services = ROOT / "aicc" / "services"
    uses = _uses()
    modules = sorted(p.stem for p in services.glob("*.py") if p.name != "__init__.py")
    assert sorted(line) == sorted([*uses, *modules])
    assert sum(len(row) for row in rows) == len(line), "a context is drawn twice"
    text = _architecture()
    wrong = [f"{c} has no paragraph" for c in uses if f"**{c}**" not in text]
    wrong += [
        f"{c} imports {o}, drawn as high" for c in uses for o in uses[c] if line[o] <= line[c]
    ]
    table = _uses_table()
    wrong += [
        f"{c} uses {sorted(uses[c])}, the table says {sorted(table.get(c, ()))}"
        for c in uses
        if table.get(c) != uses[c]
    ]
    assert not wrong, "docs/ARCHITECTURE.md's contexts: " + "; ".join(wrong)


MAP_BYTES = 25_000  # the map is read in one sitting; details go to the modules' docstrings


def test_the_map_is_short() -> None:
    size = len(ARCHITECTURE.read_bytes())
    assert size <= MAP_BYTES, f"docs/ARCHITECTURE.md is {size} bytes, over {MAP_BYTES}"


def _services_modules() -> dict[str, list[Path]]:
    """Each module stem of `aicc/services` (`transitions`), with the files of that name."""
    found: dict[str, list[Path]] = {}
    for path in sorted((ROOT / "aicc" / "services").rglob("*.py")):
        found.setdefault(path.stem, []).append(path)
    return found


def _defines(path: Path, name: str) -> bool:
    source = path.read_text(encoding="utf-8")
    return re.search(rf"^(?:def|class|async def) {name}\b|^{name}\b.*=", source, re.M) is not None


def test_the_context_module_lists_are_whole() -> None:
    """A context's list of modules (`services/jobs/{jobs,views}.py`) names every module of its
    folder, and a `module.name` the map ticks (`transitions.change_state`), where the module is
    one of `aicc/services`, is defined there: a module added, renamed or moved fails here."""
    text = _architecture()
    wrong = []
    for folder, listed in re.findall(r"`aicc/services/(\w+)/\{([^{}]*)\}\.py`", text):
        files = {p.stem for p in (ROOT / "aicc" / "services" / folder).glob("*.py")}
        files.discard("__init__")
        if files != set(listed.split(",")):
            odd = sorted(set(listed.split(",")) ^ files)
            wrong.append(f"{folder}: the list and the folder differ in {odd}")
    modules = _services_modules()
    for module, name in re.findall(r"`([a-z_]+)\.([a-z_A-Z]+)(?:\([^`]*\))?`", text):
        if name == "py" or module not in modules:
            continue  # a file (`views.py`), or no module of the services
        if not any(_defines(p, name) for p in modules[module]):
            wrong.append(f"{module}.{name}")
    assert not wrong, "docs/ARCHITECTURE.md's contexts: " + "; ".join(wrong)


def _step_order() -> list[str]:
    """The order tests/loops/test_steps.py checks a real controller's steps run in (`ORDER`)."""
    tree = ast.parse((ROOT / "tests" / "loops" / "test_steps.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["ORDER"]:
            return list(ast.literal_eval(node.value))
    raise AssertionError("tests/loops/test_steps.py has no ORDER")


def test_the_map_names_the_loop_steps() -> None:
    """The steps a pass goes through, as the map lists them, are the steps that exist (each
    `Step`'s `name`, its label in /metrics), in the order a real controller runs them."""
    text = _architecture()
    listed = re.search(r"in this order: (.*?) \(each", text, re.DOTALL)
    assert listed is not None, "docs/ARCHITECTURE.md: no list of the loop steps"
    named = re.findall(r"`(\w+)`", listed.group(1))
    steps = []
    for path in sorted((ROOT / "aicc" / "loops").glob("*.py")):
        steps += re.findall(r'^    name = "(\w+)"$', path.read_text(encoding="utf-8"), re.M)
    assert sorted(named) == sorted(steps), f"the map's steps {named}, the code's {steps}"
    # a step built only when configured (`meters`) is not in a default controller's list
    order = _step_order()
    assert [n for n in named if n in order] == order, (
        f"the map's order {named}, the controller's {order}"
    )


def _aicc_imports(path: Path) -> set[str]:
    """The modules of `aicc` a file imports (anywhere in it, type-checking blocks included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m == "aicc" or m.startswith("aicc.")}


def _is_view(module: str) -> bool:
    return re.fullmatch(r"aicc\.services\.\w+\.views", module) is not None


def test_views_import_what_the_map_says() -> None:
    """A context's `views.py` imports pydantic, the standard library, `aicc.core`,
    `aicc.services.common` and other contexts' views: nothing that opens a database."""
    import sys

    wrong = []
    for path in sorted((ROOT / "aicc" / "services").glob("*/views.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top == "pydantic":
                    continue
                if name.startswith("aicc.core") or name == "aicc.services.common" or _is_view(name):
                    continue
                wrong.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not wrong, "; ".join(wrong)


#: The CLI's modules that import more than the SDK, `aicc.core` and the contexts' views: commands
#: that run on the server's machine or need no server (docs/ARCHITECTURE.md, the faces).
CLI_LOCAL = {
    "main.py": {"aicc.server"},  # aicc serve
    "backups.py": {"aicc.config", "aicc.services.center", "aicc.services.center.backups"}
    | {"aicc.services.common"},  # aicc admin backup|restore
    "federation.py": {"aicc.config", "aicc.services.federation"},  # aicc federation key
    "sim.py": {"aicc.scheduler", "aicc.sim"},  # aicc sim
    "bench.py": {"aicc.bench"},  # aicc bench
}


def test_the_cli_talks_to_servers_through_the_sdk() -> None:
    """What the CLI imports of AICC is the SDK, `aicc.core` and the contexts' views, save the
    local commands of CLI_LOCAL, which the map names."""
    wrong = []
    for path in sorted((ROOT / "aicc" / "cli").glob("*.py")):
        allowed = CLI_LOCAL.get(path.name, set())
        for module in sorted(_aicc_imports(path)):
            if module in ("aicc", "aicc.cli", "aicc.sdk") or module.startswith(
                ("aicc.cli.", "aicc.sdk.", "aicc.core.")
            ):
                continue
            if _is_view(module) or any(module == a or module.startswith(a + ".") for a in allowed):
                continue
            wrong.append(f"aicc/cli/{path.name} imports {module}")
    assert not wrong, "; ".join(wrong)
    text = _architecture()
    for local in ("aicc serve", "aicc admin backup|restore", "aicc federation key", "aicc sim"):
        assert f"`{local}`" in text, f"docs/ARCHITECTURE.md does not name {local} as local"


def test_no_face_wakes_the_loops() -> None:
    """The loops wake when a marked transaction commits (`changes.changed`): no route or page
    calls `wake()` itself."""
    wrong = []
    for face in ("api", "portal"):
        for path in sorted((ROOT / "aicc" / face).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "wake"
                ):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not wrong, "routes or pages that wake the loops: " + ", ".join(wrong)


# --- the repository carries its own rules -------------------------------------------------------

# Rule books kept outside the clone, which a reader of the repository cannot open: what the code
# follows is restated in docs/contracts.md and docs/benchmarks-protocol.md, and cited there.
OUTSIDE_RULES = re.compile(r"\bCONTRACTS\b|BENCHMARKS-REFERENCE|\bDESIGN\.md\b|\bSTYLE\.md\b")
# The folder beside the clone, by its relative or its absolute name on the project's machines.
SHARED = re.compile(r"(?:\.\./|/work/)shared\b(?P<rest>/data/traces\b)?")
# Public traces (the openb, Philly and carbon-2020 data) are data, never committed: they are read
# where they lie, in `shared/data/traces` beside the clone. Only these files may name that folder,
# and only it, never anything else of `shared`: the default paths of `aicc sim`, the pages that
# say where the traces are, and the benchmarks and tests that replay them. A path ending in `/`
# is a folder, every file under it.
TRACE_READERS = (
    "README.md",
    "aicc/cli/sim.py",
    "docs/benchmarks-protocol.md",
    "docs/billing.md",
    "docs/green.md",
    "benchmarks/",
    "tests/scheduler/test_placement.py",
    "tests/services/billing/test_energy_profile.py",
)
NOT_CHECKED = (
    "BENCHMARKS.md",  # the results log, rewritten on its own (issue 59)
    "tests/test_docs.py",  # names what it forbids
)
CITED = {
    "docs/contracts.md": re.compile(r"docs/contracts\.md\s+§(\d+)"),
    "docs/benchmarks-protocol.md": re.compile(r"docs/benchmarks-protocol\.md\s+§(\d+)"),
}
SECTION = re.compile(r"^## (\d+)\. \S", re.MULTILINE)


@functools.cache
def _tracked() -> tuple[str, ...]:
    """The repository's files, as git tracks them; without git (an unpacked archive), every
    file under the root but what installs and builds make."""
    try:
        listing = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode()
        return tuple(sorted(p for p in listing.split("\0") if p and (ROOT / p).is_file()))
    except (OSError, subprocess.SubprocessError):
        skip = {".git", ".venv", *BUILT}
        return tuple(
            sorted(
                p.relative_to(ROOT).as_posix()
                for p in ROOT.rglob("*")
                if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
            )
        )


def _text(path: str) -> str:
    return (ROOT / path).read_bytes().decode("utf-8", errors="replace")


def _listed(path: str, listing: tuple[str, ...]) -> bool:
    return any(path == item or (item.endswith("/") and path.startswith(item)) for item in listing)


def test_no_rules_from_outside_the_repository() -> None:
    """Nothing the repository holds cites a rule book a reader of the clone cannot open, or
    reads anything beside the clone but the public traces (see TRACE_READERS)."""
    files = _tracked()
    assert "docs/contracts.md" in files and "aicc/core/jobspec.py" in files
    wrong = []
    for path in files:
        if _listed(path, NOT_CHECKED):
            continue
        text = _text(path)
        for match in OUTSIDE_RULES.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            wrong.append(f"{path}:{line} cites {match.group()} (cite docs/contracts.md instead)")
        for match in SHARED.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            if match.group("rest") is None:
                wrong.append(f"{path}:{line} names {match.group()}, not its trace folder")
            elif not _listed(path, TRACE_READERS):
                wrong.append(f"{path}:{line} reads traces but is not in TRACE_READERS")
    assert not wrong, "\n".join(wrong)


def _sections(page: str) -> list[int]:
    return [int(n) for n in SECTION.findall(_text(page))]


@pytest.mark.parametrize("page", sorted(CITED))
def test_rule_pages_number_their_sections_in_order(page: str) -> None:
    """Sections are cited by number: 1, 2, 3... each once, so a gap or a repeat shows."""
    numbers = _sections(page)
    assert numbers == list(range(1, len(numbers) + 1)), f"{page}: sections {numbers}"


def test_every_cited_section_exists() -> None:
    """Each `docs/contracts.md §N` (and `docs/benchmarks-protocol.md §N`) anywhere in the
    repository, and each bare `§N` inside those pages, names a section the page has."""
    sections = {page: set(_sections(page)) for page in CITED}
    wrong = []
    for path in _tracked():
        text = _text(path)
        for page, pattern in CITED.items():
            for match in pattern.finditer(text):
                if int(match.group(1)) not in sections[page]:
                    line = text.count("\n", 0, match.start()) + 1
                    wrong.append(f"{path}:{line} cites {page} §{match.group(1)}, which is absent")
    for page in CITED:
        text = _text(page)
        for match in re.finditer(r"§(\d+)", text):
            if int(match.group(1)) not in sections[page]:
                line = text.count("\n", 0, match.start()) + 1
                wrong.append(f"{page}:{line} refers to its own §{match.group(1)}, which is absent")
    assert not wrong, "\n".join(wrong)


SECURITY = DOCS / "security.md"
HOSTILE = ROOT / "tests" / "hostile"


def _security_rows() -> list[str]:
    """The rows of docs/security.md's table of surfaces (the header and its rule left out)."""
    lines = SECURITY.read_text(encoding="utf-8").splitlines()
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| surface ")]
    assert len(rows) > 10, "docs/security.md: no table of surfaces"
    return rows


def test_the_threat_model_cites_tests_and_code_that_exist() -> None:
    """Every test file docs/security.md cites, and every module or folder of the tree it names,
    is there: a row cannot point at a probe that was renamed or removed."""
    missing = []
    for token in TICKED.findall(SECURITY.read_text(encoding="utf-8")):
        if token.startswith("tests/"):
            found = (ROOT / token).exists()
        elif "/" in token and (token.endswith(".py") or token.startswith("aicc/")):
            found = _in_tree(token) is not None
        else:
            continue  # a setting, a variable, a file of a job's outputs
        if not found:
            missing.append(token)
    assert not missing, f"docs/security.md names what does not exist: {missing}"


def test_every_hostile_probe_is_a_row_of_the_threat_model() -> None:
    """A file of tests/hostile/ that no row of docs/security.md cites is a surface the table
    does not show (CONTRIBUTING.md: a new surface adds its row and its probes)."""
    cited = {t for row in _security_rows() for t in TICKED.findall(row) if t.startswith("tests/")}
    probes = {f"tests/hostile/{p.name}" for p in HOSTILE.glob("test_*.py")}
    assert not sorted(probes - cited), "tests/hostile/ files no row of docs/security.md cites"


def test_no_file_keeps_a_merge_conflicts_markers() -> None:
    """A merge resolved by hand once committed its conflict markers into ARCHITECTURE.md."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    marked = []
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if path.is_file() and not path.is_symlink() and path.suffix not in (".png", ".gz"):
            lines = path.read_bytes().splitlines()
            if any(line.startswith((b"<<<<<<< ", b">>>>>>> ")) for line in lines):
                marked.append(name.decode())
    assert marked == []
