"""The catalogs as the API, the portal and the SDK read them: the marketplace's entries
(`views.Template`), each template with its rating, how many runs used it, and, against a data
set, whether it fits; and the data sets (`data.views.Dataset`), each with its rating and how
many jobs mounted it. Either ranks by name, rating or use (`rank`).

Apart from `templates`, which knows a template as runs need it (its manifest and files), and
from `reviews`, which imports `templates`: an entry needs both. The data context lists the data
sets and counts their mounts (`data.mounts.uses`); their ratings are reviews', so they are put
together here, above both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from sqlalchemy.orm import Session

from aicc.core import templates as core
from aicc.core.tenancy import Principal
from aicc.services.common import Invalid
from aicc.services.data import datasets, mounts
from aicc.services.data.views import Dataset
from aicc.services.models import reviews, template_uses, templates
from aicc.services.models.views import Fit, Template, TemplateMetric

NO_RATING = reviews.Rating(None, 0)
SORTS = ("name", "rating", "use")


class Rated(Protocol):
    """An entry of a catalog: what `rank` orders it by."""

    @property
    def name(self) -> str: ...
    @property
    def rating(self) -> float | None: ...
    @property
    def ratings(self) -> int: ...
    @property
    def uses(self) -> int: ...


R = TypeVar("R", bound=Rated)


def rank(found: Sequence[R], sort: str | None) -> list[R]:
    """`found` in the order `sort` asks: None keeps the listing's own; `name`; `rating`, the
    best rated first (more ratings first among equals, the unrated last); `use`, the most used
    first (then the better rated). Ties keep the listing's order."""
    if sort is None:
        return list(found)
    if sort == "name":
        return sorted(found, key=lambda e: e.name)
    if sort == "rating":
        return sorted(found, key=lambda e: (e.rating is None, -(e.rating or 0), -e.ratings))
    if sort == "use":
        return sorted(found, key=lambda e: (-e.uses, e.rating is None, -(e.rating or 0)))
    raise Invalid("sort {sort!r}: one of name, rating, use", sort=sort)


def entries(
    session: Session, found: Sequence[tuple[templates.Template, core.Fit | None]]
) -> list[Template]:
    """The catalog's entries, each with the template's rating and use count."""
    ids = [t.id for t, _ in found]
    rated, used = reviews.ratings(session, ids), template_uses.counts(session, ids)
    return [entry(t, fit, rated.get(t.id, NO_RATING), used.get(t.id, 0)) for t, fit in found]


def entry(
    template: templates.Template,
    fit: core.Fit | None = None,
    rating: reviews.Rating = NO_RATING,
    uses: int = 0,
) -> Template:
    m = template.manifest
    return Template(
        name=template.name,
        title=m.title.model_dump(by_alias=True),
        summary=m.summary.model_dump(by_alias=True),
        industry=m.industry,
        task=m.task,
        framework=m.framework,
        licence=template.licence or m.licence,
        source=template.source,
        ref=template.ref,
        version=template.version,
        visibility=template.visibility,  # type: ignore[arg-type]  # checked when stored
        price=str(template.price),
        currency=template.currency,
        writable=template.writable,
        rating=rating.average,
        ratings=rating.count,
        uses=uses,
        metric=TemplateMetric.model_validate(template.metric),
        manifest=m.model_dump(mode="json", by_alias=True),
        fit=Fit.model_validate(fit, from_attributes=True) if fit is not None else None,
    )


def listing(
    session: Session,
    who: Principal,
    *,
    industry: str | None = None,
    task: str | None = None,
    q: str | None = None,
    data: str | None = None,
    project: str | None = None,
    columns: dict[str, str] | None = None,
) -> list[Template]:
    """The catalog, by industry, task or words; with `data` (`NAME@N`), whether each template
    fits that data set version (its roles given `columns`, where it has them): those that fit
    first, those with no role left to choose first among them, then the generic ones
    (`templates.GENERIC_ORDER`)."""
    found = templates.list_templates(session, who, industry=industry, task=task, q=q)
    if data is None:
        return entries(session, [(t, None) for t in found])
    ids = {t.id for t in found}
    fits = [
        f
        for f in templates.fits(session, who, data, project=project, columns=columns)
        if f.template.id in ids
    ]
    fits.sort(key=lambda f: (not f.fit.ok, bool(f.fit.choose), *templates.generic_rank(f.template)))
    return entries(session, [(f.template, f.fit) for f in fits])


def get(session: Session, who: Principal, name: str, *, project: str | None = None) -> Template:
    """A built-in, or a published template the caller reads (`NAME@N`: that version)."""
    return entries(session, [(templates.get(name, session, who, project=project), None)])[0]


def of(session: Session, template: templates.Template) -> Template:
    """One template (just published, say) as the catalog shows it."""
    return entries(session, [(template, None)])[0]


# --- data sets ---


def rated_datasets(session: Session, found: Sequence[Dataset]) -> list[Dataset]:
    """The data sets `found` (as the data context describes them) with their ratings and use
    counts: two grouped queries, whatever their number."""
    ids = [d.id for d in found]
    rated, used = reviews.ratings(session, ids), mounts.uses(session, ids)
    return [
        d.model_copy(
            update={
                "rating": rated.get(d.id, NO_RATING).average,
                "ratings": rated.get(d.id, NO_RATING).count,
                "uses": used.get(d.id, 0),
            }
        )
        for d in found
    ]


def dataset_listing(
    session: Session,
    who: Principal,
    *,
    project: str | None = None,
    scope: str = "project",
    sort: str | None = None,
) -> list[Dataset]:
    """The data sets of `datasets.list_datasets` (a project's, all the caller reads, or the
    open data catalog), rated, in the order `sort` asks (`rank`; None: by name)."""
    found = datasets.list_datasets(session, who, project=project, scope=scope)
    return rank(rated_datasets(session, found), sort)


def dataset(session: Session, who: Principal, ref: str, *, project: str | None = None) -> Dataset:
    """One data set the caller reads, with its versions, rating and use count."""
    return rated_datasets(session, [datasets.get(session, who, ref, project=project)])[0]
