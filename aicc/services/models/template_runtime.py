"""Whether this server's Python has the libraries a template imports: a run whose job would
fail at once with a `ModuleNotFoundError` is refused before it is submitted (issue 37), with
the one command that installs what is lacking.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
from collections.abc import Iterable

from sqlalchemy.orm import Session

from aicc.core import templates as core
from aicc.services.common import Invalid
from aicc.services.nodes import nodes

# What a manifest's `requirements` (distributions) are imported as, where the names differ.
_MODULES = {"scikit-learn": "sklearn", "pyyaml": "yaml", "pillow": "PIL", "opencv-python": "cv2"}
_DIST = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@functools.cache
def _extra() -> frozenset[str]:
    """What pyproject's `templates` extra installs (`pip install 'aicc[templates]'`), read from
    the installed package's metadata; torch is left to the node (a CPU or a CUDA build)."""
    try:
        wanted = importlib.metadata.requires("aicc") or []
    except importlib.metadata.PackageNotFoundError:
        return frozenset()
    return frozenset(
        found.group(1).lower()
        for line in wanted
        if 'extra == "templates"' in line and (found := _DIST.match(line))
    )


def runs_here(session: Session) -> bool:
    """Whether a run's job would run on this server's own Python: every node of the center is
    on the local executor, whose replicas' `python` is the server's (`executors/environment.py`).
    A remote engine (Slurm, Ray, Kubernetes) brings its own runtime, which is not checked."""
    return nodes.executors(session) == {"local"}


def missing(manifest: core.Manifest) -> list[tuple[str, str]]:
    """(module, distribution) of each library the manifest's `requirements` name that this
    Python cannot import (`importlib.util.find_spec`, nothing imported)."""
    out = []
    for requirement in manifest.requirements:
        found = _DIST.match(requirement)
        if not found:
            continue
        dist = found.group(1)
        module = _MODULES.get(dist.lower(), dist.replace("-", "_").replace(".", "_"))
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            out.append((module, dist))
    return out


def install_command(dists: Iterable[str]) -> str:
    """The one command that installs `dists`: the templates' extra, and what it lacks by name."""
    wanted = list(dict.fromkeys(dists))
    extra = _extra()
    named = ["'aicc[templates]'"] if any(d.lower() in extra for d in wanted) else []
    return " ".join(["pip", "install", *named, *(d for d in wanted if d.lower() not in extra)])


def check_runtime(manifest: core.Manifest) -> None:
    """Refuse (422) a run whose template imports a library this server's Python lacks, before
    anything is submitted: its job would fail at once with a `ModuleNotFoundError` in stderr
    (issue 37). The message names the modules and the one command that installs them."""
    lacking = missing(manifest)
    if not lacking:
        return
    raise Invalid(
        "template {name} needs Python modules this server lacks: {modules}; install them with "
        "`{command}` where the server runs (from a checkout of AICC: `make templates`) and try "
        "again (only this server's Python is checked: a remote engine's runtime is not)",
        name=manifest.name,
        modules=", ".join(module for module, _ in lacking),
        command=install_command(dist for _, dist in lacking),
    )
