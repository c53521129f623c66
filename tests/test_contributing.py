"""CONTRIBUTING.md's recipe for a new resource runs: each ```python sample of recipe 3, whose
first line names its file, is written where it says (a new module, or added to the module that
exists), the migration is applied, and the widgets it makes are served, created, listed and
read through the SDK and the CLI, another tenant's a 404, bad input a 422 that names the field;
the widgets' loop step, a new file of `aicc.loops` and no other edit, runs in a controller's
pass in the place it declares. A sample that drifts from the code (an import moved, a helper
renamed) fails here.

The samples add a table to `Base`, a command to the CLI, a module to a context and a step to
the loops: that runs in a child interpreter (this file run as a script), so this test session's
own modules stay as they are.
"""

from __future__ import annotations
import __future__

import importlib
import json
import os
import re
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
SAMPLE = re.compile(r"^(?P<indent> *)```python\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
MIGRATION = "aicc/store/migrations/versions/00NN_widgets.py"
STEP = "aicc/loops/widgets.py"  # found by the loops' registry as a file of `aicc.loops`
#: Recipe 3's samples, in the order a contributor writes them (and this test installs them).
FILES = (
    "aicc/store/tables/tenancy.py",
    MIGRATION,
    "aicc/services/tenancy/views.py",
    "aicc/services/tenancy/widgets.py",
    "aicc/api/schemas/widgets.py",
    "aicc/api/routers/widgets.py",
    "aicc/sdk/widgets.py",
    "aicc/cli/widgets.py",
    STEP,
)


@dataclass(frozen=True)
class Sample:
    path: str  # the file its first line names
    code: str  # as the file would hold it, dedented
    before: int  # the lines of CONTRIBUTING.md before its code


def samples() -> list[Sample]:
    """The ```python blocks of recipe 3 whose first line is `# <path>`."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    start = text.index("## 3. ")
    end = text.index("\n## 4. ", start)
    found = []
    for match in SAMPLE.finditer(text, start, end):
        code = textwrap.dedent(match.group("body"))
        first, _, rest = code.partition("\n")
        if first.startswith("# aicc/"):
            before = text.count("\n", 0, match.start()) + 2  # the fence, then the path
            found.append(Sample(first.removeprefix("# "), rest, before))
    return found


def test_recipe_3_has_a_sample_of_each_file() -> None:
    assert [s.path for s in samples()] == list(FILES)


#: Where a path CONTRIBUTING.md names may be read from: the root, the package, and the folders
#: its recipes work in (`ray/nodes.py` is an executor's, `cycle.py` the scheduler's).
BASES = (
    *("", "aicc", "aicc/executors", "aicc/scheduler", "aicc/store/migrations/versions"),
    *("aicc/portal", "aicc/portal/templates", "aicc/portal/i18n"),
)


def test_contributing_names_only_what_exists() -> None:
    """Every file CONTRIBUTING.md names exists (but the widgets' own, which the recipe makes),
    and where it says `file.py`'s `name`, the file defines that name."""
    text = CONTRIBUTING.read_text(encoding="utf-8")
    missing = []
    for token in sorted(set(re.findall(r"`([^`\n]+)`", text))):
        path = token.split(":")[0]
        named = "/" in path or path.endswith((".py", ".html", ".json"))
        if not named or "widget" in path or re.search(r"[\s<>*{$]", path) or path[0] in "/.~":
            continue
        if not any((ROOT / base / path).exists() for base in BASES):
            missing.append(path)
    for path, name in re.findall(r"`([\w/]+\.py)`'s `(\w+)`", text):
        files = [ROOT / base / path for base in BASES if (ROOT / base / path).is_file()]
        source = files[0].read_text(encoding="utf-8") if files else ""
        if not re.search(rf"^\s*(?:def|class|async def) {name}\b|^{name}\b.*=", source, re.M):
            missing.append(f"{path}'s {name}")
    assert not missing, "CONTRIBUTING.md names what is not there: " + ", ".join(missing)


def test_the_samples_are_as_ruff_writes_them() -> None:
    """Each sample passes `ruff format` as the repository configures it, and a whole new file
    `ruff check` too (an addition to a module leans on that module's imports)."""
    wrong = []
    for sample in samples():
        checks = [["format", "--check"]]
        if not (ROOT / sample.path).exists():
            checks.append(["check", "--quiet"])
        for check in checks:
            done = subprocess.run(
                [sys.executable, "-m", "ruff", *check, "--stdin-filename", sample.path, "-"],
                cwd=ROOT,
                input=sample.code,
                capture_output=True,
                text=True,
                timeout=60,
            )
            if done.returncode != 0:
                wrong.append(f"CONTRIBUTING.md:{sample.before} ({check[0]}): {done.stdout}")
    assert not wrong, "\n".join(wrong)


def test_the_samples_run_against_a_server(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AICC_REGISTRY__EMBEDDED": "false"}
    done = subprocess.run(
        [sys.executable, __file__, str(tmp_path / "home")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("the recipe ran"), done.stdout


# --- in the child interpreter ------------------------------------------------------------------


def install(sample: Sample, loops: Path) -> types.ModuleType:
    """The sample run as its file would be: added to the module that exists (as an edit of
    it), else as a new module of that name; the loop step as a file of the `aicc.loops`
    package (in `loops`, a folder of the package here), since the loops' registry finds steps
    by walking the package's files. Its lines are CONTRIBUTING.md's in a traceback."""
    name = sample.path.removesuffix(".py").replace("/", ".")
    existing = ROOT / sample.path
    if sample.path == STEP:
        import aicc.loops

        loops.mkdir(parents=True, exist_ok=True)
        code = "\n" * sample.before + sample.code
        (loops / Path(STEP).name).write_text(code, encoding="utf-8")
        aicc.loops.__path__.append(str(loops))
        return importlib.import_module(name)
    if existing.exists():
        module = importlib.import_module(name)
        source = existing.read_text(encoding="utf-8")
    else:
        module = types.ModuleType(name)
        module.__file__ = str(existing)
        source = sample.code
        if sample.path != MIGRATION:  # Alembic loads a migration by its path, not its name
            sys.modules[name] = module
            parent, _, leaf = name.rpartition(".")
            setattr(importlib.import_module(parent), leaf, module)
    future = "from __future__ import annotations" in source
    flags = __future__.annotations.compiler_flag if future else 0
    code = compile("\n" * sample.before + sample.code, str(CONTRIBUTING), "exec", flags, True)
    exec(code, module.__dict__)  # the repository's own documentation
    return module


def migrate(migration: types.ModuleType, url: str) -> None:
    """The sample migration up, down and up again on a database at the newest revision; then
    the table it built is the table `store/tables/` declares."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.operations import Operations
    from sqlalchemy import create_engine

    from aicc.store.tables.base import Base

    engine = create_engine(url)
    for step in (migration.upgrade, migration.downgrade, migration.upgrade):
        with (
            engine.begin() as connection,
            Operations.context(MigrationContext.configure(connection)),
        ):
            step()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if "widgets" in repr(d)]
    engine.dispose()
    assert not diffs, f"the migration and WidgetRow differ: {diffs}"


def drive(url: str, token: str, state: Any, home: Path) -> None:
    """What a customer does with widgets, through the SDK and the CLI, and what they must not."""
    import httpx
    from typer.testing import CliRunner

    from aicc.cli import main
    from aicc.sdk.client import ApiError, Client
    from aicc.testing.servers import admin
    from aicc.testing.tenants import make_tenant

    # What the samples made, which no type checker sees.
    views: Any = importlib.import_module("aicc.services.tenancy.views")
    widgets: Any = importlib.import_module("aicc.services.tenancy.widgets")
    api: Any
    theirs: Any
    with Client(url, token) as api:
        made = api.widgets.create("gizmo")
        assert isinstance(made, views.Widget) and made.id.startswith("wdg_")
        assert [w.name for w in api.widgets.list()] == ["gizmo"]
        with state.db.reader() as session:  # one read model: the service's is the SDK's
            assert api.widgets.get(made.id) == widgets.get(session, admin(state, home), made.id)
        for bad, status, says in (("gizmo", 409, "gizmo"), ("", 422, "name"), ("a\nb", 422, "")):
            try:
                api.widgets.create(bad)
            except ApiError as err:
                assert err.status_code == status and says in str(err.detail), err
            else:
                raise AssertionError(f"a widget named {bad!r} was made")
    with httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        other = make_tenant(http, "tenant-b")
    with Client(url, other.token) as theirs:
        try:
            theirs.widgets.get(made.id)
        except ApiError as err:
            assert err.status_code == 404, err
        else:
            raise AssertionError("another tenant read the widget")
        assert theirs.widgets.list() == []

    env = {"AICC_SERVER": url, "AICC_TOKEN": token, "COLUMNS": "200"}
    runner = CliRunner()

    def aicc(*args: str) -> Any:
        result = runner.invoke(main.app, ["widget", *args], env=env)
        assert result.exit_code == 0, result.output
        return result

    assert "created widget sprocket" in aicc("create", "sprocket").stderr
    listing = json.loads(aicc("list", "--json").stdout)
    assert [w["name"] for w in listing["items"]] == ["gizmo", "sprocket"]
    assert any(line.split()[:2] == [made.id, "gizmo"] for line in aicc("list").stdout.splitlines())
    assert json.loads(aicc("get", made.id, "--json").stdout) == made.model_dump(mode="json")


def main(home: Path) -> None:
    modules = {sample.path: install(sample, home.parent / "loops") for sample in samples()}
    from aicc.api import schemas
    from aicc.cli import main as cli
    from aicc.config import Settings
    from aicc.core import ids
    from aicc.sdk.client import Client
    from aicc.server import build
    from aicc.store.db import database_url
    from aicc.testing.servers import TEST_RATE_LIMIT, seeded, serving

    # The recipe's one-line edits: the id prefix, the SDK's client, the CLI's noun and (once the
    # server is built) the API's router.
    ids.PREFIXES = ids.PREFIXES | {"wdg"}
    made = Client.__init__

    def with_widgets(self: Client, *args: Any, **kwargs: Any) -> None:
        made(self, *args, **kwargs)
        self.widgets = modules["aicc/sdk/widgets.py"].Widgets(self)  # type: ignore[attr-defined]

    Client.__init__ = with_widgets  # type: ignore[method-assign]
    cli.app.add_typer(modules["aicc/cli/widgets.py"].app, name="widget")

    seeded(home, None)
    migrate(modules[MIGRATION], database_url(None, home))
    settings = Settings.model_validate({"home": home, "limits": {"rate_limit": TEST_RATE_LIMIT}})
    app, state = build(settings)
    app.include_router(modules["aicc/api/routers/widgets.py"].router, responses=schemas.ERRORS)
    try:
        with serving(app) as url:
            drive(url, (home / "admin.token").read_text().strip(), state, home)
        # The step is the controller's, in its place, with nothing else edited; a pass runs it.
        names = [step.name for step in state.controller.steps]
        assert names[names.index("audit") + 1 : names.index("notify")] == ["widgets"], names
        state.controller.tick()
        census: Any = state.controller.steps[names.index("widgets")]
        assert census.widgets == 2, census.widgets  # gizmo and sprocket
    finally:
        state.controller.stop()
        state.db.dispose()
    print("the recipe ran")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
