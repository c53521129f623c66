"""Which token scope a request to the API needs (`core.tenancy.Scope`): the API's paths, by the
resource after `/api/v1/`, so a new router's writes need `all` until it is named here."""

from __future__ import annotations

from aicc.core.tenancy import Scope

# Writes by the first part of the path after /api/v1/; any other write needs `all`.
_WRITES = {
    "jobs": Scope.JOBS,
    "workdirs": Scope.JOBS,
    "notebooks": Scope.JOBS,
    "datasets": Scope.DATA,
    "uploads": Scope.DATA,  # a data set version's files, chunk by chunk
    "models": Scope.DATA,
    "templates": Scope.DATA,
    "images": Scope.DATA,  # a project's images: share, delete (pushes: the token server's)
    "deployments": Scope.DEPLOYMENTS,
    "keys": Scope.DEPLOYMENTS,
}


def needed_scope(method: str, path: str) -> Scope:
    """The scope a request needs: reads (and the POSTs that change nothing: estimates, a data
    set's read-only SQL query) `read`; a write the scope of what it changes; a template run
    submits a job, so `jobs`. MLflow's runs and models (`/mlflow`) are `data`, its searches
    (POSTs) reads."""
    if path.startswith("/mlflow/"):
        if method in ("GET", "HEAD", "OPTIONS") or path.endswith("/search"):
            return Scope.READ
        return Scope.DATA
    parts = path.removeprefix("/api/v1/").split("/")
    if method in ("GET", "HEAD", "OPTIONS") or parts[-1] in ("estimate", "query"):
        return Scope.READ
    if parts[0] == "templates" and parts[-1] in ("runs", "searches"):
        return Scope.JOBS
    if path.startswith("/ga4gh/tes/"):  # a GA4GH TES task is a job (routers/tes.py)
        return Scope.JOBS
    return _WRITES.get(parts[0], Scope.ALL)
