"""jobs.secrets_seen: the sealed values of the secrets each attempt was launched with

A job's logs are masked with these as well as with its secrets' values now: a value replaced
after the job ran is still the one its logs may show.

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-25 04:00:00

Jobs launched before it keep an empty list: what they were given was never recorded, and they
are masked, as before, with their secrets' values now.
"""

from __future__ import annotations

import sqlalchemy as sa

from aicc.store.migrations.ops import Columns, migration

revision = "0028"
down_revision = "0027"

upgrade, downgrade = migration(
    Columns("jobs", sa.Column("secrets_seen", sa.JSON(), nullable=False, server_default="[]"))
)
