"""jobs.change: each job row stamped by its last write (issue 38.3), so that the scheduling loop
reads only the rows written since its last pass instead of every waiting job (indexed).

On SQLite the stamp is the count of job writes that write made: migration 0035's triggers are
replaced by ones that also stamp the row they count (`WHERE change > :last`; an AFTER trigger's
own UPDATE of `jobs` fires no trigger: SQLite's `recursive_triggers` is off, as `store/db.py`
leaves it). A delete moves the count and stamps nothing.

On PostgreSQL a BEFORE trigger stamps the row with the id of the transaction writing it
(`pg_current_xact_id()`), which takes no lock of its own: a pass reads the rows whose
transaction its last pass's `pg_current_snapshot()` did not see (`pg_visible_in_snapshot`;
those at or above the snapshot's xmin, by the index). A counter row bumped by every job write
would serialise them, and deadlock a bind against a cancel (migration 0035).

Revision ID: 0037
Revises: 0036
Create Date: 2026-11-26 18:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0037"
down_revision = "0036"

_COUNT = "UPDATE job_changes SET seq = seq + 1 WHERE name = 'jobs'; "
_STAMP = (
    "UPDATE jobs SET change = (SELECT seq FROM job_changes WHERE name = 'jobs') WHERE id = NEW.id; "
)
# The names `services.jobs.snapshots.changes` checks for (those of migration 0035).
STAMPING = {
    "job_changes_insert": ("AFTER INSERT", _COUNT + _STAMP),
    "job_changes_update": ("AFTER UPDATE", _COUNT + _STAMP),
    "job_changes_delete": ("AFTER DELETE", _COUNT),
}


# The trigger's name `services.jobs.snapshots.mark` checks for on PostgreSQL.
PG_TRIGGER = "jobs_change_xact"
_PG_FUNCTION = (
    "CREATE FUNCTION jobs_change_xact() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN NEW.change := pg_current_xact_id()::text::bigint; RETURN NEW; END $$"
)


def upgrade() -> None:
    column = sa.Column("change", sa.BigInteger(), nullable=False, server_default="0")
    op.add_column("jobs", column)
    op.create_index("ix_jobs_change", "jobs", ["change"])
    if op.get_bind().dialect.name == "sqlite":
        _triggers(STAMPING)
        return
    op.execute(_PG_FUNCTION)
    op.execute(
        f"CREATE TRIGGER {PG_TRIGGER} BEFORE INSERT OR UPDATE ON jobs "
        "FOR EACH ROW EXECUTE FUNCTION jobs_change_xact()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _triggers({name: (when, _COUNT) for name, (when, _body) in STAMPING.items()})
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {PG_TRIGGER} ON jobs")
        op.execute("DROP FUNCTION IF EXISTS jobs_change_xact()")
    op.drop_index("ix_jobs_change", table_name="jobs")
    op.drop_column("jobs", "change")


def _triggers(bodies: dict[str, tuple[str, str]]) -> None:
    for name, (when, body) in bodies.items():
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(f"CREATE TRIGGER {name} {when} ON jobs BEGIN {body}END")
