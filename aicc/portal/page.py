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
from functools import cached_property
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from aicc.api.deps import SessionDep, StateDep
from aicc.api.state import AppState
from aicc.portal.auth import operator, operator_posting, posting, signed_in
from aicc.portal.i18n import Translator
from aicc.portal.rendering import language_of, render
from aicc.services.common import ServiceError
from aicc.services.notify import inbox
from aicc.services.tenancy import tenancy
from aicc.services.tenancy.sessions import SignedIn
from aicc.services.tenancy.views import Project

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    request: Request
    session: Session
    state: AppState
    me: SignedIn

    def render(self, template: str, **context: Any) -> HTMLResponse:
        """`rendering.render` for this request and person (`status=`, `headers=` as there).
        The top bar's bell asks for the unread count only where the page shows the bar."""
        context.setdefault("notify_unread", lambda: inbox.unread(self.session, self.me.who))
        return render(self.request, template, me=self.me, **context)

    @property
    def language(self) -> str:
        """The language the page is rendered in (the person's choice, else the browser's)."""
        return language_of(self.request, self.me)

    @cached_property
    def t(self) -> Translator:
        """The page's messages in its language, as its template's `t`: for what the view
        translates itself (a chart's series names)."""
        return Translator(self.language)

    def query(self, name: str) -> str:
        """A query parameter of the page's address ('' when absent): the flashes after a form."""
        return self.request.query_params.get(name, "")

    def attempt(self, act: Callable[[], T]) -> T | ServiceError:
        """`act()` in a savepoint, so that a refusal halfway leaves nothing behind: what it
        returns, or its refusal for the page to show (a 404 stays the 404 page)."""
        try:
            with self.session.begin_nested():
                return act()
        except ServiceError as err:
            if err.status == 404:
                raise
            return err

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
