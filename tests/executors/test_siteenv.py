"""A site environment as a replica gets it (siteenv.py): its PATH first, its variables, and the
directories the sandbox shows read-only (a link's target too); an unknown name changes nothing."""

from __future__ import annotations

from pathlib import Path

from aicc.executors.siteenv import SiteEnvironment, apply


def _site(root: Path) -> SiteEnvironment:
    (root / "venv" / "bin").mkdir(parents=True)
    (root / "wheels").mkdir()
    (root / "link").symlink_to(root / "venv")
    return SiteEnvironment(
        paths=(str(root / "link"), str(root / "wheels"), str(root / "absent")),
        path=(str(root / "link" / "bin"),),
        env=(("PIP_NO_INDEX", "1"), ("PIP_FIND_LINKS", str(root / "wheels"))),
    )


def test_the_named_environment_comes_first_on_path_with_its_variables(tmp_path: Path) -> None:
    env = {"PATH": "/srv/python/bin:/usr/bin", "HOME": "/home/u"}
    shown = apply({"flow": _site(tmp_path)}, "flow", env)
    assert env["PATH"] == f"{tmp_path}/link/bin:/srv/python/bin:/usr/bin"
    assert (env["PIP_NO_INDEX"], env["PIP_FIND_LINKS"]) == ("1", f"{tmp_path}/wheels")
    # present ones alone (bwrap refuses a missing source), and the link's target
    assert shown == [f"{tmp_path}/link", f"{tmp_path}/wheels", f"{tmp_path}/venv"]


def test_the_jobs_own_variables_stay_as_it_set_them(tmp_path: Path) -> None:
    env = {"PATH": "/job/bin", "PIP_NO_INDEX": "0"}
    apply({"flow": _site(tmp_path)}, "flow", env, own={"PATH", "PIP_NO_INDEX"})
    assert env["PIP_NO_INDEX"] == "0" and env["PATH"] == f"{tmp_path}/link/bin:/job/bin"
    assert env["PIP_FIND_LINKS"] == f"{tmp_path}/wheels"


def test_no_name_or_an_unknown_one_changes_nothing(tmp_path: Path) -> None:
    environments = {"flow": _site(tmp_path)}
    for name in (None, "elsewhere"):
        env = {"PATH": "/usr/bin"}
        assert apply(environments, name, env) == []
        assert env == {"PATH": "/usr/bin"}
