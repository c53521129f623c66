"""The migrations build the schema `aicc/store/tables/` declares, on SQLite and PostgreSQL, and
take it down and up again to the same schema: a running center has already applied them, so
what they do must not drift when they are tidied, and a new one must match the row classes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Column, Connection, Engine, create_engine, inspect

from aicc.store.db import MIGRATIONS
from aicc.store.tables.base import Base

# What `upgrade head` leaves that the row classes do not declare, each on purpose:
KNOWN = {
    # 0029 made gateway_load's two numbers sa.Float(), the row class says Double: PostgreSQL makes
    # both `double precision`; SQLite stores both as REAL and only the declared name differs.
    ("sqlite", "modify_type", "gateway_load", "second"),
    ("sqlite", "modify_type", "gateway_load", "concurrency"),
    # A column added to a table that may have rows got a server default to fill them; these row
    # classes set the value in Python and declare no server default (others declare theirs).
    *(
        (dialect, "modify_default", table, column)
        for dialect in ("sqlite", "postgresql")
        for table, column in (
            ("jobs", "borrowed"),
            ("jobs", "preempted_by"),
            ("devices", "mig"),
            ("datasets", "kind"),
            ("deployments", "failures"),
            ("deployment_replicas", "probe_failures"),
            ("usage_records", "requests"),
            ("usage_records", "prompt_tokens"),
            ("usage_records", "completion_tokens"),
            ("model_versions", "notes"),
        )
    ),
}


@pytest.fixture
def url(db_url: str | None, tmp_path: Path) -> str:
    return db_url or f"sqlite:///{tmp_path / 'aicc.db'}"


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    engine = create_engine(url)
    yield engine
    engine.dispose()


def alembic(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def has_default_differently(
    context: MigrationContext,
    inspected: Column[Any],
    declared: Column[Any],
    inspected_default: str | None,
    declared_default: Any,
    rendered_default: str | None,
) -> bool:
    """Whether one side has a server default and the other none (Alembic's own comparison of
    the two texts runs `'[]'::json = '[]'` on PostgreSQL, which has no such operator)."""
    return (inspected_default is None) != (declared_default is None)


def differences(engine: Engine) -> set[tuple[str, ...]]:
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"compare_type": True, "compare_server_default": has_default_differently},
        )
        diffs = compare_metadata(context, Base.metadata)
    found: set[tuple[str, ...]] = set()
    for diff in diffs:
        for change in diff if isinstance(diff, list) else [diff]:
            if change[0].startswith("modify_"):
                found.add((engine.dialect.name, change[0], change[2], change[3]))
            else:
                found.add((engine.dialect.name, change[0], repr(change[1])))
    return found


def schema(connection: Connection) -> dict[str, Any]:
    """Every table's columns (type, nullable, default), keys, indexes and constraints (not
    SQLite's CREATE TABLE text: a table Alembic rebuilt lists its constraints in any order)."""
    found: dict[str, Any] = {}
    inspector = inspect(connection)
    for table in inspector.get_table_names():
        found[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c["default"])
                for c in inspector.get_columns(table)
            ],
            "primary key": inspector.get_pk_constraint(table),
            "foreign keys": sorted(map(repr, inspector.get_foreign_keys(table))),
            "indexes": sorted(map(repr, inspector.get_indexes(table))),
            "unique": sorted(map(repr, inspector.get_unique_constraints(table))),
            "checks": sorted(map(repr, inspector.get_check_constraints(table))),
        }
    return found


def test_upgrade_head_builds_the_schema_the_row_classes_declare(url: str, engine: Engine) -> None:
    command.upgrade(alembic(url), "head")
    dialect = engine.dialect.name
    assert differences(engine) == {known for known in KNOWN if known[0] == dialect}


def test_downgrade_base_then_upgrade_head_gives_the_same_schema(url: str, engine: Engine) -> None:
    config = alembic(url)
    command.upgrade(config, "head")
    with engine.connect() as connection:
        first = schema(connection)
    command.downgrade(config, "base")
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {"alembic_version"}
    command.upgrade(config, "head")
    with engine.connect() as connection:
        assert schema(connection) == first
