"""`aicc model ...` (the model registry) and `aicc template ...` (the marketplace's templates),
docs/contracts.md §9."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from aicc.cli.data import (
    RATED_FIELDS,
    RATING,
    USES,
    Into,
    Rating,
    ReviewText,
    pull_version,
    pulled,
    rate,
    size_text,
)
from aicc.cli.estimate import _hours
from aicc.cli.jobs import print_cause
from aicc.cli.nouns import BY_REF, CREATED, PROJECT, SHAREABLE, Json, Noun, ProjectOption, Ref
from aicc.cli.output import (
    Column,
    JsonFlag,
    client,
    col,
    confirm,
    handle_errors,
    local_time,
    plain,
    price,
    print_json,
    print_table,
    status,
)
from aicc.cli.submit import outcome
from aicc.core.template_search import split_values

if TYPE_CHECKING:
    from aicc.sdk.client import Client
    from aicc.services.models.views import Model, ModelVersion, Template

app = typer.Typer(
    help="Models: versions, metrics, lineage, stages; pull one.", no_args_is_help=True
)
template_app = typer.Typer(
    help="Templates (industry algorithms): find one for your data, train it into a model.",
    no_args_is_help=True,
)


def _metrics(metrics: Any) -> str | None:
    if not metrics:
        return None
    return ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items()))


def _latest(field: str) -> Any:
    def pick(versions: Any) -> Any:
        return (versions or [{}])[0].get(field)

    return pick


MODELS = Noun(
    "model",
    [
        col("NAME", "name"),
        PROJECT,
        col("LATEST", "latest"),
        col("STAGE", "versions", _latest("stage")),
        col("FORMAT", "versions", _latest("format")),
        col("METRICS", "versions", lambda v: _metrics(_latest("metrics")(v))),
        col("UPDATED", "updated_at", local_time),
    ],
    empty="no models yet: `aicc template run TEMPLATE --data NAME@N` trains one",
    fields=[
        col("NAME", "name"),
        col("ID", "id"),
        PROJECT,
        col("VISIBILITY", "visibility"),
        col("LICENCE", "licence"),
        col("LATEST", "latest"),
        col("VERSIONS", "versions", lambda v: ", ".join(f"@{x['number']} {x['stage']}" for x in v)),
        CREATED,
    ],
    sdk="models",
)
VERSION = Noun(
    "model version",
    [col("REF", "ref"), col("STAGE", "stage")],
    fields=[
        col("REF", "ref"),
        col("STAGE", "stage"),
        col("FORMAT", "format"),
        col("FRAMEWORK", "framework"),
        col("METRICS", "metrics", _metrics),
        col("FILES", "file_count"),
        col("SIZE", "logical_bytes", size_text),
        col("JOB", "lineage", lambda x: (x or {}).get("job_id")),
        col("DATA", "lineage", lambda x: ", ".join((x or {}).get("datasets") or []) or None),
        col("TEMPLATE", "lineage", lambda x: (x or {}).get("template")),
        col("PARAMS", "params", lambda p: ", ".join(f"{k}={v}" for k, v in sorted(p.items()))),
        col("INPUT", "input_schema", lambda s: _schema(s)),
        col("FACTS", "facts", lambda f: _facts(f)),
        col("NOTES", "notes", lambda n: "; ".join(n) or None),
        CREATED,
    ],
)


def _schema(schema: Json | None) -> str | None:
    """What the version takes, in its user's column names: `name (type)`, optional ones
    marked, and what it answers."""
    if not schema:
        return None
    cols = [
        f"{i['name']} ({i['type']}{'' if i.get('required', True) else ', optional'})"
        for i in schema["inputs"]
    ]
    out = ", ".join(cols[:30]) + (f" and {len(cols) - 30} more" if len(cols) > 30 else "")
    answers = ", ".join(o["name"] for o in schema.get("outputs") or [])
    return f"{out}; answers {answers}" if answers else out


def _facts(facts: Json | None) -> str | None:
    if not facts:
        return None
    parts = [f"{facts['rows']:,} rows" if facts.get("rows") is not None else ""]
    parts += [f"target {facts['target']}" if facts.get("target") else ""]
    parts += [
        str(facts.get("task") or ""),
        f"frequency {facts['frequency']}" if facts.get("frequency") else "",
    ]
    if facts.get("metric") and facts.get("score") is not None:
        held = f"held-out {facts['metric']} {facts['score']:.4g}"
        if facts.get("baseline") is not None:
            named = (facts.get("baseline_name") or {}).get("en") or "baseline"
            held += f" ({named}: {facts['baseline']:.4g})"
        parts.append(held)
    parts += [f"dropped {d['column']}" for d in facts.get("dropped") or []]
    return ", ".join(p for p in parts if p) or None


#: A model's name, for the commands that change the model itself.
ModelName = Annotated[str, typer.Argument()]
SetOption = Annotated[
    list[str] | None, typer.Option("--set", help="A hyperparameter, KEY=VALUE (repeat).")
]

MODELS.list(app)(
    MODELS.call(
        "list", "Models of a project (or all you may read), with their versions.", **SHAREABLE
    )
)
MODELS.get(app)(MODELS.call("get", "One model and its versions.", **BY_REF))
VERSION.get(app, "version")(
    MODELS.call(
        "version",
        "One version: format, metrics, lineage, hyperparameters, input schema, facts, files\n"
        "(the latest without @N).",
        **BY_REF,
    )
)
VERSION.get(app, "show")(
    MODELS.call(
        "version",
        "One version (as `model version`): what it takes (its input schema, in your columns),\n"
        "the facts of its training, metrics, lineage (the latest without @N).",
        **BY_REF,
    )
)


@app.command("predict")
@handle_errors
def model_predict(
    ref: Ref,
    data: Annotated[str, typer.Option(help="NAME@N: the data set version to predict on.")],
    output: Annotated[
        str | None,
        typer.Option(help="The data set the predictions go to (default: MODEL-predictions)."),
    ] = None,
    table: Annotated[
        str | None, typer.Option(help="The file of --data to read (default: its largest table).")
    ] = None,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait for the job and its predictions: print the data set version they became "
            "(exit 0), or why there is none (exit 1).",
        ),
    ] = False,
) -> None:
    """Batch prediction: run model version NAME@N on a data set version; its predictions
    become the next version of a data set. A data set without the columns the model needs is
    refused before anything runs, naming them. --json prints the job (with --wait, the batch
    prediction at its end)."""
    with client() as api:
        job = plain(api.models.predict(ref, data=data, output=output, project=project, table=table))
        if not wait:
            confirm(
                job,
                f"submitted batch prediction job {job['id']}: `aicc job logs {job['id']} -f`; "
                f"`aicc model predict ... --wait` waits for its data set version",
                as_json=as_json,
            )
            return
        if not as_json:
            status(f"submitted batch prediction job {job['id']}")
        final, done = _wait_prediction(api, ref, job["id"], quiet=as_json)
        if as_json:
            print_json(done)
        if final["state"] != "succeeded" or done["state"] != "done":
            if not as_json:
                outcome(final)
                print_cause(api, final)
                if final["state"] == "succeeded":
                    why = done["result"] or "not delivered yet; is the server's loop running?"
                    status(f"no predictions were delivered: {why}")
            raise typer.Exit(1)
        if not as_json:
            status(f"predictions: {done['result']} (`aicc data preview {done['result']}`)")
            print(done["result"])


DELIVERY_WAIT_S = 300  # the server's loops deliver a job's outputs within a pass or two


def _wait_prediction(api: "Client", ref: str, job_id: str, *, quiet: bool) -> tuple[Json, Json]:
    """Poll the job until it ended (a line on stderr each time its state changes), then its
    batch prediction until the predictions were delivered: (the job, the batch prediction)."""
    import time

    from aicc.core.states import TERMINAL

    seen = ""
    while True:
        job = api.jobs.get(job_id).model_dump(mode="json")
        if job["state"] != seen and not quiet:
            status(f"[dim]job {job_id}: {job['state']}[/dim]")
        seen = job["state"]
        if job["state"] in TERMINAL:
            break
        time.sleep(0.5)
    deadline = time.monotonic() + DELIVERY_WAIT_S
    while True:
        done = api.models.prediction(ref, job_id).model_dump(mode="json")
        if done["state"] != "pending" or time.monotonic() > deadline:
            return job, done
        time.sleep(0.5)


@VERSION.action(app, "register", lambda v: f"registered {v['ref']} ({v['file_count']} files)")
def model_register(
    api: "Client",
    name: Annotated[str, typer.Argument(help="The model (made when missing).")],
    job: Annotated[str, typer.Option(help="A job that succeeded.")],
    path: Annotated[str, typer.Option(help="A folder of its outputs (default: all).")] = "",
    format: Annotated[str, typer.Option(help="e.g. torchscript, onnx, safetensors.")] = "",
    framework: Annotated[str, typer.Option(help="e.g. pytorch.")] = "",
    project: ProjectOption = None,
) -> "ModelVersion":
    """Register a job's outputs as the model's next version; metrics from its metrics.json."""
    return api.models.register(
        name, job, path=path, format=format, framework=framework, project=project
    )


@VERSION.action(app, "stage", lambda v: f"{v['ref']} is now in {v['stage']}")
def model_stage(
    api: "Client",
    ref: Ref,
    stage: Annotated[str, typer.Argument(help="staging, production or archived.")],
    project: ProjectOption = None,
) -> "ModelVersion":
    """Move NAME@N to a stage; promoting one to production archives the one before."""
    return api.models.stage(ref, stage, project=project)


@VERSION.action(app, "pull", pulled)
def model_pull(api: "Client", ref: Ref, directory: Into, project: ProjectOption = None) -> Json:
    """Download a version: the model, its metrics and report, and predict.py to run it."""
    return pull_version(api.models.pull, ref, directory, project)


@MODELS.action(app, "share", lambda m: f"{m['name']} is now {m['visibility']}")
def model_share(
    api: "Client",
    name: ModelName,
    visibility: Annotated[str, typer.Argument(help="private, org, or public (org admins).")],
    project: ProjectOption = None,
) -> "Model":
    """Who may read and use the model: its project, its organization, or every tenant."""
    return api.models.update(name, project=project, visibility=visibility)


MODELS.delete(app, "rm")(
    MODELS.call(
        "delete", "Delete a model and all its versions.", name=ModelName, project=ProjectOption
    )
)


# --- templates -----------------------------------------------------------------------------------


CHOICES_SHOWN = 12  # a role's candidate columns listed in `template list --data`


def _fit(fit: Any) -> str | None:
    """The FITS column: `fits`, `fits (choose target: a, b, c)` for a generic template whose
    column to predict is the caller's to choose (`template run --column target=COLUMN`), or
    `no: why`."""
    if not fit:
        return None
    if not fit["ok"]:
        return f"no: {fit['reason']}"
    said = []
    for role, names in (fit.get("choose") or {}).items():
        more = " ..." if len(names) > CHOICES_SHOWN else ""
        said.append(f"choose {role}: {', '.join(names[:CHOICES_SHOWN])}{more}")
    if not said and fit.get("task"):
        said.append(str(fit["task"]))
    return f"fits ({'; '.join(said)})" if said else "fits"


TEMPLATES = Noun(
    "template",
    [
        col("NAME", "ref"),
        col("INDUSTRY", "industry"),
        col("TASK", "task"),
        col("FRAMEWORK", "framework"),
        col("METRIC", "metric", lambda m: f"{m['name']} {m['expected']:g}"),
        col("PRICE", "price", lambda p: "free" if float(p) == 0 else f"{p} CNY"),
        RATING,
        USES,
        col("FITS", "fit", _fit),
        col("TITLE", "title", lambda t: t.get("en")),
    ],
    empty="no template matches",
    fields=[
        col("NAME", "ref"),
        col("TITLE", "title", lambda t: f"{t['en']} / {t['zh-CN']}"),
        col("SOURCE", "source"),
        col("VISIBILITY", "visibility"),
        col("PRICE", "price", lambda p: "free" if float(p) == 0 else f"{p} CNY per run"),
        *RATED_FIELDS,
        col("SUMMARY", "summary", lambda t: t["en"]),
        col("INDUSTRY", "industry"),
        col("TASK", "task"),
        col("FRAMEWORK", "framework"),
        col("LICENCE", "licence"),
        col(
            "METRIC",
            "metric",
            lambda m: f"{m['name']} ({m['goal']}), {m['expected']:g} on its example",
        ),
        col("INPUT", "manifest", lambda m: _input(m["input"])),
        col("HYPERPARAMETERS", "manifest", lambda m: _params(m["hyperparameters"])),
    ],
)


def _input(spec: Json) -> str:
    if spec["kind"] == "image-folder":
        return f"a folder of images, one subfolder per class (at least {spec['min_classes']})"
    cols = ", ".join(f"{c['name']} ({c['type']})" for c in spec["columns"])
    return f"a table with {cols}; at least {spec['min_rows']} rows"


def _params(params: Json) -> str:
    out = []
    for name, p in params.items():
        bounds = ""
        if p.get("choices"):
            bounds = f" one of {', '.join(map(str, p['choices']))}"
        elif p.get("min") is not None or p.get("max") is not None:
            bounds = f" in [{p.get('min', '')}, {p.get('max', '')}]"
        out.append(f"{name}={p['default']}{bounds}")
    return "; ".join(out) or "none"


@TEMPLATES.list(template_app)
def template_list(
    api: "Client",
    industry: Annotated[str | None, typer.Option(help="e.g. manufacturing, finance.")] = None,
    task: Annotated[str | None, typer.Option(help="e.g. image-classification.")] = None,
    search: Annotated[str | None, typer.Option("--search", "-q", help="Words to find.")] = None,
    data: Annotated[
        str | None,
        typer.Option(help="NAME@N: show which templates fit this data set, and why not."),
    ] = None,
    project: ProjectOption = None,
) -> "list[Template]":
    """The marketplace's templates; with --data, those that fit your data set first."""
    return api.templates.list(industry=industry, task=task, q=search, data=data, project=project)


@TEMPLATES.get(template_app, "show")
def template_show(api: "Client", name: Annotated[str, typer.Argument()]) -> "Template":
    """A template: what it learns, from what input, its hyperparameters and expected metric."""
    return api.templates.get(name)


@template_app.command("publish")
@handle_errors
def template_publish(
    directory: Annotated[
        Path,
        typer.Argument(
            exists=True, file_okay=False, help="template.yaml, train.py, predict.py, example.py."
        ),
    ],
    visibility: Annotated[
        str | None, typer.Option(help="private (default), org, or public (org admins).")
    ] = None,
    price: Annotated[
        str | None, typer.Option(help="CNY per run that other organizations pay (0: free).")
    ] = None,
    licence: Annotated[str | None, typer.Option(help="Default: the manifest's.")] = None,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Publish a template directory as the next version of your template of its name."""
    with client() as api:
        made = plain(
            api.templates.publish(
                directory, visibility=visibility, price=price, licence=licence, project=project
            )
        )
    confirm(
        made,
        f"published {made['ref']} ({made['visibility']}, "
        f"{'free' if float(made['price']) == 0 else made['price'] + ' CNY per run'}): "
        f"`aicc template run {made['ref']}` trains it",
        as_json=as_json,
    )


@template_app.command("review")
@handle_errors
def template_review(
    name: Annotated[str, typer.Argument(help="NAME, NAME@N or ORG/PROJECT/NAME.")],
    rating: Rating,
    text: ReviewText = "",
    as_json: JsonFlag = False,
) -> None:
    """Rate and review a template; a second review of yours replaces the first."""
    rate(lambda api: api.templates.review(name, rating, text), name, rating, as_json)


@template_app.command("rm")
@handle_errors
def template_rm(
    name: Annotated[str, typer.Argument(help="Your published template.")],
    project: ProjectOption = None,
) -> None:
    """Withdraw a template you published (the models its runs made stay)."""
    with client() as api:
        api.templates.delete(name, project=project)
    confirm({}, f"removed template {name}", as_json=False)


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{item!r}: write {what} as KEY=VALUE")
        out[key.strip()] = value.strip()
    return out


@template_app.command("run")
@handle_errors
def template_run(
    name: Annotated[str, typer.Argument(help="The template (`aicc template list`).")],
    data: Annotated[
        str | None,
        typer.Option(help="NAME@N to train on; the template's example data if left out."),
    ] = None,
    set_: SetOption = None,
    column: Annotated[
        list[str] | None,
        typer.Option(help="Map a template column to yours, TEMPLATE=YOURS (repeat)."),
    ] = None,
    model: Annotated[
        str | None, typer.Option(help="The model to register (default: NAME).")
    ] = None,
    gpus: Annotated[int | None, typer.Option(min=0, help="GPUs (default: the template's).")] = None,
    cpu: Annotated[
        float | None, typer.Option(min=0.001, help="CPU cores (default: the template's).")
    ] = None,
    search: Annotated[
        list[str] | None,
        typer.Option(help="Values to try, KEY=V1,V2 (repeat): a search, one trial each."),
    ] = None,
    trials: Annotated[
        int | None, typer.Option(help="Draw this many combinations of --search at random.")
    ] = None,
    estimate: Annotated[
        bool, typer.Option("--estimate", help="Print time and price per option; submit nothing.")
    ] = False,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help="Wait for the training job: exit 0 if it succeeded, 1 if not, with why (its "
            "reason and the last lines of its stderr).",
        ),
    ] = False,
) -> None:
    """Train a template into a model: a job whose model is registered when it succeeds. With
    --search, a hyperparameter search (the trials run together) whose best trial is registered.
    A template whose libraries this server's Python lacks is refused before anything is
    submitted, with the command that installs them."""
    params = _pairs(set_, "--set")
    columns = _pairs(column, "--column")
    values = {k: split_values(v) for k, v in _pairs(search, "--search").items()}
    args: dict[str, Any] = {"data": data, "params": params, "columns": columns}
    args |= {"project": project, "gpus": gpus, "cpu": cpu, "search": values, "trials": trials}
    with client() as api:
        if estimate:
            answer = plain(api.templates.estimate(name, **args))
            if as_json:
                print_json(answer)
            else:
                _estimate_table(answer)
            return
        _train(api, name, model, args, as_json=as_json, wait=wait)


def _train(
    api: "Client", name: str, model: str | None, args: dict[str, Any], *, as_json: bool, wait: bool
) -> None:
    """Submit a run of template `name`; with `wait`, exit as its job ended."""
    job = plain(api.templates.run(name, model=model, **args))
    target = model or name
    confirm(
        job,
        f"submitted training job {job['id']}: `aicc job logs {job['id']} -f`; when it "
        f"succeeds `aicc model get {target}` shows the model",
        as_json=as_json,
    )
    if wait:
        final = api.jobs.wait(job["id"]).model_dump(mode="json")
        code = outcome(final)
        print_cause(api, final)
        if code:
            raise typer.Exit(code)


@app.command("train")
@handle_errors
def model_train(
    name: Annotated[str, typer.Argument(help="The model to register.")],
    data: Annotated[str, typer.Option(help="NAME@N: the data set version to learn from.")],
    target: Annotated[str, typer.Option(help="The column to predict.")],
    column: Annotated[
        list[str] | None,
        typer.Option(help="Another role's column, ROLE=COLUMN (time=date for a series)."),
    ] = None,
    set_: SetOption = None,
    project: ProjectOption = None,
    as_json: JsonFlag = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait for the training job: exit 0 if it succeeded.")
    ] = False,
) -> None:
    """Train a model on a data set without naming a template: the first generic template
    (a table, a series, texts, images) that the data fits with this target is run."""
    columns = {**_pairs(column, "--column"), "target": target}
    with client() as api:
        found = api.templates.list(data=data, project=project, columns=columns)
        general = [t for t in found if t.industry == "general" and t.fit is not None]
        chosen = next((t for t in general if _takes(t, columns)), None)
        if chosen is None:
            why = (
                "; ".join(f"{t.name}: {_unfit(t, columns)}" for t in general)
                or "no generic template"
            )
            status(f"{data} fits no generic template with target={target}: {why}")
            raise typer.Exit(1)
        if not as_json:
            status(f"template {chosen.name}: {data} fits it with target={target}")
        args = {"data": data, "params": _pairs(set_, "--set"), "columns": columns}
        _train(api, chosen.ref, name, args | {"project": project}, as_json=as_json, wait=wait)


def _takes(template: "Template", columns: dict[str, str]) -> bool:
    """Whether the data fits `template` with every role given a column of its own (time=date
    asks for a series template, not a table one that would ignore it)."""
    fit = template.fit
    return bool(fit and fit.ok and not fit.choose and columns.keys() <= (fit.columns or {}).keys())


def _unfit(template: "Template", columns: dict[str, str]) -> str:
    """Why `template` is not the one: the check's reason, the roles left to say, or the
    roles given that it has none for."""
    fit = template.fit
    if fit is None or not fit.ok:
        return fit.reason if fit is not None else "not checked"
    if fit.choose:
        return "; ".join(f"say --column {role}=COLUMN" for role in fit.choose)
    return "no role " + ", ".join(sorted(columns.keys() - (fit.columns or {}).keys()))


ESTIMATE_COLUMNS = [
    col("OPTION", "accelerator", lambda v: "CPU only" if v == "cpu" else v, no_wrap=True),
    col("DEVICES", "count", justify="right"),
    col("TIME", "hours", _hours, justify="right"),
    col("WAIT", "wait_hours", _hours, justify="right"),
    col("SPEED-UP", "speedup", lambda v: f"{v:.1f}×", justify="right"),
    Column("PRICE", price, justify="right"),
]


def _estimate_table(answer: Json) -> None:
    """The options as a table, why the others are left out, and the model's figures."""
    trials = answer["trials"]
    each = f", {trials} trials side by side" if trials > 1 else ""
    title = (
        f"{answer['template']}: {answer['rows']:,} rows ({answer['work']:.3g}× the example's "
        f"{answer['example_seconds']:g} s run{each}); prices in {answer['currency']}"
    )
    print_table(answer["options"], ESTIMATE_COLUMNS, title=title, empty="no option")
    for item in answer["left_out"]:
        status(f"[dim]{item['accelerator']}: {item['message']}[/dim]")
    status("[dim]how the time is estimated, and its error: docs/estimate.md#template-runs[/dim]")
