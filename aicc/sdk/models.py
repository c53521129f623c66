"""`client.models` (the model registry) and `client.templates` (the marketplace's templates).
Answers are the models context's read models (`services/models/views.py`): `get` is a `Model`,
`list` a `list[Model]`; a template run answers the `Job` it submitted, its estimate the
estimator's `TemplateEstimate` (`aicc.estimate.templates`)."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypedDict

from typing_extensions import Unpack

from aicc.estimate.templates import TemplateEstimate
from aicc.sdk.datasets import VersionedFiles, split_ref
from aicc.sdk.transport import Json, Resource, api_path, body_of
from aicc.services.jobs.views import Job
from aicc.services.models.views import (
    BatchPrediction,
    Model,
    ModelVersion,
    Review,
    Reviews,
    Template,
)


class Models(VersionedFiles[Model]):
    noun = "models"
    view = Model

    def register(
        self,
        name: str,
        job_id: str,
        *,
        path: str = "",
        format: str = "",
        framework: str = "",
        metrics: dict[str, float] | None = None,
        project: str | None = None,
    ) -> ModelVersion:
        """A succeeded job's outputs (or their folder `path`) as the model's next version."""
        body: dict[str, Any] = {"job_id": job_id, "path": path, "format": format}
        body |= {"framework": framework, "metrics": metrics, "project": project}
        return self._one(ModelVersion, "POST", api_path("models", name, "versions"), json=body)

    def version(self, ref: str, project: str | None = None) -> ModelVersion:
        """A version with its files, metrics, card and lineage (the latest without `@N`)."""
        name, where, number = split_ref(ref, project)
        path = api_path("models", name, "versions", number)
        return self._one(ModelVersion, "GET", path, params={"project": where})

    def predict(
        self,
        name: str,
        version: int | str | None = None,
        *,
        data: str,
        output: str | None = None,
        project: str | None = None,
        table: str | None = None,
        queue: str | None = None,
        idempotency_key: str | None = None,
    ) -> Job:
        """Batch prediction: a job that runs model version `name@version` (or `name` given as
        `NAME@N`; the latest without one) on data set version `data`; when it succeeds, its
        predictions are the next version of data set `output` (default `NAME-predictions`), in
        `project`. `prediction(...)` says what became of it."""
        model, where, number = split_ref(name, None)
        number = str(version) if version is not None else number
        path = api_path("models", model, "versions", number, "predictions")
        body = {"data": data, "output": output, "project": project, "table": table}
        body["queue"] = queue
        if where is None:
            return self._once(Job, path, body, idempotency_key)
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        sent = self._t.resent("POST", path, json=body, headers=headers, params={"project": where})
        return Job.model_validate(body_of(sent))

    def predictions(
        self, name: str, version: int | str | None = None
    ) -> builtins.list[BatchPrediction]:
        """The batch predictions of model version `name@version` you may see, newest first:
        `state` pending until its job ended and its predictions were delivered, then done
        (`result`: the data set version, NAME@N) or failed (`result`: why)."""
        model, where, number = split_ref(name, None)
        number = str(version) if version is not None else number
        path = api_path("models", model, "versions", number, "predictions")
        return self._items(BatchPrediction, path, {"project": where})

    def prediction(
        self, name: str, job_id: str, version: int | str | None = None
    ) -> BatchPrediction:
        """The batch prediction that job `job_id` runs of model version `name@version`."""
        for found in self.predictions(name, version):
            if found.job_id == job_id:
                return found
        raise LookupError(f"job {job_id} is no batch prediction of {name} you may see")

    def stage(self, ref: str, stage: str, project: str | None = None) -> ModelVersion:
        name, where, number = split_ref(ref, project)
        path = api_path("models", name, "versions", number, "stage")
        return self._one(
            ModelVersion, "PUT", path, params={"project": where}, json={"stage": stage}
        )

    def trained_on(
        self, dataset_ref: str, project: str | None = None
    ) -> builtins.list[ModelVersion]:
        """The model versions trained on a data set version (lineage the other way)."""
        name, where, number = split_ref(dataset_ref, project)
        path = api_path("datasets", name, "versions", number, "models")
        return self._each(ModelVersion, "GET", path, params={"project": where})


class Templates(Resource):
    def list(
        self,
        industry: str | None = None,
        task: str | None = None,
        q: str | None = None,
        data: str | None = None,
        project: str | None = None,
        columns: dict[str, str] | None = None,
    ) -> builtins.list[Template]:
        """The catalog; with `data`, whether each template fits that data set version (with
        `columns`, its roles given those columns of the data): those that fit first, the
        generic ones first among them."""
        column = [f"{role}={name}" for role, name in (columns or {}).items()] or None
        query: dict[str, str | list[str] | None] = {"industry": industry, "task": task, "q": q}
        query |= {"data": data, "project": project, "column": column}
        return self._items(Template, api_path("templates"), query)

    def get(self, name: str, project: str | None = None) -> Template:
        """A built-in, or a published template (`NAME`, `NAME@N`, `ORG/PROJECT/NAME@N`)."""
        return self._one(Template, "GET", api_path("templates", name), params={"project": project})

    def publish(
        self,
        directory: Path,
        *,
        visibility: str | None = None,
        price: str | None = None,
        licence: str | None = None,
        project: str | None = None,
    ) -> Template:
        """Publish a template directory (template.yaml, train.py, predict.py, example.py and
        the modules they import) as the next version of your template of its name."""
        root = Path(directory)
        files = {
            p.relative_to(root).as_posix(): p.read_text("utf-8")
            for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
        body = {
            "files": files,
            "visibility": visibility,
            "price": price,
            "licence": licence,
            "project": project,
        }
        return self._one(Template, "POST", api_path("templates"), json=body)

    def delete(self, name: str, project: str | None = None) -> Json:
        return self._t.call("DELETE", api_path("templates", name), params={"project": project})

    def review(self, ref: str, rating: int, text: str = "") -> Review:
        """Rate (1-5) and review a template; a second review of yours replaces the first."""
        body = {"rating": rating, "text": text}
        return self._one(Review, "PUT", api_path("templates", ref, "reviews"), json=body)

    def reviews(self, ref: str) -> Reviews:
        """A template's rating (mean and count) and its reviews."""
        return self._one(Reviews, "GET", api_path("templates", ref, "reviews"))

    def run(
        self,
        name: str,
        *,
        model: str | None = None,
        idempotency_key: str | None = None,
        **args: Unpack[RunArgs],
    ) -> Job:
        """Submit a training job; its model is registered when it succeeds. Answers the job;
        a retry (same `idempotency_key`) never makes, nor pays for, a second run.
        With `search` ({hyperparameter: [values]}), one gang job whose replicas are the trials
        (`trials`: that many combinations drawn at random); the best trial is registered."""
        path = api_path("templates", name, "runs")
        return self._once(Job, path, _run_body(args, model), idempotency_key)

    def estimate(self, name: str, **args: Unpack[RunArgs]) -> TemplateEstimate:
        """What `run` with the same arguments would take, per accelerator option (CPU only,
        each model the center has): time, expected wait and price. Submits nothing."""
        path = api_path("templates", name, "estimate")
        return self._one(TemplateEstimate, "POST", path, json=_run_body(args, None))


class RunArgs(TypedDict, total=False):
    """What a template run is asked, `run` and `estimate` alike: the data set version to train
    on (`NAME@N`), hyperparameters, the template's columns mapped to yours, the project, the
    resources, and a search over hyperparameter values."""

    data: str | None
    params: dict[str, Any] | None
    columns: dict[str, str] | None
    project: str | None
    gpus: int | None
    cpu: float | None
    search: dict[str, Sequence[Any]] | None
    trials: int | None


def _run_body(args: RunArgs, model: str | None) -> dict[str, Any]:
    return {
        "data": args.get("data"),
        "params": args.get("params") or {},
        "model": model,
        "columns": args.get("columns") or {},
        "project": args.get("project"),
        "gpus": args.get("gpus"),
        "cpu": args.get("cpu"),
        "search": args.get("search") or {},
        "trials": args.get("trials"),
    }
