"""A running job's terminal in the browser (`/jobs/{id}/terminal`): xterm.js (static/terminal.js)
over the same exec channel as `aicc job exec` (api/terminal.py), on a pty inside the job's
sandbox: keys go up as bytes, the screen comes down as bytes, the window's size as `resize`.

The page is the person's own session's: its websocket (`/jobs/{id}/terminal/socket`) takes the
portal's session cookie and must come from this server's own pages (its `Origin`, which every
browser sends on a websocket, is this host), so another site cannot open a terminal with a
visitor's cookie. Who may is who may cancel the job (`services/jobs/execs.py`): another tenant's
job is a 404, a viewer's a 403, a job not running a 409, each before the upgrade. xterm draws
the command's output as text in its own rows, never as markup. Without JavaScript the page says
to use `aicc job exec`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from aicc.api import terminal
from aicc.api.state import AppState
from aicc.core.tenancy import Principal, can_write
from aicc.portal.auth import SESSION_COOKIE
from aicc.portal.page import PageDep
from aicc.portal.rendering import SECURITY_HEADERS, PortalRoute
from aicc.services.common import Forbidden, utcnow
from aicc.services.jobs import jobs
from aicc.services.tenancy import sessions

router = APIRouter(route_class=PortalRoute, include_in_schema=False)
sockets = APIRouter(include_in_schema=False)
COLS, ROWS = 120, 32  # the pty's size until the page sends its own (`resize`, once open)

# This page's Content-Security-Policy: the portal's (rendering.SECURITY_HEADERS), with inline
# styles allowed and nothing else relaxed. xterm.js inserts <style> elements whose text it
# computes at run time (its cell size, its theme, its scrollbar) and sets `style` attributes on
# cells with 24-bit colours, so no hash or nonce can name them in advance; without this the
# browser refuses each of them (a CSP error on the console) and the rows are drawn unstyled: no
# colours, no cursor, the page's dark text on the dark screen. Scripts stay `'self'` only. What a
# job writes cannot add a style: xterm puts it in its rows as text, and everything else on the
# page is the server's escaped template.
TERMINAL_CSP = SECURITY_HEADERS["Content-Security-Policy"].replace(
    "style-src 'self';", "style-src 'self' 'unsafe-inline';"
)


@router.get("/jobs/{job_id}/terminal")
def terminal_page(page: PageDep, job_id: str) -> Response:
    job = jobs.get(page.session, page.me.who, job_id)  # another tenant's: 404
    if not can_write(page.me.who, org_id=job.org_id, project_id=job.project_id):
        raise Forbidden("viewers cannot run commands in jobs")
    return page.render(
        "terminal.html", nav="jobs", job=job, headers={"Content-Security-Policy": TERMINAL_CSP}
    )


def _who(state: AppState, websocket: WebSocket) -> Principal | None:
    with state.db.reader() as session:
        me = sessions.resolve(session, websocket.cookies.get(SESSION_COOKIE), now=utcnow())
    return None if me is None else me.who


@sockets.websocket("/jobs/{job_id}/terminal/socket")
async def terminal_socket(websocket: WebSocket, job_id: str) -> None:
    state: AppState = websocket.app.state.aicc
    origin = websocket.headers.get("origin")
    host = (websocket.headers.get("host") or "").lower()
    if origin is None or urlsplit(origin).netloc.lower() != host:
        await terminal.deny(websocket, 403, "a terminal opens from this server's own pages only")
        return
    who = await run_in_threadpool(_who, state, websocket)
    if who is None:
        await terminal.deny(websocket, 404, "sign in to open a terminal")
        return
    await terminal.serve(
        websocket, state, who, job_id, command=[], tty=True, replica=0, cols=COLS, rows=ROWS
    )
