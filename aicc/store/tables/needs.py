"""The tables of `services/needs`: needs, challenges and offers. Only that context names them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from aicc.store.tables.base import MONEY, Base


class NeedRow(Base):
    """A need an organization posts for providers to answer: the problem, the data it shares,
    the metric, the reward held in escrow from `created_at` until it is awarded or withdrawn
    (`closed_at`), the deadline and the terms. `state`: open | awarded | withdrawn."""

    __tablename__ = "needs"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    problem: Mapped[str] = mapped_column(Text)
    data: Mapped[str | None] = mapped_column(String(300))  # a data set it shares, ORG/PRJ/NAME@N
    metric: Mapped[str] = mapped_column(String(32))
    reward: Mapped[str] = mapped_column(String(MONEY))
    currency: Mapped[str] = mapped_column(String(3))
    deadline: Mapped[datetime]
    terms: Mapped[dict[str, Any]] = mapped_column(default=dict)
    state: Mapped[str] = mapped_column(String(16), index=True)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    # the poster's voucher the reward is held from (its moves); None: money in escrow on the
    # poster's invoice
    voucher_id: Mapped[str | None] = mapped_column(String(40))


class NeedQuestionRow(Base):
    """A provider's question on a need and the poster's public answer."""

    __tablename__ = "need_questions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text, default="")
    answered_by: Mapped[str | None] = mapped_column(String(40))
    answered_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ChallengeRow(Base):
    """A need with a hidden test set: the poster's version and table, its target column, and
    the inputs AICC derived from it (the table without the target) that scoring jobs read."""

    __tablename__ = "challenges"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), unique=True)
    hidden_version_id: Mapped[str] = mapped_column(String(40))
    hidden_table: Mapped[str] = mapped_column(String(1024))
    target: Mapped[str] = mapped_column(String(255))
    rows: Mapped[int] = mapped_column(Integer)
    inputs: Mapped[str] = mapped_column(String(300))  # ORG/PRJ/NAME@N in the center's project
    public_pct: Mapped[int] = mapped_column(Integer)
    per_day: Mapped[int] = mapped_column(Integer)
    max_runtime_s: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    # the poster's voucher that gives each new team `subsidy_per_team` for its training
    subsidy_voucher: Mapped[str | None] = mapped_column(String(40))
    subsidy_per_team: Mapped[str] = mapped_column(String(MONEY), default="0", server_default="0")
    # the secret that draws the public board's rows (core/scoring.py `public_rows`); no view
    # has it. NULL for challenges made before it was kept: their rows are drawn by their id
    split_key: Mapped[str | None] = mapped_column(String(64))


class ChallengeTeamRow(Base):
    """A team that took a challenge: one organization or several (`orgs`, ids)."""

    __tablename__ = "challenge_teams"
    __table_args__ = (UniqueConstraint("challenge_id", "name"),)
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    orgs: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    # the training subsidy its first organization received (a voucher), if the challenge
    # offered one and the poster's voucher had it left
    subsidy_voucher: Mapped[str | None] = mapped_column(String(40))


class ChallengeSubmissionRow(Base):
    """A team's model scored on the hidden set: `scoring` while its job runs, then `scored`
    (both boards' scores) or `failed` (`error`)."""

    __tablename__ = "challenge_submissions"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), index=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("challenge_teams.id"), index=True)
    org_id: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(300))
    model_version_id: Mapped[str] = mapped_column(String(40))
    job_id: Mapped[str | None] = mapped_column(String(40), index=True)
    state: Mapped[str] = mapped_column(String(16))
    public_score: Mapped[float | None]
    private_score: Mapped[float | None]
    error: Mapped[str] = mapped_column(Text, default="")
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]
    scored_at: Mapped[datetime | None]


class ChallengeAwardRow(Base):
    """What the poster awarded a team: credit moved from the need's escrow to the team's
    organizations as vouchers (`vouchers`, ids), once per team; and, where the terms give the
    poster the results, the team's model as the poster received it (`model`)."""

    __tablename__ = "challenge_awards"
    challenge_id: Mapped[str] = mapped_column(ForeignKey("challenges.id"), primary_key=True)
    team_id: Mapped[str] = mapped_column(ForeignKey("challenge_teams.id"), primary_key=True)
    amount: Mapped[str] = mapped_column(String(MONEY))
    vouchers: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    model: Mapped[str | None] = mapped_column(String(300))  # the poster's copy, ORG/PRJ/NAME@N


class NeedOfferRow(Base):
    """A provider's answer to a need without a challenge: its template or deployment at a price
    for the poster (`unit`: per `run` of the template, per `1k_requests` to the deployment).
    `state`: open | accepted | declined | withdrawn | ended. An accepted deployment offer names
    the key (`key_id`) the poster calls it with; an accepted template offer, its grant."""

    __tablename__ = "need_offers"
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    need_id: Mapped[str] = mapped_column(ForeignKey("needs.id"), index=True)
    org_id: Mapped[str] = mapped_column(ForeignKey("orgs.id"), index=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    kind: Mapped[str] = mapped_column(String(16))  # template | deployment
    target_id: Mapped[str] = mapped_column(String(80))  # the template's id, the deployment's
    target: Mapped[str] = mapped_column(String(300))  # as the poster names it
    price: Mapped[str] = mapped_column(String(MONEY))
    unit: Mapped[str] = mapped_column(String(16))  # run | 1k_requests
    currency: Mapped[str] = mapped_column(String(3))
    message: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str | None] = mapped_column(String(40))
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
