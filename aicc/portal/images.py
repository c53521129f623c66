"""The images page: a project's repositories in the center registry (tags, sizes, who may pull
them, the command that pulls one) and the jobs that ran in them; a form shares one. Pushing
and building stay with the CLI (`aicc image push|build`), which a page cannot do for a tenant's
disk. The services decide what is whose: another tenant's image is a 404, as in the API."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form
from fastapi.responses import RedirectResponse, Response

from aicc.core.images import VISIBILITIES
from aicc.portal.page import Page, PageDep, PostingPage
from aicc.portal.rendering import PortalRoute
from aicc.services.images import images
from aicc.services.jobs import census

router = APIRouter(route_class=PortalRoute, include_in_schema=False)


def _host(page: Page) -> str:
    return images.host_of(page.state.settings.registry.address())


@router.get("/images")
def images_page(page: PageDep) -> Response:
    projects = page.own_projects()
    chosen = page.query("project") or (projects[0].name if projects else None)
    who, host = page.me.who, _host(page)
    found = images.list_images(page.session, who, project=chosen, host=host)
    project_id, prefix = images.used_prefix(page.session, who, project=chosen, host=host)
    used = images.uses(census.images_named(page.session, project_id, prefix))
    return page.render(
        "images.html",
        nav="images",
        images=found,
        uses=used,
        storage=images.storage(page.session, who, project=chosen),
        projects=projects,
        project=chosen,
        host=host,
        visibilities=VISIBILITIES,
        done=page.query("done"),
        name=page.query("name"),
    )


@router.post("/images/share")
def images_share(
    page: PostingPage,
    name: Annotated[str, Form(max_length=255)] = "",
    project: Annotated[str, Form(max_length=60)] = "",
    visibility: Annotated[str, Form(pattern=r"^(private|org|public)$")] = "private",
) -> Response:
    """Who may pull one of the project's images (another tenant's: the 404 page)."""
    images.set_visibility(
        page.session,
        page.me.who,
        project=project or None,
        name=name,
        visibility=visibility,
        host=_host(page),
    )
    query = urlencode({"done": visibility, "name": name, "project": project})
    return RedirectResponse(f"/images?{query}", status_code=303)
