"""The check before a template run (issue 37, point 5): a template whose `requirements` name a
library this server's Python cannot import is refused with the modules and the one command that
installs them, but only where its job would run on this Python (every node on the local
executor); a remote engine's runtime is not checked."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from aicc.services.common import Invalid, utcnow
from aicc.services.models import template_runtime, templates
from aicc.store.db import open_database
from aicc.store.tables.nodes import NodeRow


def lacking(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in modules else real(name, *a)
    )


def test_a_missing_library_is_named_with_the_command_that_installs_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manifest = templates.get("credit-risk").manifest
    template_runtime.check_runtime(manifest)  # all there: nothing said
    lacking(monkeypatch, "sklearn", "pyarrow")
    assert template_runtime.missing(manifest) == [
        ("sklearn", "scikit-learn"),
        ("pyarrow", "pyarrow"),
    ]
    with pytest.raises(Invalid) as refused:
        template_runtime.check_runtime(manifest)
    text = str(refused.value)
    assert "template credit-risk needs Python modules this server lacks: sklearn, pyarrow" in text
    assert "`pip install 'aicc[templates]' pyarrow`" in text and "remote engine" in text


def test_the_command_is_the_projects_extra_and_what_it_lacks_by_name() -> None:
    assert (
        template_runtime.install_command(["scikit-learn", "ortools"])
        == "pip install 'aicc[templates]'"
    )
    assert template_runtime.install_command(["torch"]) == "pip install torch"
    assert template_runtime.install_command(["peft", "torch", "peft"]) == (
        "pip install 'aicc[templates]' torch"
    )


def test_only_a_center_of_local_nodes_is_checked(tmp_path: Path) -> None:
    db = open_database(None, tmp_path)
    with db.session() as session:
        assert not template_runtime.runs_here(session)  # no node yet: nothing to say where it runs
        session.add(
            NodeRow(id="node_a", name="a", cpu_milli=1000, memory_mib=1024, created_at=utcnow())
        )
        session.flush()
        assert template_runtime.runs_here(session)
        session.add(
            NodeRow(
                id="node_b",
                name="b",
                cpu_milli=1000,
                memory_mib=1024,
                created_at=utcnow(),
                executor="slurm",
            )
        )
        session.flush()
        assert not template_runtime.runs_here(session)
