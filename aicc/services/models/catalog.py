"""The marketplace's entries as the API, the portal and the SDK read them (`views.Template`): a
template with its rating, how many runs used it, and, against a data set, whether it fits.

Apart from `templates`, which knows a template as runs need it (its manifest and files), and
from `reviews`, which imports `templates`: an entry needs both.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from aicc.core import templates as core
from aicc.core.tenancy import Principal
from aicc.services.models import reviews, templates
from aicc.services.models.views import Fit, Template, TemplateMetric

NO_RATING = reviews.Rating(None, 0)


def entries(
    session: Session, found: Sequence[tuple[templates.Template, core.Fit | None]]
) -> list[Template]:
    """The catalog's entries, each with the template's rating and use count."""
    ids = [t.id for t, _ in found]
    rated, used = reviews.ratings(session, ids), templates.uses(session, ids)
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
    fits that data set version (its roles given `columns`, where it has them), those that fit
    first."""
    found = templates.list_templates(session, who, industry=industry, task=task, q=q)
    if data is None:
        return entries(session, [(t, None) for t in found])
    ids = {t.id for t in found}
    fits = [
        f
        for f in templates.fits(session, who, data, project=project, columns=columns)
        if f.template.id in ids
    ]
    fits.sort(key=lambda f: not f.fit.ok)
    return entries(session, [(f.template, f.fit) for f in fits])


def get(session: Session, who: Principal, name: str, *, project: str | None = None) -> Template:
    """A built-in, or a published template the caller reads (`NAME@N`: that version)."""
    return entries(session, [(templates.get(name, session, who, project=project), None)])[0]


def of(session: Session, template: templates.Template) -> Template:
    """One template (just published, say) as the catalog shows it."""
    return entries(session, [(template, None)])[0]
