"""The jobs' routes are matched right after the gateway's (api/app.py), ahead of routers that
come before them in the code's order of the API: a submit no longer walks some thirty routes
that cannot answer it. That is safe only while no route of those routers and no job route
answer the same path, which this checks both ways."""

from __future__ import annotations

import re

from fastapi.routing import APIRoute, APIWebSocketRoute

from aicc.api.routers import jobs, nodes, system, tenancy, workdirs

PASSED = (system, tenancy, nodes, workdirs)  # the routers the jobs' are now matched ahead of


def _sample(template: str) -> str:
    """A path the template matches: each parameter given a plain value."""
    return re.sub(r"\{[^}]+\}", "x1", template)


def _routes(*modules: object) -> list[APIRoute | APIWebSocketRoute]:
    """The routers' routes, a websocket's (`/jobs/{id}/exec`) among them."""
    found = [r for m in modules for r in m.router.routes]  # type: ignore[attr-defined]
    assert all(isinstance(r, APIRoute | APIWebSocketRoute) for r in found)
    return found


def test_no_route_the_jobs_pass_answers_a_path_of_theirs() -> None:
    mine, passed = _routes(jobs), _routes(*PASSED)
    assert len(mine) >= 9 and len(passed) >= 30
    for route in mine:
        path = _sample(route.path)
        assert route.path_regex.match(path), route.path
        clashes = [other.path for other in passed if other.path_regex.match(path)]
        assert not clashes, f"{route.path} is also {clashes}"
    for other in passed:
        path = _sample(other.path)
        assert other.path_regex.match(path), other.path
        clashes = [route.path for route in mine if route.path_regex.match(path)]
        assert not clashes, f"{other.path} is also {clashes}"
