"""Tenancy's directory (services/tenancy/directory.py), what the contexts above tenancy read of
its tables, on a real SQLite database (the tables as declared, in memory): lookups by id and by
name, the selects of ids callers put in their own queries, and the quotas with their writer."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from aicc.core.tenancy import Quota, Role
from aicc.services.tenancy import directory, tenancy
from aicc.services.tenancy.views import Org, Project
from aicc.store.tables.base import Base


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """Two organizations: Acme (projects default and Vision, user ann) and beta (its default
    project, user bob)."""
    engine = create_engine("sqlite://", poolclass=StaticPool)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        acme = tenancy.create_org(session, None, name="Acme")
        tenancy.create_project(session, None, name="Vision", org_id=acme.id)
        tenancy.create_user(session, None, name="ann", role=Role.MEMBER, org_id=acme.id)
        beta = tenancy.create_org(session, None, name="beta")
        tenancy.create_user(session, None, name="bob", role=Role.ORG_ADMIN, org_id=beta.id)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
        session.rollback()  # what a test wrote goes: each starts from the module's tree


def _ids(session: Session) -> tuple[str, str, str]:
    """Acme's id, beta's id and Vision's id."""
    acme, beta = (directory.org_by_ref(session, name) for name in ("Acme", "beta"))
    assert acme is not None and beta is not None
    vision = directory.project_named_lower(session, "acme", "vision")
    assert vision is not None
    return acme.id, beta.id, vision.id


def test_one_by_id_or_by_name(session: Session) -> None:
    acme_id, beta_id, vision_id = _ids(session)
    vision = directory.project(session, vision_id)
    assert isinstance(vision, Project) and (vision.name, vision.org_id) == ("Vision", acme_id)
    assert directory.project(session, "prj_gone") is None
    found = directory.projects(session, [vision_id, "prj_gone"])
    assert list(found) == [vision_id]  # an unknown id is absent
    assert directory.projects(session, []) == {}
    acme = directory.org(session, acme_id)
    assert isinstance(acme, Org) and acme.name == "Acme"
    assert directory.org_by_ref(session, acme_id) == acme  # by id as by name
    assert directory.org(session, "org_gone") is None
    assert directory.org_by_ref(session, "gone") is None
    # image references are lowercase: the names compare folded, both of them
    assert directory.project_named_lower(session, "acme", "nope") is None
    ann = directory.user_named(session, "ann")
    assert ann is not None and ann.org_id == acme_id
    assert directory.user(session, ann.id) == ann
    assert directory.user(session, "usr_gone") is None
    assert directory.user_named(session, "ann", org_name="Acme") == ann
    assert directory.user_named(session, "ann", org_name="beta") is None  # not in that one
    bob = directory.principal_named(session, "bob", org_name="beta")
    assert bob is not None and (bob.org_id, bob.role) == (beta_id, Role.ORG_ADMIN)
    assert directory.principal_named(session, "bob", org_name="Acme") is None


def test_every_project_and_the_selects_a_caller_filters_by(session: Session) -> None:
    acme_id, beta_id, vision_id = _ids(session)
    orgs = directory.project_orgs(session)
    names = directory.project_names(session)
    assert len(orgs) == len(names) == 3  # two defaults and Vision
    assert orgs[vision_id] == acme_id and names[vision_id] == "Vision"
    in_acme = set(session.scalars(directory.project_ids(org_id=acme_id)))
    assert in_acme == {p for p, o in orgs.items() if o == acme_id} and len(in_acme) == 2
    assert set(session.scalars(directory.project_ids(org_name="Acme", name="Vision"))) == {
        vision_id
    }
    assert set(session.scalars(directory.project_ids(org_name="beta", name="Vision"))) == set()
    assert set(session.scalars(directory.org_ids("beta"))) == {beta_id}
    assert set(session.scalars(directory.org_ids(beta_id))) == {beta_id}
    joined = directory.project_orgs_joined()
    rows = session.execute(select(joined.c.id, joined.c.org_id, joined.c.org_name)).all()
    assert {(p, o) for p, o, _ in rows} == set(orgs.items())
    assert {n for p, _, n in rows if p == vision_id} == {"Acme"}


def test_quotas_and_their_writer(session: Session) -> None:
    acme_id, _, vision_id = _ids(session)
    assert all(q.quota == Quota() for q in directory.org_quotas(session))  # none set yet
    granted = Quota(guaranteed={"cpu_milli": 4000.0}, max={"cpu_milli": 8000.0})
    org = directory.set_quota(session, "org", acme_id, granted)
    assert isinstance(org, Org) and org.quota.guaranteed == {"cpu_milli": 4000.0}
    given = Quota(guaranteed={"cpu_milli": 1000.0})
    project = directory.set_quota(session, "project", vision_id, given)
    assert isinstance(project, Project) and project.quota.max == {}
    orgs = {q.id: q for q in directory.org_quotas(session)}
    assert orgs[acme_id].quota == granted and orgs[acme_id].org_id == acme_id
    in_acme = directory.project_quotas(session, org_id=acme_id)
    assert {q.id: q.quota for q in in_acme}[vision_id] == given
    assert {q.org_id for q in in_acme} == {acme_id}
    assert len(directory.project_quotas(session)) == 3
    directory.hold(session, acme_id, vision_id)  # SQLite: no row locks, and no error
