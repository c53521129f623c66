"""The model registry's pages: the models (`/models`) and a model (`/models/{name}`) with its
versions and their stages, metrics, card, lineage both ways, training curves, stage buttons and
a download of a version's files as one zip.

A model is named as the API names it: `{name}` plus `?project=` (ORG/PROJECT for one another
organization shares). The services decide who sees what: another tenant's private model is the
404 page, a shared one is read-only (no stage buttons; the POST answers 403 as the API does).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Iterator
from typing import IO, Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from markupsafe import Markup, escape

from aicc.api.deps import SessionDep, StateDep
from aicc.portal.auth import Me, csrf_ok
from aicc.portal.marketplace import curve_chart, data_link
from aicc.portal.rendering import PortalRoute, error_page, render
from aicc.services.common import Invalid
from aicc.services.data.datasets import reference
from aicc.services.models import models, views

router = APIRouter(route_class=PortalRoute, include_in_schema=False)

SCOPES = ("project", "visible", "public")
IN_MEMORY = 16 * 1024 * 1024  # a zip up to this size is built in memory, a bigger one on disk


def _matches(m: views.Model, words: str) -> bool:
    text = " ".join([m.name, m.description, *m.tags]).lower()
    return all(word in text for word in words.lower().split())


@router.get("/models")
def model_list(
    request: Request, session: SessionDep, me: Me, scope: str = "visible", q: str = ""
) -> Response:
    scope = scope if scope in SCOPES else "visible"
    found = models.list_models(session, me.who, scope=scope)
    return render(
        request,
        "models.html",
        me=me,
        nav="marketplace",
        scope=scope,
        scopes=SCOPES,
        q=q[:200],
        found=[m for m in found if _matches(m, q[:200])],
        total=len(found),
    )


@router.get("/models/{name}")
def model_page(
    request: Request,
    state: StateDep,
    session: SessionDep,
    me: Me,
    name: str,
    project: str | None = None,
    version: str | None = None,
) -> Response:
    target, where = reference(name, project=project or None)
    model = models.get(session, me.who, str(target), project=where)  # another's private: 404
    number = int(version) if version and version.isdigit() and len(version) < 10 else model.latest
    shown = curves = None
    if number is not None:
        at, _ = reference(model.name, project=project or None, version=str(number))
        shown = models.version(session, me.who, str(at), project=where)
        curves = models.curves(session, me.who, state.chunks, str(at), project=where)
    lineage = shown.lineage if shown else {}
    return render(
        request,
        "model.html",
        me=me,
        nav="marketplace",
        model=model,
        shown=shown,
        chart=curve_chart(curves) if curves and curves.steps else None,
        card=markdown(shown.card) if shown else Markup(""),
        data=[data_link(str(d)) for d in lineage.get("datasets") or []],
        job=lineage.get("job_id"),
        from_template=lineage.get("template"),
        stages=models.STAGES,
        moved=request.query_params.get("moved", ""),
    )


def _link(model: views.Model, **query: str | int) -> str:
    return f"/models/{quote(model.name)}?{urlencode({'project': model.project, **query})}"


@router.post("/models/{name}/stage")
def model_stage(
    request: Request,
    session: SessionDep,
    me: Me,
    name: str,
    project: str | None = None,
    csrf: Annotated[str, Form()] = "",
    version: Annotated[str, Form(max_length=12)] = "",
    stage: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Move a version to a stage (promote, archive), then the model's page on it."""
    if not csrf_ok(me, csrf):
        return error_page(request, 400, "csrf")
    if not version.isdigit():
        raise Invalid("version: a version's number")
    target, where = reference(name, project=project or None)
    model = models.get(session, me.who, str(target), project=where)
    at, _ = reference(model.name, project=project or None, version=version)
    models.set_stage(session, me.who, str(at), stage, project=where)  # read-only: 403
    return RedirectResponse(_link(model, version=version, moved=stage), status_code=303)


@router.get("/models/{name}/download")
def model_download(
    state: StateDep,
    session: SessionDep,
    me: Me,
    name: str,
    project: str | None = None,
    version: str | None = None,
) -> Response:
    """A version's files (the model, its report, `predict.py`) as `NAME-N.zip`."""
    target, where = reference(
        name, project=project or None, version=version if version and version.isdigit() else None
    )
    out: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=IN_MEMORY)  # noqa: SIM115
    try:
        made = models.archive(session, me.who, state.chunks, str(target), out, project=where)
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


def markdown(text: str) -> Markup:
    """A model card's Markdown as HTML: headings, lists, code blocks, paragraphs, `code` and
    **strong**. Everything else is text: every character of the card is escaped first, so a
    card cannot put markup or scripts on the page."""
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
            out.append("</code></pre>" if code else "<pre><code>")
            code = not code
        elif code:
            out.append(f"{escape(line)}\n")
        elif heading := re.match(r"^(#{1,6})\s+(.*)$", line):
            close()
            level = min(len(heading.group(1)) + 2, 6)  # the page's own headings come first
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
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
