"""The schema's Alembic migrations: `env.py`, one file per revision in `versions/`, and `ops.py`,
the steps the revisions are written in (a package so that they can import it)."""
