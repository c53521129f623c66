"""One visit to a page, as a route takes it: the request, its database session, the server's
state and the signed-in person, in one parameter (`page: PageDep`) instead of four.

Every page renders with the same request and person, so `Page.render` adds them; helpers that
build a page take the `Page` rather than its parts. Who may open the page is the dependency's
choice: `PageDep` (anyone signed in), `OperatorPage` (the center's operators), and, for a form
that changes something, `PostingPage` and `OperatorPostingPage`, which first check its CSRF
token (`auth.Posting`).
"""

# No `from __future__ import annotations`: FastAPI reads the dependency's annotations at runtime,
# and `_page_of`'s inner function names a local (`who`).
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from aicc.api.deps import SessionDep, StateDep
from aicc.api.state import AppState
from aicc.portal.auth import operator, operator_posting, posting, signed_in
from aicc.portal.rendering import render
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.sessions import SignedIn
from aicc.services.tenancy.views import Project


@dataclass(frozen=True)
class Page:
    request: Request
    session: Session
    state: AppState
    me: SignedIn

    def render(self, template: str, **context: Any) -> HTMLResponse:
        """`rendering.render` for this request and person (`status=`, `headers=` as there)."""
        return render(self.request, template, me=self.me, **context)

    def query(self, name: str) -> str:
        """A query parameter of the page's address ('' when absent): the flashes after a form."""
        return self.request.query_params.get(name, "")

    def own_projects(self) -> list[Project]:
        """The projects of the person's own organization that they may read (an operator's
        own organization's too): what a form that makes something offers to put it in."""
        who = self.me.who
        return [p for p in tenancy.list_projects(self.session, who) if p.org_id == who.org_id]


def _page_of(who: Callable[..., SignedIn]) -> Any:
    async def page(
        request: Request,
        session: SessionDep,
        state: StateDep,
        me: Annotated[SignedIn, Depends(who)],
    ) -> Page:
        return Page(request, session, state, me)

    return Depends(page)


PageDep = Annotated[Page, _page_of(signed_in)]
OperatorPage = Annotated[Page, _page_of(operator)]
PostingPage = Annotated[Page, _page_of(posting)]
OperatorPostingPage = Annotated[Page, _page_of(operator_posting)]
