"""The steps the schema migrations are written in: a migration lists its steps once, and that one
list gives both its `upgrade` (the steps in order) and its `downgrade` (each step undone, in the
reverse order), so that a downgrade cannot drift from its upgrade.

A running center has applied the migrations already: a step issues the operations Alembic's
generated code did, in the same batches and the same order (on SQLite a batch that drops a
column rebuilds the table, so what shares a batch is part of what a migration does); where a
revision once wrote them otherwise (0026 dropped its tables with their indexes, 0024, 0026 and
0031 made indexes outside a batch) the schema after each step, up and down, is the same on both
databases. tests/store/test_migrations.py checks the schema they build.

A step's columns and constraints are SQLAlchemy objects that its `upgrade` attaches to a table:
Alembic loads a migration's module afresh for each command, so each upgrade gets new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from alembic import op
from sqlalchemy.schema import SchemaItem

from aicc.store.tables.base import UTCDateTime

AT = UTCDateTime(timezone=True)
"""The type of every timestamp column: timezone-aware, stored in UTC."""

ID = sa.String(length=40)
"""The type of a row's `id` and of the columns that refer to one (ids are 40 characters at most)."""

SERIAL = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""The type of an autoincrementing `id` (SQLite autoincrements only an INTEGER primary key)."""


@dataclass(frozen=True)
class Index:
    """An index by its name, made by `ix`."""

    name: str
    columns: Sequence[str]
    unique: bool = False


def ix(name: str, *columns: str, unique: bool = False) -> Index:
    """An index of a table or of the columns a step adds to one; where a step takes indexes, a
    column's name alone stands for the index of that one column named as SQLAlchemy names it
    (`ix_<table>_<column>`, as `index=True` in `store/tables/` does)."""
    return Index(name, columns, unique)


def _indexes(table: str, indexes: Sequence[Index | str]) -> tuple[Index, ...]:
    return tuple(ix(f"ix_{table}_{i}", i) if isinstance(i, str) else i for i in indexes)


def stamps() -> tuple[sa.Column[Any], sa.Column[Any]]:
    """`created_at` and `updated_at`, which most tables end with."""
    return sa.Column("created_at", AT, nullable=False), sa.Column("updated_at", AT, nullable=False)


def created() -> tuple[sa.Column[Any], sa.Column[Any]]:
    """`created_at` and `created_by` (the user, NULL when the center made it), which the
    billing tables end with."""
    return (
        sa.Column("created_at", AT, nullable=False),
        sa.Column("created_by", ID, nullable=True),
    )


def extends_version() -> tuple[SchemaItem, ...]:
    """The end of a table that adds to a data set version what a model's or a template's version
    has more: when it changed, and its key, the version's, deleted with it."""
    return (
        sa.Column("updated_at", AT, nullable=False),
        sa.ForeignKeyConstraint(["version_id"], ["dataset_versions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("version_id"),
    )


def refs(*pairs: tuple[str, str]) -> list[sa.ForeignKeyConstraint]:
    """Foreign keys without options, `(column, "table.column")` each, in the order given (SQLite's
    CREATE TABLE lists them in the order they are made)."""
    return [sa.ForeignKeyConstraint([column], [target]) for column, target in pairs]


class Step(Protocol):
    def up(self) -> None: ...

    def down(self) -> None: ...


class Table:
    """Create a table, then its indexes in one batch; undone: the indexes, then the table."""

    def __init__(self, name: str, *items: SchemaItem, indexes: Sequence[Index | str] = ()) -> None:
        self.name, self.items, self.indexes = name, items, _indexes(name, indexes)

    def up(self) -> None:
        op.create_table(self.name, *self.items)
        if self.indexes:
            _create_indexes(self.name, self.indexes)

    def down(self) -> None:
        if self.indexes:
            _drop_indexes(self.name, self.indexes)
        op.drop_table(self.name)


class Entity(Table):
    """A table keyed by a 40-character `id`, its first column (the primary key comes first in
    CREATE TABLE wherever it is listed)."""

    def __init__(self, name: str, *items: SchemaItem, indexes: Sequence[Index | str] = ()) -> None:
        key = sa.Column("id", ID, nullable=False)
        super().__init__(name, key, *items, sa.PrimaryKeyConstraint("id"), indexes=indexes)


class Log(Table):
    """A table keyed by an autoincrementing `id`, its first column: logs, samples, records."""

    def __init__(self, name: str, *items: SchemaItem, indexes: Sequence[Index | str] = ()) -> None:
        key = sa.Column("id", SERIAL, nullable=False)
        super().__init__(name, key, *items, sa.PrimaryKeyConstraint("id"), indexes=indexes)


class Named(Entity):
    """An entity its project names: after its `id`, `project_id` and a `name` unique in the
    project, with the project's foreign key and, first of its indexes, that of `project_id`."""

    def __init__(
        self, name: str, *columns: sa.Column[Any], indexes: Sequence[Index | str] = ()
    ) -> None:
        project = sa.Column("project_id", ID, nullable=False)
        named = sa.Column("name", sa.String(length=64), nullable=False)
        scoped = (*refs(("project_id", "projects.id")), sa.UniqueConstraint("project_id", "name"))
        super().__init__(name, project, named, *columns, *scoped, indexes=["project_id", *indexes])


class Indexes:
    """Create indexes of an existing table in one batch; undone: drop them."""

    def __init__(self, table: str, *indexes: Index | str) -> None:
        self.table, self.indexes = table, _indexes(table, indexes)

    def up(self) -> None:
        _create_indexes(self.table, self.indexes)

    def down(self) -> None:
        _drop_indexes(self.table, self.indexes)


class Columns:
    """Add columns to a table, then indexes of them, in one batch; undone in one batch: the
    indexes, then the columns, each in the reverse order."""

    def __init__(
        self, table: str, *columns: sa.Column[Any], indexes: Sequence[Index | str] = ()
    ) -> None:
        self.table, self.columns, self.indexes = table, columns, _indexes(table, indexes)

    def up(self) -> None:
        with op.batch_alter_table(self.table, schema=None) as batch:
            for column in self.columns:
                batch.add_column(column)
            for index in self.indexes:
                batch.create_index(index.name, list(index.columns), unique=index.unique)

    def down(self) -> None:
        with op.batch_alter_table(self.table, schema=None) as batch:
            for index in reversed(self.indexes):
                batch.drop_index(index.name)
            for column in reversed(self.columns):
                batch.drop_column(column.name)


def migration(*steps: Step) -> tuple[Callable[[], None], Callable[[], None]]:
    """A migration's `upgrade` and `downgrade` from its steps."""

    def upgrade() -> None:
        for step in steps:
            step.up()

    def downgrade() -> None:
        for step in reversed(steps):
            step.down()

    return upgrade, downgrade


def _create_indexes(table: str, indexes: Sequence[Index]) -> None:
    with op.batch_alter_table(table, schema=None) as batch:
        for index in indexes:
            batch.create_index(index.name, list(index.columns), unique=index.unique)


def _drop_indexes(table: str, indexes: Sequence[Index]) -> None:
    with op.batch_alter_table(table, schema=None) as batch:
        for index in reversed(indexes):
            batch.drop_index(index.name)
