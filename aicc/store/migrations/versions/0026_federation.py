"""federation: peers' adverts, jobs routed to peers, settlements, data set regions

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-25 04:00:00

`jobs.federation` is NULL for every existing job: each ran, or waits to run, here.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from aicc.store.migrations.ops import AT, ID, Columns, Log, Table, migration, refs, stamps

revision = "0026"
down_revision = "0025"


def attempt_at_a_site() -> list[sa.Column[Any]]:
    """A job's attempt routed to a peer site, which a federation job and a settlement are of."""
    return [
        sa.Column("job_id", ID, nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=40), nullable=False),
    ]


upgrade, downgrade = migration(
    Table(
        "federation_adverts",
        sa.Column("site", sa.String(length=40), nullable=False),
        sa.Column("advert", sa.JSON(), nullable=False),
        sa.Column("received_at", AT, nullable=False),
        sa.PrimaryKeyConstraint("site"),
    ),
    Log(
        "federation_jobs",
        *attempt_at_a_site(),
        sa.Column("remote_job_id", ID, nullable=True),
        sa.Column("remote_state", sa.String(length=16), nullable=True),
        sa.Column("routing", sa.JSON(), nullable=False),
        *stamps(),
        sa.Column("started_at", AT, nullable=True),
        sa.Column("ended_at", AT, nullable=True),
        *refs(("job_id", "jobs.id")),
        sa.UniqueConstraint("job_id", "attempt"),
        indexes=["job_id"],
    ),
    Log(
        "settlements",
        *attempt_at_a_site(),
        sa.Column("remote_job_id", ID, nullable=False),
        sa.Column("amount", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", AT, nullable=False),
        sa.Column("settled_at", AT, nullable=True),
        sa.UniqueConstraint("job_id", "attempt"),
        indexes=["job_id", "site"],
    ),
    Columns(
        "jobs",
        sa.Column("federation", sa.String(length=40), nullable=True),
        indexes=["federation"],
    ),
    Columns("datasets", sa.Column("region", sa.String(length=16), nullable=True)),
)
