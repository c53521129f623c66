"""Site environments: software the operator offers replicas that run on the node's own system.

As an HPC center's modules: a job without an image runs with the node's system and the server's
Python, which lack what a tenant's tool may need (a workflow engine whose pins the server's
environment cannot share). The operator names directories (a virtual environment, a wheelhouse)
and variables in `site_environments`; a replica that carries one's name (`ReplicaLaunch.
environment`, from the job's `aicc.io/environment` label, which a TES task on a generic base
gets from `generic_base_environment`) sees those directories read-only in its sandbox, its
`path` first on PATH and its variables set. Tenants only name what the operator offers: an
unknown name changes nothing, and no host path comes from a job.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SiteEnvironment:
    paths: tuple[str, ...] = ()  # shown read-only in the sandbox at their own paths
    path: tuple[str, ...] = ()  # put first on PATH, in this order
    env: tuple[tuple[str, str], ...] = ()  # set in the replica's environment


def apply(
    environments: Mapping[str, SiteEnvironment],
    name: str | None,
    env: dict[str, str],
    own: Collection[str] = (),
) -> list[str]:
    """Set the named environment's PATH and variables in `env` (in place; the job's `own`
    variables are left as it set them) and return the directories the sandbox must show
    read-only: those present on this node (bwrap refuses a bind of a missing one, and a missing
    one is the operator's to fix, so it is logged)."""
    if name is None:
        return []
    site = environments.get(name)
    if site is None:
        log.warning("site environment %r is not configured here; the replica runs without it", name)
        return []
    env.update({key: value for key, value in site.env if key not in own})
    env["PATH"] = os.pathsep.join([*site.path, env.get("PATH", "/usr/bin:/bin")])
    present = [place for place in site.paths if os.path.isdir(place)]
    for place in sorted(set(site.paths) - set(present)):
        log.warning("site environment %r: %s is not a directory on this node", name, place)
    # a link's target too: a venv's scripts name their python by the real path
    shown = [*present, *(os.path.realpath(p) for p in present)]
    return list(dict.fromkeys(shown))
