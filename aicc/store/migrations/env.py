"""Alembic environment: migrations run from `store.db.migrate()` and from the alembic CLI alike."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from aicc.store.tables.base import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "set sqlalchemy.url"
engine = create_engine(url)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
