"""Every table has one owner (issue 59): the context whose module of `aicc/store/tables/` declares
a `...Row` class alone uses it; another context reads it through the owner's read functions and read
models, writes it through the owner's writers, or keeps a record of its own. `ALLOWED` lists the
uses left from before the rule, as (context, table) pairs: it only shrinks, and a pair that is
no longer used must come off it, so the list ends at nothing."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import aicc.services
from aicc.store import tables

SERVICES = Path(aicc.services.__file__).parent

# (the context that uses a table, the table) where the context is not the table's owner.
ALLOWED: set[tuple[str, str]] = set()


def _context(path: Path, root: Path) -> str:
    """`jobs` for services/jobs/anything.py; `common` for services/common.py."""
    parts = path.relative_to(root).parts
    return parts[0].removesuffix(".py")


def _rows_used(source: str, rows: set[str]) -> set[str]:
    """The `...Row` class names a module names: imported, referred to, or read off the module
    (`tables.JobRow`). A row reached through a relationship (`job.replicas`) is its owner's own
    business and is not counted: the relationships stay inside one context's tables."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Name):
            name = node.id
        elif isinstance(node, ast.Attribute):
            name = node.attr
        elif isinstance(node, ast.alias):
            name = node.name
        else:
            continue
        if name in rows:
            found.add(name)
    return found


def foreign_uses(root: Path = SERVICES) -> dict[tuple[str, str], list[str]]:
    """(context, table) -> the modules of that context that use a table another context owns."""
    rows = set(tables.rows())
    uses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for path in sorted(root.rglob("*.py")):
        context = _context(path, root)
        for row in _rows_used(path.read_text(encoding="utf-8"), rows):
            if tables.owner_of(row) != context:
                uses[(context, row)].append(str(path.relative_to(root)))
    return dict(uses)


def test_every_table_has_one_owning_context() -> None:
    """Each module of aicc/store/tables/ (but `base`) is named after a context of the services,
    and every row class is declared in one of them."""
    contexts = {p.name for p in SERVICES.iterdir() if (p / "__init__.py").exists()}
    modules = {p.stem for p in Path(tables.__file__).parent.glob("*.py")} - {"__init__", "base"}
    assert sorted(modules - contexts) == []
    owners = {name: tables.owner_of(row) for name, row in tables.rows().items()}
    assert len(owners) > 90 and set(owners.values()) == modules, owners


def test_contexts_use_only_their_own_tables() -> None:
    uses = foreign_uses()
    new = {pair: uses[pair] for pair in sorted(set(uses) - ALLOWED)}
    assert new == {}, "go through the owner's read functions and writers (docs/ARCHITECTURE.md)"
    gone = sorted(ALLOWED - set(uses))
    assert gone == [], "no longer used: take these off ALLOWED"


def test_the_check_bites(tmp_path: Path) -> None:
    """A billing module naming the jobs' table, by import or off the module, is found; a jobs
    module naming its own is not."""
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "x.py").write_text("from aicc.store.tables.jobs import JobRow\n")
    (tmp_path / "billing" / "y.py").write_text("from aicc.store.tables import jobs\njobs.JobRow\n")
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / "z.py").write_text("from aicc.store.tables.jobs import JobRow\n")
    assert foreign_uses(tmp_path) == {("billing", "JobRow"): ["billing/x.py", "billing/y.py"]}
