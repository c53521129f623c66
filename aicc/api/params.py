"""Route parameters that several routers share: a data set's, model's, template's or
deployment's `{name}`, a version `{number}`, `?project=`, a list's `?scope=` and `?sort=`, a
chunk's digest.

They live here, not in the router that first needed them, so that no router imports another
(an import-linter contract in pyproject.toml): a resource's routes name their parameters from
this module, and the OpenAPI document describes each the same way wherever it is used. What a
parameter means once parsed (a reference, a project to look in) is the services' business:
`services/data/datasets.py` `reference` reads `{name}`, `{number}` and `?project=` with core's
one reference parser. `Named` and `AtVersion` hand a route that reference already read (a
malformed one is the service's 422), so a route does not call the parser itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query

from aicc.core.datasets import Ref
from aicc.services.data import datasets

# A data set's, model's or deployment's name: core's `NAME` (aicc/core/datasets.py)
NAME_RULE = Path(pattern=r"^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$")
DatasetName = Annotated[str, NAME_RULE]
DeploymentName = DatasetName  # named by the same rule
# A version: its number from 1, or `latest`
VersionNumber = Annotated[str, Path(pattern=r"^([1-9][0-9]{0,8}|latest)$")]
# A project of the caller's (name or id), or `ORG/PROJECT` for another organization's shared one
ProjectRef = Annotated[str | None, Query(max_length=200)]
Scope = Annotated[str, Query(pattern=r"^(project|visible|public)$")]
# How a catalog is ordered (`services/models/catalog.py` `rank`); none: the listing's own
Sort = Annotated[
    str | None,
    Query(
        pattern=r"^(name|rating|use)$",
        description="name; rating: the best rated first; use: the most used first",
    ),
]
ChunkDigest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")]


def _named(name: DatasetName, project: ProjectRef = None) -> tuple[Ref, str | None]:
    return datasets.reference(name, project=project)


def _at_version(
    name: DatasetName, number: VersionNumber, project: ProjectRef = None
) -> tuple[Ref, str | None]:
    return datasets.reference(name, project=project, version=number)


# `{name}` (and `{number}`) with `?project=`, read as one reference and the project to look in
Named = Annotated[tuple[Ref, str | None], Depends(_named)]
AtVersion = Annotated[tuple[Ref, str | None], Depends(_at_version)]
