"""Starting a server: the site's own scheduler profiles are configuration, checked at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.config import ConfigError, Settings
from aicc.server import build
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

TIGHT = {"queue_sort": ["priority"], "admission": ["lanes", "quota"], "preempt": None}


def test_a_profile_written_in_config_schedules_the_server(tmp_path: Path) -> None:
    with in_process(tmp_path, policy="tight", profiles={"tight": TIGHT}) as (api, state):
        assert state.controller.profile.name == "tight"
        assert state.controller.profile.preempt is None
        job = submit(api, {"command": ["true"], "name": "under-tight"})
        assert wait_state(api, job["id"], {"succeeded"})["state"] == "succeeded"


def test_a_profile_that_does_not_build_stops_the_server_naming_it(tmp_path: Path) -> None:
    bad = {"tight": TIGHT, "typo": {"queue_sort": ["priorty"]}}
    with pytest.raises(ConfigError, match=r"profiles\.typo: .*priorty"):
        build(Settings(home=tmp_path, policy="tight", profiles=bad, sandbox="off"))
    with pytest.raises(ConfigError, match="policy: unknown scheduler profile 'nope'"):
        build(Settings(home=tmp_path, policy="nope", sandbox="off"))
