"""The scheduler's modules import each other one way: plugins see the cycle through a protocol
(plugins/base.py), actions and the framework sit above the cycle's state, so no module of
aicc.scheduler imports one that imports it back (type-checking imports included)."""

from __future__ import annotations

import grimp

from aicc.scheduler.actions import ACTIONS
from aicc.scheduler.profile import ACTIONS as DEFAULT_ACTIONS


def circles(package: str) -> list[set[str]]:
    """The import circles (strongly connected groups of 2+ modules) inside `package`."""
    graph = grimp.build_graph("aicc", include_external_packages=False)
    modules = sorted(m for m in graph.modules if m.startswith(package))
    edges = {
        m: {i for i in graph.find_modules_directly_imported_by(m) if i.startswith(package)}
        for m in modules
    }
    found = []
    seen: set[str] = set()
    for module in modules:
        if module in seen:
            continue
        reach = _reach(module, edges)
        group = {m for m in reach if module in _reach(m, edges)}
        seen |= group
        if len(group) > 1:
            found.append(group)
    return found


def _reach(start: str, edges: dict[str, set[str]]) -> set[str]:
    out, todo = {start}, [start]
    while todo:
        for nxt in edges[todo.pop()]:
            if nxt not in out:
                out.add(nxt)
                todo.append(nxt)
    return out


def test_no_import_circle_inside_the_scheduler() -> None:
    assert circles("aicc.scheduler") == []


def test_every_default_action_is_registered() -> None:
    assert set(DEFAULT_ACTIONS) <= set(ACTIONS)
