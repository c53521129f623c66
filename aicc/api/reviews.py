"""The review routes of a kind people rate (models, templates, data sets): its rating with the
reviews, and the caller's own review. All kinds are reviewed by the same rules
(`services/models/reviews`), so their two routes are made here once, under each kind's path and
operation ids."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.params import Path

from aicc.api import schemas
from aicc.api.deps import CurrentUser, SessionDep
from aicc.api.params import ProjectRef
from aicc.services.data.datasets import DATA
from aicc.services.models import reviews, views

# No `from __future__ import annotations`: FastAPI reads the routes' parameter types at
# definition time, and `name`'s rule is the caller's.


def add_review_routes(
    router: APIRouter, path: str, *, kind: str, name_rule: Path, rated_doc: str | None = None
) -> None:
    """`GET path/reviews` (operation `<noun>_reviews`) and `PUT path/reviews`
    (`<noun>_review`), `path` ending in a `{name}` parameter that `name_rule` checks."""
    noun = router.tags[0]

    def about(
        name: Annotated[str, name_rule],
        who: CurrentUser,
        session: SessionDep,
        project: ProjectRef = None,
    ) -> str:
        return reviews.target(session, who, kind, name, project=project)

    About = Annotated[str, Depends(about)]  # the id reviews of `name` are about; 404 unless read

    def rated(target: About, session: SessionDep) -> Any:
        return reviews.rated(session, target)

    def review(target: About, body: schemas.ReviewIn, who: CurrentUser, session: SessionDep) -> Any:
        return reviews.review(session, who, target, body.rating, body.text)

    what = "data set" if kind == DATA else kind
    review_doc = (
        f"Rate (1-5) and review a {what} the caller reads; a second review replaces the first."
    )
    for endpoint, method, model, operation, doc in (
        (rated, "GET", views.Reviews, f"{noun}_reviews", rated_doc),
        (review, "PUT", views.Review, f"{noun}_review", review_doc),
    ):
        router.add_api_route(
            f"{path}/reviews",
            endpoint,
            methods=[method],
            response_model=model,
            name=operation,
            description=doc,
        )
