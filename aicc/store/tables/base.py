"""What every table shares: the declarative base, UTC datetimes on every backend (SQLite
forgets the zone), the column size of money, `table` for the hot paths, and the columns of a
storage level (data sets' and images' alike)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Integer,
    Table,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite forgets the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


def table(row: type[Base]) -> Table:
    """A row class's table, for statements on hot paths that skip the ORM (its identity map and
    unit of work cost more than the query on SQLite)."""
    found: Table = row.__table__  # type: ignore[assignment]
    return found


MONEY = 40  # the length of a decimal string column


class StorageLevel:
    """The columns of a storage level, a row of an append-only table: a project's storage in
    bytes from `at` until its next level, written in the transaction that changes it, for the
    meter's GiB-days. Data sets and images each keep theirs in a table of their own."""

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"))
    bytes: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
