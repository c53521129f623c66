"""The model APIs' pages beside the deployments' (portal/deployments.py): a deployment's live
panel (request rate, latency, errors a minute from the request log, its replicas and the
autoscaler's count), its recent requests, the playgrounds that chat with it or (a template's
model, which answers `/predict`) send it one row of a form built from the model's input schema
or a CSV of up to 1,000 rows, as the signed-in person, and a project's API keys (`/keys`). The
services decide who sees what: another tenant's deployment or key is the 404 page, as in the
API."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from aicc.api.deps import StateDep
from aicc.api.state import AppState
from aicc.gateway.forward import chat_as, dispatch
from aicc.portal import playground as pg
from aicc.portal import tiers_safety
from aicc.portal.auth import csrf_ok, signed_in_briefly
from aicc.portal.i18n import Message, Translator
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute, error_page, language_of, render
from aicc.services.common import Invalid, ServiceError, TooLarge, utcnow
from aicc.services.models import models
from aicc.services.serving import adapters, api_keys, deployments, views
from aicc.services.serving import gateway as gw
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.sessions import SignedIn

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

POLL = "every 5s"
MINUTES = 30  # the live charts' span
LOG_ROWS = 20  # the recent requests on a deployment's page
PLAYGROUND_RPM = 30  # a person typing; the playground's requests share it per person
MAX_MESSAGE = 8000
MAX_TOKENS = 4096
TEXT_FORMATS = frozenset({"peft-lora"})  # template models that chat (serving.choose's)


@dataclass(frozen=True)
class Live:
    """What the live panel shows: the traffic a minute, the replicas and the autoscaler."""

    deployment: views.Deployment
    minutes: list[gw.Minute]
    inflight: int  # requests in flight now, as the autoscaler counts them
    total: int
    errors: int
    tokens: int
    latest: gw.Minute | None  # the last minute with requests


def live(session: Session, state: AppState, me: SignedIn, name: str, project: str | None) -> Live:
    found = deployments.get(session, me.who, name, project=project)  # another's: 404
    minutes = gw.traffic(
        session, me.who, project=found.project_id, deployment=name, minutes=MINUTES, now=utcnow()
    )
    return Live(
        deployment=found,
        minutes=minutes,
        inflight=state.gateway.concurrency.inflight(found.id),
        total=sum(m.requests for m in minutes),
        errors=sum(m.errors for m in minutes),
        tokens=sum(m.tokens for m in minutes),
        latest=next((m for m in reversed(minutes) if m.requests), None),
    )


def context(
    session: Session, state: AppState, me: SignedIn, name: str, project: str | None
) -> dict[str, Any]:
    """What deployment.html needs of this module: the live panel, the recent requests, the
    LoRA adapters it serves and, for a model that answers `/predict`, its input schema (the
    predict playground's form)."""
    panel = live(session, state, me, name, project)
    log = gw.recent(
        session, me.who, project=panel.deployment.project_id, deployment=name, limit=LOG_ROWS
    )
    schema = predictor(session, me, panel.deployment)
    guarded = tiers_safety.context(session, state, me, name, panel.deployment.project_id)
    attached = adapters.list_adapters(session, me.who, name, project=panel.deployment.project_id)
    return {
        "live": panel,
        "live_poll": POLL,
        "requests": log,
        "predictor": schema,
        "adapters": attached,
        **guarded,
    }


def predictor(session: Session, me: SignedIn, d: views.Deployment) -> pg.Schema | None:
    """The input schema of the model version `d` serves, when it keeps one (a template's model,
    which answers `/predict`); None for a command or a text model, which keep the chat."""
    if d.model is None or d.engine not in ("auto", "predict"):
        return None
    try:
        version = models.version(session, me.who, d.model)
    except ServiceError:  # the model was deleted or unshared since
        return None
    if version.format in TEXT_FORMATS:  # served as text (serving/choose.py): it chats
        return None
    return pg.schema_of(version.input_schema)


@router.get("/deployments/{name}/live")
def live_panel(page: PageDep, name: str, project: str | None = None) -> Response:
    """The live panel alone, as its poll asks for it."""
    found = live(page.session, page.state, page.me, name, project or None)
    return page.render("_deployment_live.html", live=found, live_poll=POLL)


@dataclass(frozen=True)
class Chat:
    """The playground's form and what came back."""

    message: str = ""
    temperature: str = "0.7"
    max_tokens: str = "256"
    answer: str | None = None
    error: str | None = None
    status: int | None = None
    request_id: str | None = None
    tokens: int | None = None


@router.post("/deployments/{name}/chat")
async def playground(
    request: Request,
    state: StateDep,
    name: str,
    project: str | None = None,
    csrf: Annotated[str, Form()] = "",
    message: Annotated[str, Form()] = "",
    temperature: Annotated[str, Form()] = "0.7",
    max_tokens: Annotated[str, Form()] = "256",
) -> Response:
    """One chat request to the deployment through the gateway, as the signed-in person
    (`gw.PERSON` in the request log, metered like any), its answer in the page. It holds no
    transaction while the replica answers: the gateway writes the request's log row meanwhile."""
    me = await signed_in_briefly(request)
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    asked = Chat(message[:MAX_MESSAGE], temperature, max_tokens)
    settings = _settings(asked)
    grant = await run_in_threadpool(_grant, state, me, name, project or None)  # another's: 404
    payload = {"model": name, "messages": [{"role": "user", "content": asked.message}], **settings}
    answer = await chat_as(state.gateway, grant, payload)
    chat = _read(asked, answer)
    return await run_in_threadpool(_page, request, state, me, name, grant.project_id, chat)


def _settings(asked: Chat) -> dict[str, Any]:
    """The request's settings, or a 400 page saying which one to fix."""
    if not asked.message.strip():
        raise Invalid("write a message for the model")
    try:
        temperature = float(asked.temperature)
    except ValueError:
        temperature = -1.0
    if not 0 <= temperature <= 2:
        raise Invalid("temperature must be a number from 0 to 2")
    if not asked.max_tokens.isdigit() or not 1 <= int(asked.max_tokens) <= MAX_TOKENS:
        raise Invalid("max tokens must be a whole number from 1 to {most}", most=MAX_TOKENS)
    return {"temperature": temperature, "max_tokens": int(asked.max_tokens)}


def _grant(state: AppState, me: SignedIn, name: str, project: str | None) -> gw.Grant:
    """The person's grant to this one deployment, if they may read it (a project member)."""
    with state.db.reader() as session:
        found = deployments.get(session, me.who, name, project=project)
        prj = tenancy.resolve_project(session, me.who, found.project_id)
    return gw.Grant(
        key_id=gw.PERSON + me.who.user_id,
        name=gw.PERSON + me.who.name,
        org_id=prj.org_id,
        project_id=prj.id,
        deployments=frozenset({found.name}),
        rpm=PLAYGROUND_RPM,
        tokens_per_month=None,
        tokens_used=0,
    )


def _read(asked: Chat, answer: Response) -> Chat:
    """The assistant's message, or the gateway's error message, from its JSON answer."""
    body: Any
    try:
        body = json.loads(bytes(answer.body))
    except (ValueError, RecursionError):  # the replica's answer, passed on as it came
        body = None
    body = body if isinstance(body, dict) else {}
    request_id = answer.headers.get("x-request-id")
    if answer.status_code == 200:
        choices = body.get("choices") or [{}]
        text = (choices[0].get("message") or {}).get("content") if choices else None
        usage = body.get("usage") or {}
        return Chat(
            asked.message,
            asked.temperature,
            asked.max_tokens,
            answer=str(text or ""),
            status=200,
            request_id=request_id,
            tokens=usage.get("total_tokens"),
        )
    problem = body.get("error") if isinstance(body.get("error"), dict) else {}
    return Chat(
        asked.message,
        asked.temperature,
        asked.max_tokens,
        error=str(problem.get("message") or body.get("detail") or answer.status_code),
        status=answer.status_code,
        request_id=request_id,
    )


def _page(
    request: Request,
    state: AppState,
    me: SignedIn,
    name: str,
    project: str,
    chat: Chat,
    *,
    predicted: pg.Predicted | None = None,
    status: int = 200,
) -> Response:
    with state.db.reader() as session:
        found = deployments.get(session, me.who, name, project=project)
        history = deployments.revisions(session, me.who, name, project=project)
        extra = context(session, state, me, name, project)
    return render(
        request,
        "deployment.html",
        me=me,
        nav="deployments",
        status=status,
        d=found,
        revisions=history,
        done="",
        chat=chat,
        predicted=predicted,
        **extra,
    )


# --- the predict playground


PREDICT_FIELDS = pg.MAX_INPUTS + 8


@router.post("/deployments/{name}/predict")
async def predict_playground(
    request: Request, state: StateDep, name: str, project: str | None = None
) -> Response:
    """One row of the form, a forecast's horizon, or an uploaded CSV (`mode`) to the
    deployment's `/predict` through the gateway as the signed-in person (the playground's rate
    limit, logged and metered as any request); the page again with the predictions, or with
    what to fix (a 4xx). It holds no transaction while the replica answers."""
    me = await signed_in_briefly(request)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > pg.MAX_CSV_BYTES + 64 * 1024:
        raise TooLarge("the file is over 8 MiB: use a batch prediction for a big table")
    try:
        form = await request.form(max_files=pg.MAX_INPUTS, max_fields=PREDICT_FIELDS)
    except HTTPException as err:
        return await run_in_threadpool(error_page, request, 400, str(err.detail))
    try:
        if not csrf_ok(me, str(form.get("csrf", ""))):
            return await run_in_threadpool(error_page, request, 400, "csrf")
        mode = str(form.get("mode", "row"))
        typed = {k: v for k, v in form.multi_items() if isinstance(v, str) and k != "csrf"}
        files = {k: v for k, v in form.multi_items() if isinstance(v, UploadFile) and v.filename}
        grant, schema = await run_in_threadpool(_target, state, me, name, project or None)
        if schema is None:
            raise Invalid("this deployment's model keeps no input schema: use its API")
        asked = pg.Predicted(mode, typed)
        try:
            if mode == "table":
                rows = pg.csv_rows(schema, await _file(files.get("table")))
            else:
                rows = [await _row(schema, mode, typed, files)]
        except Invalid as err:
            refused = pg.Predicted(mode, typed, refused=Message.of(err))
            where = grant.project_id
            return await run_in_threadpool(
                _page, request, state, me, name, where, Chat(), predicted=refused, status=422
            )
    finally:
        await form.close()
    body = json.dumps({"rows": rows}, ensure_ascii=False).encode()
    sent = await dispatch(
        state.gateway, grant, "predict", "/predict", name, {"rows": rows}, body, "application/json"
    )
    answer = pg.answer_of(sent.status_code, bytes(sent.body), sent.headers.get("x-request-id"))
    predicted = pg.predicted(schema, asked, answer, Translator(language_of(request, me)))
    return await run_in_threadpool(
        _page, request, state, me, name, grant.project_id, Chat(), predicted=predicted
    )


@router.get("/deployments/{name}/predict")
@router.get("/deployments/{name}/chat")
def playground_again(name: str, project: str | None = None) -> Response:
    """A playground's answer reloaded (or its page's language switched): the deployment's page
    at its playground, as nothing is sent again without the person asking."""
    query = urlencode({"project": project} if project else {})
    return RedirectResponse(f"/deployments/{quote(name)}?{query}#playground", status_code=303)


def _target(
    state: AppState, me: SignedIn, name: str, project: str | None
) -> tuple[gw.Grant, pg.Schema | None]:
    grant = _grant(state, me, name, project)  # another's: 404
    with state.db.reader() as session:
        found = deployments.get(session, me.who, name, project=grant.project_id)
        return grant, predictor(session, me, found)


async def _file(upload: UploadFile | None) -> bytes:
    if upload is None:
        raise Invalid("choose a CSV file to upload")
    return await upload.read(pg.MAX_CSV_BYTES + 1)


async def _row(
    schema: pg.Schema,
    mode: str,
    typed: dict[str, str],
    files: dict[str, UploadFile],
) -> dict[str, Any]:
    if mode == "horizon" or (schema.forecasting and not schema.inputs):
        return pg.horizon_row(typed.get("horizon", ""))
    images = {k: await f.read(pg.MAX_IMAGE_BYTES + 1) for k, f in files.items()}
    return pg.row_of(schema, typed, images)


@router.post("/deployments/{name}/predictions.csv")
def predictions_download(
    page: PostingPage, name: str, project: str | None = None, rows: Annotated[str, Form()] = ""
) -> Response:
    """The predictions the page shows, as `NAME-predictions.csv`."""
    # another tenant's: NotFound, the 404 page
    found = deployments.get(page.session, page.me.who, name, project=project or None)
    text = pg.to_csv(pg.downloaded(rows))
    headers = {"Content-Disposition": f'attachment; filename="{found.name}-predictions.csv"'}
    return Response(text.encode("utf-8-sig"), media_type="text/csv; charset=utf-8", headers=headers)


# --- API keys


@router.get("/keys")
def key_list(page: PageDep, project: str | None = None) -> Response:
    return _keys_page(page, project or None)


def _keys_page(
    page: Page,
    project: str | None,
    *,
    created: views.ApiKey | None = None,
    secret: str | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    prj = tenancy.resolve_project(page.session, page.me.who, project)
    keys = api_keys.list_keys(page.session, page.me.who, project=prj.id, revoked=True)
    names = [
        d.name for d in deployments.list_deployments(page.session, page.me.who, project=prj.id)
    ]
    return page.render(
        "keys.html",
        nav="keys",
        status=status,
        project=prj,
        keys=sorted(keys, key=lambda k: (k.revoked_at is not None, k.created_at)),
        deployment_names=names,
        created=created,
        secret=secret,
        done=done or page.query("done"),
    )


@router.post("/keys")
def key_create(
    page: PostingPage,
    project: str | None = None,
    name: Annotated[str, Form()] = "",
    deployments_: Annotated[str, Form(alias="deployments")] = "",
    rpm: Annotated[str, Form()] = "",
    tokens_per_month: Annotated[str, Form()] = "",
) -> Response:
    """Create a key; the page shows its secret this once (the store keeps only its hash)."""
    scope = [n.strip() for n in deployments_.split(",") if n.strip()] or None
    made = api_keys.create(
        page.session,
        page.me.who,
        project=project or None,
        name=name.strip(),
        deployments=scope,
        rpm=_count(rpm, "rpm"),
        tokens_per_month=_count(tokens_per_month, "tokens_per_month"),
        default_plan=page.state.settings.pricing,
    )
    return _keys_page(page, made.project_id, created=made, secret=made.secret, status=201)


def _count(text: str, what: str) -> int | None:
    """An optional positive whole number from a form field."""
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        if what == "rpm":
            raise Invalid("requests a minute must be a whole number of 1 or more, or empty")
        raise Invalid("tokens a month must be a whole number of 1 or more, or empty")
    return int(text)


@router.post("/keys/{ref}/revoke")
def key_revoke(
    page: PostingPage, after: BackgroundTasks, ref: str, project: str | None = None
) -> Response:
    """Revoke a key (a viewer gets the 403 page), then the keys' page."""
    gone = api_keys.revoke(page.session, page.me.who, project=project or None, ref=ref)
    after.add_task(page.state.gateway.forget, gone.id)  # once committed: refused at once here
    query = urlencode({"project": gone.project_id, "done": "revoke"})
    return RedirectResponse(f"/keys?{query}", status_code=303)
