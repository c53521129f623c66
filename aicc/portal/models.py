"""The model registry's pages: the models (`/models`) and a model (`/models/{name}`) with its
versions and their stages, metrics, card (the facts of its training and its charts:
portal/model_card.py), the columns it takes, lineage both ways, training curves, stage buttons,
a batch prediction of a data set version of the person's (a job whose predictions become a
data set version), and a download of a version's files as one zip.

A model is named as the API names it: `{name}` plus `?project=` (ORG/PROJECT for one another
organization shares). The services decide who sees what: another tenant's private model is the
404 page, a shared one is read-only (no stage buttons; the POST answers 403 as the API does).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from markupsafe import Markup, escape
from sqlalchemy.orm import Session

from aicc.portal import model_card
from aicc.portal.forms import Posted, text_input
from aicc.portal.i18n import Message, Translator
from aicc.portal.marketplace import curve_chart, data_link
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.common import Invalid, ServiceError
from aicc.services.data import datasets
from aicc.services.data.datasets import reference
from aicc.services.jobs.jobs import SubmitLimits
from aicc.services.models import models, predictions, views
from aicc.services.tenancy.sessions import SignedIn

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

SCOPES = ("project", "visible", "public")
IN_MEMORY = 16 * 1024 * 1024  # a zip up to this size is built in memory, a bigger one on disk
BATCH_CHOICES = 300  # data set versions listed in the batch prediction's select
BATCH_ROWS = 10  # a version's batch predictions listed on its page


def _matches(m: views.Model, words: str) -> bool:
    text = " ".join([m.name, m.description, *m.tags]).lower()
    return all(word in text for word in words.lower().split())


@router.get("/models")
def model_list(page: PageDep, scope: str = "visible", q: str = "") -> Response:
    scope = scope if scope in SCOPES else "visible"
    found = models.list_models(page.session, page.me.who, scope=scope)
    return page.render(
        "models.html",
        nav="marketplace",
        scope=scope,
        scopes=SCOPES,
        q=q[:200],
        found=[m for m in found if _matches(m, q[:200])],
        total=len(found),
    )


@router.get("/models/{name}")
def model_page(
    page: PageDep,
    name: str,
    project: str | None = None,
    version: str | None = None,
    batch: str | None = None,
) -> Response:
    return _model_page(page, name, project, version, batch=batch)


def _model(page: Page, name: str, project: str | None) -> tuple[views.Model, str | None]:
    """The model a page names and the project it is in (another tenant's private one:
    NotFound, the 404 page)."""
    target, where = reference(name, project=project or None)
    return models.get(page.session, page.me.who, str(target), project=where), where


def _versioned(
    page: Page, name: str, project: str | None, version: str
) -> tuple[views.Model, str | None]:
    """`_model` for a form about one of its versions, which names it by number (or Invalid)."""
    if not version.isdigit():
        raise Invalid("version: a version's number")
    return _model(page, name, project)


def _model_page(
    page: Page,
    name: str,
    project: str | None,
    version: str | None,
    *,
    batch: str | None = None,
    batch_error: Message | None = None,
    asked: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    model, where = _model(page, name, project)
    number = int(version) if version and version.isdigit() and len(version) < 10 else model.latest
    shown = curves = None
    if number is not None:
        at, _ = reference(model.name, project=project or None, version=str(number))
        shown = models.version(page.session, page.me.who, str(at), project=where)
        curves = models.curves(page.session, page.me.who, page.state.chunks, str(at), project=where)
    lineage = shown.lineage if shown else {}
    predicts = shown is not None and any(f.path == "predict.py" for f in shown.files)
    return page.render(
        "model.html",
        nav="marketplace",
        status=status,
        model=model,
        shown=shown,
        chart=curve_chart(curves) if curves and curves.steps else None,
        told=model_card.card(shown, page.t) if shown else None,
        inputs=model_card.inputs(shown) if shown else [],
        card=markdown(shown.card, heading=lambda words: card_heading(page.t, words))
        if shown
        else Markup(""),
        data=[data_link(str(d)) for d in lineage.get("datasets") or []],
        job=lineage.get("job_id"),
        from_template=lineage.get("template"),
        stages=models.STAGES,
        moved=page.query("moved"),
        batch_data=_data_choices(page.session, page.me) if predicts else [],
        batches=[
            (b, data_link(f"{b.project}/{b.result}") if b.state == "done" else None)
            for b in (
                _batches(page.session, page.me, shown.ref, where) if shown and predicts else []
            )
        ],
        batch=batch or "",
        batch_error=batch_error,
        batch_asked=asked or {"output": f"{model.name}-predictions"},
    )


def _data_choices(session: Session, me: SignedIn) -> list[str]:
    """The data set versions of the person's project a batch prediction may read: the last
    few of each set, the sets last changed first."""
    found = datasets.list_datasets(session, me.who)
    ordered = sorted(found, key=lambda d: d.updated_at, reverse=True)
    newest = [(d.name, d.latest or 0) for d in ordered]
    refs = [f"{n}@{v}" for n, latest in newest for v in range(latest, max(latest - 5, 0), -1)]
    return refs[:BATCH_CHOICES]


def _batches(
    session: Session, me: SignedIn, ref: str, where: str | None
) -> list[views.BatchPrediction]:
    """The version's latest batch predictions the person may see, newest first."""
    try:
        return predictions.list_predictions(session, me.who, ref, project=where)[:BATCH_ROWS]
    except ServiceError:
        return []


@router.get("/models/{name}/predictions")
def model_batch_again(name: str, project: str | None = None) -> Response:
    """A refused batch prediction's page reloaded (or its language switched): the model's page."""
    query = urlencode({"project": project} if project else {})
    return RedirectResponse(f"/models/{quote(name)}?{query}#batch", status_code=303)


class Versioned(Posted):
    """A form about one version of the model (its number)."""

    version: str = text_input(12)


class Batch(Versioned):
    """The batch prediction's form: the data set version to predict, and where to write."""

    data: str = text_input(300)
    output: str = text_input(200)


@router.post("/models/{name}/predictions")
def model_batch(
    page: PostingPage, name: str, posted: Annotated[Batch, Form()], project: str | None = None
) -> Response:
    """A batch prediction of a version on a data set version of the person's (as the API
    submits it), then the model's page following its job; a refusal (a column the model needs
    missing from the data) is the page again saying why."""
    version, data = posted.version, posted.data
    model, where = _versioned(page, name, project, version)
    try:
        if not data.strip():
            raise Invalid("data: choose a data set version to predict")
        with page.session.begin_nested():  # a refusal leaves nothing half made
            job, _ = predictions.submit(
                page.session,
                page.me.who,
                model=f"{model.name}@{version}",
                model_project=where,
                data=data.strip(),
                output=posted.output.strip() or None,
                limits=SubmitLimits.of(page.state.settings, local_only=True),
            )
    except ServiceError as err:
        asked = posted.typed("data", "output")
        return _model_page(
            page, name, project, version,
            batch_error=Message.of(err), asked=asked, status=err.status,
        )  # fmt: skip
    return RedirectResponse(_link(model, version=version, batch=job.id) + "#batch", status_code=303)


def _link(model: views.Model, **query: str | int) -> str:
    return f"/models/{quote(model.name)}?{urlencode({'project': model.project, **query})}"


class Staging(Versioned):
    """The stage buttons' form: the version, and the stage to move it to."""

    stage: str = text_input(20)


@router.post("/models/{name}/stage")
def model_stage(
    page: PostingPage, name: str, posted: Annotated[Staging, Form()], project: str | None = None
) -> Response:
    """Move a version to a stage (promote, archive), then the model's page on it."""
    version, stage = posted.version, posted.stage
    model, where = _versioned(page, name, project, version)
    at, _ = reference(model.name, project=project or None, version=version)
    models.set_stage(page.session, page.me.who, str(at), stage, project=where)  # read-only: 403
    return RedirectResponse(_link(model, version=version, moved=stage), status_code=303)


@router.get("/models/{name}/download")
def model_download(
    page: PageDep, name: str, project: str | None = None, version: str | None = None
) -> Response:
    """A version's files (the model, its report, `predict.py`) as `NAME-N.zip`."""
    target, where = reference(
        name, project=project or None, version=version if version and version.isdigit() else None
    )
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115
    try:
        made = models.archive(
            page.session, page.me.who, page.state.chunks, str(target), out, project=where
        )
    except BaseException:
        out.close()
        raise
    out.seek(0)
    headers = {"Content-Disposition": f'attachment; filename="{made.name}-{made.number}.zip"'}
    return StreamingResponse(_blocks(out), media_type="application/zip", headers=headers)


def _blocks(out: IO[bytes]) -> Iterator[bytes]:
    try:
        while block := out.read(1024 * 1024):
            yield block
    finally:
        out.close()


# --- the card ---

_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")


def _inline(text: str) -> str:
    safe = str(escape(text))
    safe = _CODE.sub(r"<code>\1</code>", safe)
    return _STRONG.sub(r"<strong>\1</strong>", safe)


# A card's section headings as the service writes them (English, or "English / 中文"), and
# the message each is shown with in the reader's language (cards stored before the headings
# were bilingual included).
CARD_HEADINGS = {
    "Metrics": "card.heading.metrics",
    "Lineage": "card.heading.lineage",
    "Use": "card.heading.use",
    "Hyperparameter search": "card.heading.search",
    "Notes": "card.heading.notes",
    "Facts": "card.heading.facts",
    "Input": "card.heading.input",
}


def card_heading(t: Translator, words: str) -> str:
    """A card's heading in the reader's language: a known section by its message, any other
    heading as the card wrote it."""
    key = CARD_HEADINGS.get(words.partition(" / ")[0].strip())
    return t(key) if key else words


def markdown(text: str, heading: Callable[[str], str] | None = None) -> Markup:
    """A model card's Markdown as HTML: headings, lists, code blocks, paragraphs, `code` and
    **strong**. Everything else is text: every character of the card is escaped first, so a
    card cannot put markup or scripts on the page. `heading` words a section heading for the
    reader (`card_heading`)."""
    out: list[str] = []
    paragraph: list[str] = []
    listing = code = False

    def close() -> None:
        nonlocal listing
        if paragraph:
            out.append(f"<p>{' '.join(_inline(line) for line in paragraph)}</p>")
            paragraph.clear()
        if listing:
            out.append("</ul>")
            listing = False

    for line in text.splitlines():
        if line.startswith("```"):
            close()
            out.append("</code></pre>" if code else '<pre tabindex="0"><code>')  # it may scroll
            code = not code
        elif code:
            out.append(f"{escape(line)}\n")
        elif found := re.match(r"^(#{1,6})\s+(.*)$", line):
            close()
            level = min(len(found.group(1)) + 2, 6)  # the page's own headings come first
            words = heading(found.group(2)) if heading and level > 3 else found.group(2)
            out.append(f"<h{level}>{_inline(words)}</h{level}>")
        elif item := re.match(r"^\s*[-*]\s+(.*)$", line):
            if paragraph:
                close()
            if not listing:
                out.append("<ul>")
                listing = True
            out.append(f"<li>{_inline(item.group(1))}</li>")
        elif not line.strip():
            close()
        else:
            if listing:
                close()
            paragraph.append(line.strip())
    close()
    if code:
        out.append("</code></pre>")
    return Markup("".join(out))  # built from escaped text only
