"""MLflow's REST API at `/mlflow`, for the stock `mlflow` client (docs/interop.md, "MLflow"):
`MLFLOW_TRACKING_URI=http://HOST:PORT/mlflow` and `MLFLOW_TRACKING_TOKEN=<an AICC token>`.

These routes speak MLflow's protocol, not AICC's: answers are MLflow's JSON and errors
`{"error_code": "...", "message": "..."}` (`MlflowRoute` turns every service error, a missing
token and a malformed request into that shape), and they stay out of /openapi.json, as the
gateway's do. A call this subset does not serve is ENDPOINT_NOT_FOUND (404), never a 500. The
same routes answer under `/api/2.0/mlflow` and `/ajax-api/2.0/mlflow`; artifacts go through
MLflow's artifact proxy, `/api/2.0/mlflow-artifacts/artifacts`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from aicc.api.deps import CurrentUser, SessionDep, StateDep, get_state, in_thread
from aicc.api.state import AppState
from aicc.core.tenancy import Principal
from aicc.services.common import ServiceError
from aicc.services.jobs import logs
from aicc.services.models import models, tracking, tracking_files
from aicc.services.models.views import Model, ModelVersion, TrackedExperiment, TrackedRun

CODES = {
    400: "INVALID_PARAMETER_VALUE",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_DOES_NOT_EXIST",
    409: "RESOURCE_ALREADY_EXISTS",
    413: "INVALID_PARAMETER_VALUE",
    422: "INVALID_PARAMETER_VALUE",
    429: "REQUEST_LIMIT_EXCEEDED",
}
STATUS = {409: 400, 422: 400}  # MLflow's server answers these codes with a 400
STAGES = {"staging": "Staging", "production": "Production", "archived": "Archived"}


def error(status: int, message: str, code: str | None = None) -> JSONResponse:
    """MLflow's error shape."""
    return JSONResponse(
        {"error_code": code or CODES.get(status, "INTERNAL_ERROR"), "message": message},
        status_code=STATUS.get(status, status),
    )


class MlflowRoute(APIRoute):
    """A route whose refusals are MLflow's errors, not AICC's `{"detail"}`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except ServiceError as e:
                return error(e.status, e.detail)
            except HTTPException as e:
                return error(e.status_code, str(e.detail))
            except RequestValidationError as e:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
                    for err in e.errors()[:5]
                )
                return error(400, f"malformed request: {problems}")

        return answer


router = APIRouter(
    prefix="/mlflow", tags=["mlflow"], include_in_schema=False, route_class=MlflowRoute
)
PREFIXES = ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow")
ARTIFACTS = "/api/2.0/mlflow-artifacts/artifacts"
Json = dict[str, Any]
BodyJson = Annotated[Json, Body()]


def route(method: str, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The endpoint under both of MLflow's prefixes."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        for prefix in PREFIXES:
            router.add_api_route(prefix + path, fn, methods=[method])
        return fn

    return add


def _text(body: Json, key: str, *, required: bool = True, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise HTTPException(400, f"missing value for required parameter '{key}'")
        return default
    if not isinstance(value, str):
        raise HTTPException(400, f"parameter '{key}' must be a string")
    return value


def _whole(body: Json, key: str, default: int | None = None) -> int | None:
    value = body.get(key)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise HTTPException(400, f"parameter '{key}' must be a whole number") from None


def _pairs(body: Json, key: str) -> dict[str, str]:
    items = body.get(key) or []
    if not isinstance(items, list) or len(items) > 1000:
        raise HTTPException(400, f"parameter '{key}' must be a list of key-value pairs")
    out = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise HTTPException(400, f"parameter '{key}': each item a {{key, value}} pair")
        value = item.get("value", "")
        out[item["key"]] = value if isinstance(value, str) else str(value)
    return out


def _page(body: Json) -> tuple[int, int]:
    limit = _whole(body, "max_results", tracking.MAX_PAGE) or tracking.MAX_PAGE
    if limit < 1:
        raise HTTPException(400, "max_results: at least 1")
    limit = min(limit, tracking.MAX_PAGE)  # the client asks 50000; it follows next_page_token
    token = body.get("page_token") or "0"
    if not isinstance(token, str) or not token.isdigit() or len(token) > 12:
        raise HTTPException(400, "page_token: a token a previous page gave")
    return limit, int(token)


def _no_filter(body: Json, key: str = "filter") -> None:
    if body.get(key):
        raise HTTPException(400, f"'{key}' is not supported by this server; search without one")


def _next(found: int | None) -> Json:
    return {} if found is None else {"next_page_token": str(found)}


def _ms(value: Any) -> int:
    return int(value.timestamp() * 1000)


def experiment_json(e: TrackedExperiment) -> Json:
    return {
        "experiment_id": e.id,
        "name": e.name,
        "artifact_location": f"mlflow-artifacts:/{e.id}",
        "lifecycle_stage": e.lifecycle_stage,
        "creation_time": _ms(e.created_at),
        "last_update_time": _ms(e.updated_at),
        "tags": [{"key": k, "value": v} for k, v in sorted(e.tags.items())],
    }


def run_info(r: TrackedRun) -> Json:
    info = {
        "run_id": r.id,
        "run_uuid": r.id,
        "run_name": r.name,
        "experiment_id": r.experiment_id,
        "user_id": r.user,
        "status": r.status,
        "start_time": r.start_time,
        "artifact_uri": r.artifact_uri,
        "lifecycle_stage": r.lifecycle_stage,
    }
    if r.end_time is not None:
        info["end_time"] = r.end_time
    return info


def run_json(r: TrackedRun) -> Json:
    tags = dict(r.tags)
    if r.job_id:
        tags["aicc.job_id"] = r.job_id
    return {
        "info": run_info(r),
        "data": {
            "metrics": [m.model_dump() for m in r.metrics],
            "params": [{"key": k, "value": v} for k, v in sorted(r.params.items())],
            "tags": [{"key": k, "value": v} for k, v in sorted(tags.items())],
        },
        "inputs": {},
    }


def version_json(v: ModelVersion) -> Json:
    run = str(v.lineage.get("mlflow_run") or "")
    path = str(v.lineage.get("path") or "")
    path = path.split("/artifacts/", 1)[1] if "/artifacts/" in path else path
    return {
        "name": v.name,
        "version": str(v.number),
        "creation_timestamp": _ms(v.created_at),
        "last_updated_timestamp": _ms(v.created_at),
        "current_stage": STAGES.get(v.stage, "None"),
        "description": "",
        "source": f"runs:/{run}/{path}" if run else f"models:/{v.name}/{v.number}",
        "run_id": run,
        "status": "READY",
        "tags": [{"key": "aicc.ref", "value": v.ref}]
        + (
            [{"key": "aicc.job_id", "value": str(v.lineage["job_id"])}]
            if v.lineage.get("job_id")
            else []
        ),
    }


def model_json(m: Model) -> Json:
    return {
        "name": m.name,
        "creation_timestamp": _ms(m.created_at),
        "last_updated_timestamp": _ms(m.updated_at),
        "description": m.description,
        "latest_versions": [version_json(v) for v in m.versions[:1]],
    }


def _outputs(session: Session, state: AppState) -> tracking_files.OutputsOf:
    return lambda job: logs.outputs_dir(session, job, state.executors)


def _home(state: AppState) -> Path:
    return Path(state.settings.home)


# -- experiments -------------------------------------------------------------------------------


@route("POST", "/experiments/create")
def mlflow_experiments_create(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    made = tracking.create_experiment(
        session, who, name=_text(body, "name"), tags=_pairs(body, "tags")
    )
    return {"experiment_id": made.id}


@route("GET", "/experiments/get")
def mlflow_experiments_get(
    session: SessionDep, who: CurrentUser, experiment_id: Annotated[str, Query(max_length=64)]
) -> Json:
    return {"experiment": experiment_json(tracking.get_experiment(session, who, experiment_id))}


@route("GET", "/experiments/get-by-name")
def mlflow_experiments_by_name(
    session: SessionDep, who: CurrentUser, experiment_name: Annotated[str, Query(max_length=256)]
) -> Json:
    found = tracking.experiment_by_name(session, who, experiment_name)
    return {"experiment": experiment_json(found)}


@route("POST", "/experiments/search")
def mlflow_experiments_search(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    _no_filter(body)
    limit, offset = _page(body)
    found, more = tracking.search_experiments(session, who, limit=limit, offset=offset)
    return {"experiments": [experiment_json(e) for e in found], **_next(more)}


# -- runs --------------------------------------------------------------------------------------


@route("POST", "/runs/create")
def mlflow_runs_create(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    made = tracking.create_run(
        session,
        who,
        experiment_id=_text(body, "experiment_id", required=False, default=tracking.DEFAULT_ID),
        name=_text(body, "run_name", required=False),
        start_time=_whole(body, "start_time"),
        tags=_pairs(body, "tags"),
    )
    return {"run": run_json(made)}


def _run_id(body: Json) -> str:
    return _text(body, "run_id", required=False) or _text(body, "run_uuid")


@route("GET", "/runs/get")
def mlflow_runs_get(
    session: SessionDep, who: CurrentUser, run_id: Annotated[str, Query(max_length=64)]
) -> Json:
    return {"run": run_json(tracking.get_run(session, who, run_id))}


@route("POST", "/runs/update")
def mlflow_runs_update(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    status = _text(body, "status", required=False) or None
    found = tracking.update_run(
        session,
        who,
        _run_id(body),
        status=status,
        end_time=_whole(body, "end_time"),
        name=_text(body, "run_name", required=False) or None,
    )
    return {"run_info": run_info(found)}


@route("POST", "/runs/delete")
def mlflow_runs_delete(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    tracking.delete_run(session, who, _text(body, "run_id"))
    return {}


@route("POST", "/runs/restore")
def mlflow_runs_restore(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    tracking.delete_run(session, who, _text(body, "run_id"), deleted=False)
    return {}


def _point(item: Any) -> tracking.Point:
    if not isinstance(item, dict):
        raise HTTPException(400, "a metric is an object {key, value, timestamp, step}")
    return tracking.point(
        item.get("key"), item.get("value"), item.get("step", 0) or 0, item.get("timestamp", 0)
    )


@route("POST", "/runs/log-metric")
def mlflow_runs_log_metric(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    tracking.log_batch(session, who, _run_id(body), metrics=[_point(body)])
    return {}


@route("POST", "/runs/log-parameter")
def mlflow_runs_log_parameter(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    params = {_text(body, "key"): _text(body, "value")}
    tracking.log_batch(session, who, _run_id(body), params=params)
    return {}


@route("POST", "/runs/set-tag")
def mlflow_runs_set_tag(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    tags = {_text(body, "key"): _text(body, "value")}
    tracking.log_batch(session, who, _run_id(body), tags=tags)
    return {}


@route("POST", "/runs/log-batch")
def mlflow_runs_log_batch(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    metrics = body.get("metrics") or []
    if not isinstance(metrics, list) or len(metrics) > tracking.MAX_BATCH:
        raise HTTPException(400, f"metrics: a list of at most {tracking.MAX_BATCH}")
    tracking.log_batch(
        session,
        who,
        _text(body, "run_id"),
        metrics=[_point(m) for m in metrics],
        params=_pairs(body, "params"),
        tags=_pairs(body, "tags"),
    )
    return {}


@route("POST", "/runs/search")
def mlflow_runs_search(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    _no_filter(body)
    ids = body.get("experiment_ids") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise HTTPException(400, "experiment_ids: a list of experiment ids")
    view = body.get("run_view_type") or "ACTIVE_ONLY"
    if view not in ("ACTIVE_ONLY", "DELETED_ONLY"):
        raise HTTPException(400, "run_view_type: ACTIVE_ONLY or DELETED_ONLY")
    limit, offset = _page(body)
    found, more = tracking.search_runs(
        session,
        who,
        experiment_ids=ids,
        deleted=view == "DELETED_ONLY",
        limit=limit,
        offset=offset,
    )
    return {"runs": [run_json(r) for r in found], **_next(more)}


@route("GET", "/metrics/get-history")
def mlflow_metrics_history(
    session: SessionDep,
    who: CurrentUser,
    run_id: Annotated[str, Query(max_length=64)],
    metric_key: Annotated[str, Query(max_length=250)],
) -> Json:
    points = tracking.history(session, who, run_id, metric_key)
    return {"metrics": [p.model_dump() for p in points]}


# -- the model registry ------------------------------------------------------------------------


@route("POST", "/registered-models/create")
def mlflow_registered_models_create(session: SessionDep, who: CurrentUser, body: BodyJson) -> Json:
    made = tracking_files.create_registered_model(session, who, _text(body, "name"))
    return {"registered_model": model_json(made)}


@route("GET", "/registered-models/get")
def mlflow_registered_models_get(
    session: SessionDep, who: CurrentUser, name: Annotated[str, Query(max_length=256)]
) -> Json:
    return {"registered_model": model_json(models.get(session, who, name))}


def _search_models(session: Session, who: Principal, body: Json) -> Json:
    _no_filter(body)
    limit, offset = _page(body)
    found = models.list_models(session, who)
    page = found[offset : offset + limit]
    more = offset + limit if len(found) > offset + limit else None
    return {"registered_models": [model_json(m) for m in page], **_next(more)}


@route("GET", "/registered-models/search")
def mlflow_registered_models_search(
    session: SessionDep, who: CurrentUser, request: Request
) -> Json:
    return _search_models(session, who, dict(request.query_params))


@route("POST", "/model-versions/create")
def mlflow_model_versions_create(
    session: SessionDep, who: CurrentUser, state: StateDep, body: BodyJson
) -> Json:
    made = tracking_files.create_model_version(
        session,
        who,
        state.chunks,
        _home(state),
        _outputs(session, state),
        name=_text(body, "name"),
        source=_text(body, "source"),
        run_id=_text(body, "run_id", required=False),
    )
    return {"model_version": version_json(made)}


@route("GET", "/model-versions/get")
def mlflow_model_versions_get(
    session: SessionDep,
    who: CurrentUser,
    name: Annotated[str, Query(max_length=256)],
    version: Annotated[str, Query(max_length=12, pattern=r"^[0-9]+$")],
) -> Json:
    return {"model_version": version_json(models.version(session, who, f"{name}@{version}"))}


@route("GET", "/model-versions/search")
def mlflow_model_versions_search(
    session: SessionDep,
    who: CurrentUser,
    filter: Annotated[str, Query(max_length=300)] = "",  # MLflow's parameter
) -> Json:
    name = filter.strip()
    for prefix in ("name=", "name ="):
        if name.startswith(prefix):
            name = name[len(prefix) :].strip()
    if len(name) < 2 or name[0] != name[-1] or name[0] not in "'\"":
        raise HTTPException(400, "filter: only name='NAME' is supported by this server")
    versions = models.get(session, who, name[1:-1]).versions
    return {"model_versions": [version_json(v) for v in versions]}


# -- artifacts: MLflow's artifact proxy --------------------------------------------------------


@router.get(ARTIFACTS)
def mlflow_artifacts_list(
    session: SessionDep,
    who: CurrentUser,
    state: StateDep,
    path: Annotated[str, Query(max_length=4096)] = "",
) -> Json:
    found = tracking_files.target(session, who, _home(state), path, _outputs(session, state))
    return {"files": [f.model_dump(exclude_none=True) for f in tracking_files.listing(found)]}


@router.get(ARTIFACTS + "/{path:path}")
def mlflow_artifacts_get(
    session: SessionDep, who: CurrentUser, state: StateDep, path: str
) -> StreamingResponse:
    found = tracking_files.target(session, who, _home(state), path, _outputs(session, state))
    opened = tracking_files.open_file(found)

    def chunks() -> Iterator[bytes]:
        with opened:
            while block := opened.read(1024 * 1024):
                yield block

    return StreamingResponse(chunks(), media_type="application/octet-stream")


def _put_target(state: AppState, who: Principal, path: str) -> tracking_files.Target:
    with state.db.reader() as session:
        found = tracking_files.target(
            session, who, _home(state), path, _outputs(session, state), write=True
        )
        return found


@router.put(ARTIFACTS + "/{path:path}")
async def mlflow_artifacts_put(request: Request, who: CurrentUser, path: str) -> Json:
    """Streamed to a temporary file of the run's folder within `limits.max_upload_mib`, then
    put in place: a refused upload leaves nothing."""
    state = get_state(request)
    found = await in_thread(_put_target, state, who, path)
    partial = await in_thread(tracking_files.partial, found)
    most = state.settings.limits.max_upload_mib * 1024 * 1024
    written = 0
    try:
        with open(partial, "wb") as out:
            os.chmod(partial, 0o600)
            async for block in request.stream():
                written += len(block)
                if written > most:
                    raise HTTPException(413, f"an artifact file is at most {most} bytes")
                out.write(block)
        await in_thread(tracking_files.place, found, partial)
    finally:
        partial.unlink(missing_ok=True)
    return {}


# -- anything else -----------------------------------------------------------------------------


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def mlflow_unsupported(request: Request, rest: str) -> JSONResponse:
    """A call this subset does not serve: MLflow's ENDPOINT_NOT_FOUND, not AICC's 404."""
    return error(
        404,
        f"{request.method} /mlflow/{rest[:200]} is not served by AICC's MLflow API "
        "(docs/interop.md lists what is)",
        "ENDPOINT_NOT_FOUND",
    )
