"""Challenges (揭榜): a need with a hidden test set. Teams of one organization or more take it,
train on the need's public data with the center's compute (their own jobs, billed to them), and
submit model versions; AICC scores each on the hidden set (services/needs/scoring.py), at most
`per_day` a team a UTC day, until the deadline.

Two boards, as Kaggle keeps them: the public one ranks each team's best submission by its score
on a fixed `public_pct` of the hidden rows, and is open while the challenge runs; the private
one ranks by the other rows and opens at the deadline, so a team that fitted the public rows
gains nothing. The poster's board also shows each standing's lineage: the model, the template
and job that trained it, the data it read and the compute it used.

The poster may subsidize the teams' training from one of its vouchers: each team formed (a
`join` that makes it, not an invitation) receives `subsidy_per_team` of it as a voucher of its
first organization, valid until the deadline, which its own invoices spend on its training jobs
(billing/credits.py's `pass_on`); once the voucher has less than that left, new teams receive
none, and their view says so.

What is counted before a row is written is counted under a lock (issue 57), so concurrent
requests on PostgreSQL keep the rules as SQLite's one writer does: a team's submissions of a day
under its row's (`submit`), an organization's one team of a challenge and a team's subsidy under
the challenge's (`join`, `invite`), one challenge of a need under the need's (`create`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from aicc.core import scoring as core_scoring
from aicc.core.pricing import to_money
from aicc.core.tenancy import Principal, Role
from aicc.services.billing import credits, records
from aicc.services.common import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    TooMany,
    from_row,
    new_id,
    utc,
)
from aicc.services.data import lookups
from aicc.services.data.datasets import MODEL
from aicc.services.jobs import jobs
from aicc.services.models import template_runs
from aicc.services.needs import needs, notices, scoring
from aicc.services.needs.views import Board, Challenge, Standing, Submission, Team
from aicc.services.tenancy import audit, directory, tenancy
from aicc.store.chunkstore import ChunkStore
from aicc.store.tables.needs import ChallengeRow, ChallengeSubmissionRow, ChallengeTeamRow, NeedRow

MAX_RUNTIME_S = 6 * 3600


@dataclass(frozen=True)
class Ask:
    """What makes a need a challenge: the poster's private data set version with the answers
    (`hidden`), the column to predict, and the limits."""

    hidden: str
    target: str
    table: str | None = None
    public_pct: int = 30
    per_day: int = 5
    max_runtime_s: int = 600
    subsidy_voucher: str | None = None  # the poster's voucher that subsidizes each new team
    subsidy_per_team: Decimal = Decimal(0)


def create(
    session: Session,
    who: Principal,
    store: ChunkStore,
    need_ref: str,
    ask: Ask,
    *,
    now: datetime,
    zone: str = "UTC",
) -> Challenge:
    """Make the need a challenge (its poster): its hidden set is split into the inputs the
    scoring jobs read and the answers AICC keeps. A subsidy names a voucher of the poster's
    organization, valid today (in the billing `zone`), with `subsidy_per_team` left at least."""
    need = needs._find(session, who, need_ref)
    needs.poster_only(who, need, Forbidden("only the need's poster may make it a challenge"))
    need = needs._locked(session, need.id)  # one challenge a need, however many ask at once
    if need.state != "open" or utc(need.deadline) <= now:
        raise Conflict("need {name} is closed", name=need.name)
    if session.scalar(select(ChallengeRow.id).where(ChallengeRow.need_id == need.id)):
        raise Conflict("need {name} is a challenge already", name=need.name)
    if not 1 <= ask.public_pct <= 99:
        raise Invalid("public_pct: from 1 to 99 (the rest score the private board)")
    if not 1 <= ask.per_day <= 100:
        raise Invalid("per_day: from 1 to 100 submissions a team a day")
    if not 10 <= ask.max_runtime_s <= MAX_RUNTIME_S:
        raise Invalid("max_runtime_s: from 10 to {max} seconds", max=MAX_RUNTIME_S)
    per_team = to_money(ask.subsidy_per_team)
    if per_team < 0:
        raise Invalid("subsidy_per_team: not below 0")
    if bool(ask.subsidy_voucher) != (per_team > 0):
        raise Invalid("subsidy: give both the voucher and the amount per team, or neither")
    if ask.subsidy_voucher:
        credits.check_usable(
            session,
            who,
            ask.subsidy_voucher,
            per_team,
            org_id=need.org_id,
            project_id=need.project_id,
            currency=need.currency,
            until=credits.today(now, zone),
        )
    project = directory.project(session, need.project_id)
    assert project is not None
    row, version, table, read = scoring._hidden_table(
        session, who, store, ask.hidden, ask.table, ask.target, project=project.name
    )
    if row.project_id != need.project_id:
        raise Invalid("hidden: {name} is not a data set of the need's project", name=row.name)
    numeric = core_scoring.metric(need.metric).numeric
    if numeric and not _numbers(read.column(ask.target).to_pylist()):
        raise Invalid(
            "target: {target} is not numbers in every row, which metric {metric} needs",
            target=ask.target,
            metric=need.metric,
        )
    challenge_id = new_id("chl")
    inputs = scoring.make_inputs(
        session,
        store,
        f"challenge-{challenge_id[4:].lower()}",
        read,
        ask.target,
        message=f"the inputs of challenge {need.name} (its hidden set without {ask.target})",
    )
    challenge = ChallengeRow(
        id=challenge_id,
        need_id=need.id,
        hidden_version_id=version.id,
        hidden_table=table,
        target=ask.target,
        rows=read.num_rows,
        inputs=inputs,
        public_pct=ask.public_pct,
        per_day=ask.per_day,
        max_runtime_s=ask.max_runtime_s,
        created_at=now,
        subsidy_voucher=ask.subsidy_voucher or None,
        subsidy_per_team=str(per_team),
        split_key=secrets.token_hex(32),
    )
    session.add(challenge)
    session.flush()
    audit.record(session, who, "challenge.create", "challenge", challenge.id, org_id=need.org_id)
    return view(session, who, challenge, now=now)


def _numbers(values: list[Any]) -> bool:
    try:
        return all(v is not None and float(v) == float(v) for v in values)
    except (TypeError, ValueError):
        return False


def _find(session: Session, who: Principal, ref: str) -> tuple[ChallengeRow, NeedRow]:
    """A challenge by its id or its need's (id, ORG/NAME, NAME)."""
    row = session.get(ChallengeRow, ref.rpartition("/")[2])
    if row is not None:
        need = session.get(NeedRow, row.need_id)
        assert need is not None
        return row, need
    need = needs._find(session, who, ref)
    row = session.scalar(select(ChallengeRow).where(ChallengeRow.need_id == need.id))
    if row is None:
        raise NotFound("need {ref} has no challenge", ref=ref)
    return row, need


def _locked(session: Session, row: ChallengeRow) -> ChallengeRow:
    """The challenge's row, locked until the transaction ends: its teams are counted and
    joined by one request at a time."""
    locked = session.scalar(
        select(ChallengeRow)
        .where(ChallengeRow.id == row.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    return locked


def get(session: Session, who: Principal, ref: str, *, now: datetime) -> Challenge:
    row, _ = _find(session, who, ref)
    return view(session, who, row, now=now)


def listing(session: Session, who: Principal, *, now: datetime) -> list[Challenge]:
    """Every challenge, newest first (the catalog is every tenant's)."""
    rows = session.scalars(select(ChallengeRow).order_by(ChallengeRow.created_at.desc()))
    return [view(session, who, row, now=now) for row in rows]


def view(session: Session, who: Principal, row: ChallengeRow, *, now: datetime) -> Challenge:
    need = session.get(NeedRow, row.need_id)
    assert need is not None
    poster = needs.posts(who, need)
    hidden = _hidden_ref(session, row) if poster else None
    metric = core_scoring.metric(need.metric)
    teams = session.scalars(
        select(ChallengeTeamRow)
        .where(ChallengeTeamRow.challenge_id == row.id)
        .order_by(ChallengeTeamRow.created_at)
    )
    return from_row(
        Challenge,
        row,
        need=f"{tenancy.org_name(session, need.org_id)}/{need.name}",
        need_id=need.id,
        title=need.title,
        metric=need.metric,
        higher_is_better=metric.higher_is_better,
        deadline=utc(need.deadline),
        private_open=utc(need.deadline) <= now,
        subsidy_per_team=str(to_money(Decimal(row.subsidy_per_team or 0))),
        subsidy_voucher=row.subsidy_voucher if poster else None,
        hidden=hidden,
        teams=[_team(session, t) for t in teams],
        created_at=utc(row.created_at),
    )


def _hidden_ref(session: Session, row: ChallengeRow) -> str | None:
    version = lookups.versions(session, [row.hidden_version_id]).get(row.hidden_version_id)
    if version is None:
        return None
    return f"{version.name}@{version.number}:{row.hidden_table}"


# --- teams ---


def _members(team: ChallengeTeamRow) -> list[dict[str, Any]]:
    return [dict(m) for m in team.orgs or ()]


def _team(session: Session, team: ChallengeTeamRow) -> Team:
    members = _members(team)
    challenge = session.get(ChallengeRow, team.challenge_id)
    offered = challenge is not None and bool(challenge.subsidy_voucher)
    given = offered and team.subsidy_voucher is not None
    return Team(
        id=team.id,
        name=team.name,
        orgs=[tenancy.org_name(session, m["id"]) for m in members if m.get("joined")],
        invited=[tenancy.org_name(session, m["id"]) for m in members if not m.get("joined")],
        subsidy=str(to_money(Decimal(challenge.subsidy_per_team))) if challenge and given else None,
        subsidy_voucher=team.subsidy_voucher if given else None,
        subsidy_state=("given" if given else "none_left") if offered else None,
        created_at=utc(team.created_at),
    )


def _team_of(session: Session, challenge_id: str, org_id: str) -> ChallengeTeamRow | None:
    """The team the organization joined on this challenge, if any."""
    rows = session.scalars(
        select(ChallengeTeamRow).where(ChallengeTeamRow.challenge_id == challenge_id)
    )
    for team in rows:
        if any(m["id"] == org_id and m.get("joined") for m in _members(team)):
            return team
    return None


def _competes(who: Principal, need: NeedRow) -> None:
    if who.role is Role.VIEWER:
        raise Forbidden("viewers cannot take part in challenges")
    if who.org_id == need.org_id:
        raise Conflict("the poster's organization cannot take its own challenge")


def join(
    session: Session, who: Principal, ref: str, team: str, *, now: datetime, zone: str = "UTC"
) -> Team:
    """Take the challenge as team `team`: a new team of the caller's organization, or one
    that invited it. An organization is in one team of a challenge. A new team receives the
    challenge's training subsidy, if it offers one and the poster's voucher has it left
    (`_subsidize`; the billing `zone` dates the voucher)."""
    row, need = _find(session, who, ref)
    _competes(who, need)
    if need.state != "open" or utc(need.deadline) <= now:
        raise Conflict("challenge {name} is closed", name=need.name)
    if not needs.NAME.match(team):
        raise Invalid("team: {team!r}: lowercase letters, digits and '-'", team=team)
    row = _locked(session, row)
    mine = _team_of(session, row.id, who.org_id)
    if mine is not None:
        if mine.name == team:
            return _team(session, mine)
        raise Conflict("your organization is in team {team} already", team=mine.name)
    named = session.scalar(
        select(ChallengeTeamRow).where(
            ChallengeTeamRow.challenge_id == row.id, ChallengeTeamRow.name == team
        )
    )
    if named is None:
        named = ChallengeTeamRow(
            id=new_id("tem"),
            challenge_id=row.id,
            name=team,
            orgs=[{"id": who.org_id, "joined": True}],
            created_by=who.user_id,
            created_at=now,
        )
        session.add(named)
        session.flush()
        named.subsidy_voucher = _subsidize(session, who, row, need, named, zone=zone)
    else:
        members = _members(named)
        invited = next((m for m in members if m["id"] == who.org_id), None)
        if invited is None:
            raise Conflict(
                "team {team} exists; ask it to invite your organization (`aicc challenge invite`)",
                team=team,
            )
        invited["joined"] = True
        named.orgs = members
    audit.record(session, who, "challenge.join", "challenge", row.id, org_id=who.org_id)
    notices.joined(session, row, named, who.org_id)
    return _team(session, named)


def _subsidize(
    session: Session,
    who: Principal,
    row: ChallengeRow,
    need: NeedRow,
    team: ChallengeTeamRow,
    *,
    zone: str,
) -> str | None:
    """A new team's training subsidy: `subsidy_per_team` of the poster's voucher moved into a
    voucher of the team's first organization, valid until the deadline's day; its id, or None
    where the challenge offers none or the voucher has less than that left."""
    per_team = Decimal(row.subsidy_per_team or 0)
    if not row.subsidy_voucher or per_team <= 0:
        return None
    return credits.pass_on(
        session,
        who,
        row.subsidy_voucher,
        per_team,
        reference=team.id,
        org_id=who.org_id,
        name=f"Training for {need.name} ({team.name})",
        until=needs.deadline_day(utc(need.deadline), zone),
        zone=zone,
    )


def invite(session: Session, who: Principal, ref: str, org: str, *, now: datetime) -> Team:
    """Invite organization `org` (by name or id) into the caller's team; it joins with
    `join`."""
    row, need = _find(session, who, ref)
    _competes(who, need)
    row = _locked(session, row)
    mine = _team_of(session, row.id, who.org_id)
    if mine is None:
        raise Conflict("your organization is in no team of this challenge; join it first")
    guest = directory.org_by_ref(session, org)
    if guest is None:
        raise NotFound("organization {org} not found", org=org)
    if guest.id == need.org_id:
        raise Conflict("the poster's organization cannot take its own challenge")
    if _team_of(session, row.id, guest.id) is not None:
        raise Conflict("organization {org} is in a team already", org=org)
    members = _members(mine)
    if not any(m["id"] == guest.id for m in members):
        members.append({"id": guest.id, "joined": False})
        mine.orgs = members
    audit.record(session, who, "challenge.invite", "challenge", row.id, org_id=who.org_id)
    notices.invited(session, row, mine, guest.id)
    return _team(session, mine)


# --- submissions ---


def submit(
    session: Session,
    who: Principal,
    ref: str,
    model: str,
    *,
    project: str | None = None,
    now: datetime,
    limits: jobs.SubmitLimits,
) -> Submission:
    """Submit model version `model` (the team's; `NAME@N`, the latest without `@N`), or the
    model a template run made (`model` the run's job id), to be scored on the hidden set."""
    row, need = _find(session, who, ref)
    _competes(who, need)
    if need.state != "open" or utc(need.deadline) <= now:
        raise Conflict("challenge {name} is closed", name=need.name)
    team = _team_of(session, row.id, who.org_id)
    if team is None:
        raise Conflict(
            "your organization is in no team of this challenge; `aicc challenge join` first"
        )
    session.execute(  # the team's submissions are counted and added one request at a time
        select(ChallengeTeamRow.id).where(ChallengeTeamRow.id == team.id).with_for_update()
    )
    day = datetime.combine(now.date(), time(0), tzinfo=now.tzinfo)
    today = session.scalar(
        select(func.count()).where(
            ChallengeSubmissionRow.team_id == team.id, ChallengeSubmissionRow.created_at >= day
        )
    )
    if int(today or 0) >= row.per_day:
        raise TooMany(
            "team {team} has made its {n} submissions of today; the next at {at} UTC",
            team=team.name,
            n=row.per_day,
            at=(day + timedelta(days=1)).strftime("%Y-%m-%d %H:%M"),
        )
    if model.startswith("job_"):
        model, project = _run_model(session, who, model), None
    model_row, model_version = lookups.find(session, who, model, project=project, kind=MODEL)
    submission = ChallengeSubmissionRow(
        id=new_id("csb"),
        challenge_id=row.id,
        team_id=team.id,
        org_id=who.org_id,
        user_id=who.user_id,
        model=f"{model_row.project}/{model_row.name}@{model_version.number}",
        model_version_id=model_version.id,
        job_id=None,
        state="scoring",
        public_score=None,
        private_score=None,
        error="",
        lineage=_lineage(session, model_version.lineage),
        created_at=now,
        scored_at=None,
    )
    session.add(submission)
    session.flush()
    submission.job_id = scoring.start(
        session, row, submission, (model_row, model_version), limits=limits
    )
    audit.record(session, who, "challenge.submit", "challenge", row.id, org_id=who.org_id)
    return _submission(session, submission, private_open=False)


def _run_model(session: Session, who: Principal, job_id: str) -> str:
    """The model version (ORG/PROJECT/NAME@N) the caller's template run `job_id` made."""
    run = template_runs.run_of(session, who, job_id)  # another tenant's, or no run: 404
    if run.state != "done":
        raise Conflict(
            "run {job_id} has made no model yet ({state}); submit it once it is done",
            job_id=job_id,
            state=run.state if run.state != "failed" else f"failed: {run.result}",
        )
    return f"{run.project}/{run.result}"


def _lineage(session: Session, lineage: dict[str, Any]) -> dict[str, Any]:
    """What made the model: its template, the job that trained it, the data it read, and what
    that job used."""
    found: dict[str, Any] = {
        k: lineage[k] for k in ("template", "job_id", "datasets") if k in lineage
    }
    if lineage.get("job_id"):
        found["compute"] = records.job_compute(session, str(lineage["job_id"]))
    return found


def submissions(session: Session, who: Principal, ref: str, *, now: datetime) -> list[Submission]:
    """The caller's team's submissions, newest first (the poster sees every team's)."""
    row, need = _find(session, who, ref)
    query = select(ChallengeSubmissionRow).where(ChallengeSubmissionRow.challenge_id == row.id)
    if not needs.posts(who, need):
        team = _team_of(session, row.id, who.org_id)
        if team is None:
            return []
        query = query.where(ChallengeSubmissionRow.team_id == team.id)
    opened = utc(need.deadline) <= now
    rows = session.scalars(query.order_by(ChallengeSubmissionRow.created_at.desc()))
    return [_submission(session, s, private_open=opened) for s in rows]


def _submission(session: Session, row: ChallengeSubmissionRow, *, private_open: bool) -> Submission:
    team = session.get(ChallengeTeamRow, row.team_id)
    return from_row(
        Submission,
        row,
        team=team.name if team else row.team_id,
        private_score=row.private_score if private_open else None,
        created_at=utc(row.created_at),
        scored_at=utc(row.scored_at) if row.scored_at else None,
        lineage=dict(row.lineage or {}),
    )


def board(
    session: Session, who: Principal, ref: str, *, private: bool = False, now: datetime
) -> Board:
    """A board: each team's best scored submission by the board's score, best first (ties: the
    earlier). The private board opens at the deadline (before: a 409); lineage is the
    poster's to see."""
    row, need = _find(session, who, ref)
    if private and utc(need.deadline) > now:
        raise Conflict(
            "the private board opens at the deadline, {at}", at=utc(need.deadline).isoformat()
        )
    metric = core_scoring.metric(need.metric)
    poster = needs.posts(who, need)
    scored = session.scalars(
        select(ChallengeSubmissionRow)
        .where(
            ChallengeSubmissionRow.challenge_id == row.id, ChallengeSubmissionRow.state == "scored"
        )
        .order_by(ChallengeSubmissionRow.created_at)
    )
    best: dict[str, tuple[float, ChallengeSubmissionRow]] = {}
    counts: dict[str, int] = {}
    for sub in scored:
        value = sub.private_score if private else sub.public_score
        if value is None:
            continue
        counts[sub.team_id] = counts.get(sub.team_id, 0) + 1
        kept = best.get(sub.team_id)
        if kept is None or core_scoring.better(need.metric, value, kept[0]):
            best[sub.team_id] = (value, sub)
    ordered = sorted(
        best.items(),
        key=lambda item: (
            -item[1][0] if metric.higher_is_better else item[1][0],
            item[1][1].created_at,
        ),
    )
    standings = []
    for rank, (team_id, (value, sub)) in enumerate(ordered, start=1):
        team = session.get(ChallengeTeamRow, team_id)
        standings.append(
            Standing(
                rank=rank,
                team=team.name if team else team_id,
                score=value,
                submission_id=sub.id,
                submissions=counts[team_id],
                at=utc(sub.created_at),
                lineage={"model": sub.model, **(sub.lineage or {})} if poster else {},
            )
        )
    return Board(
        challenge_id=row.id,
        board="private" if private else "public",
        metric=need.metric,
        higher_is_better=metric.higher_is_better,
        standings=standings,
    )
