"""job_changes: a count of the writes to `jobs`, kept by triggers on SQLite (issue 38.3), so that
the scheduling loop knows in one read that no job was submitted, changed or deleted since its
last pass, by any server process or by itself. The triggers count every INSERT, UPDATE and
DELETE of a job row whatever code wrote it; SQLite's one writer at a time commits them in
order. On PostgreSQL the table stays empty and the loop reads the jobs as before: a counter row
written by every job write would serialise them and deadlock with a bind's row locks.

Revision ID: 0035
Revises: 0034
Create Date: 2026-11-26 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0035"
down_revision = "0034"

# The names `services.jobs.snapshots.changes` checks for: a later migration that rebuilds `jobs`
# on SQLite (a batch operation) drops them, and the loop then reads in full as without them.
TRIGGERS = {
    "job_changes_insert": "AFTER INSERT",
    "job_changes_update": "AFTER UPDATE",
    "job_changes_delete": "AFTER DELETE",
}


def upgrade() -> None:
    op.create_table(
        "job_changes",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute("INSERT INTO job_changes (name, seq) VALUES ('jobs', 0)")
    for name, when in TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER {name} {when} ON jobs "
            "BEGIN UPDATE job_changes SET seq = seq + 1 WHERE name = 'jobs'; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("job_changes")
