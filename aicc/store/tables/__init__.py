"""SQL tables (SQLAlchemy 2), one module per bounded context of aicc/services (issue 59): the
context a module is named after owns its tables, alone reads and writes them, and the others go
through its read functions and writers (docs/ARCHITECTURE.md). Code imports a row from its
owner's module, so the import line says whose it is. Rows stay in the store and services; routes
see domain or API models. Every change of schema is an Alembic migration under
`store/migrations/versions/`."""

from __future__ import annotations

# every context's tables, so that the metadata (migrations, foreign keys) holds them all
from aicc.store.tables import (  # noqa: F401
    billing,
    center,
    data,
    federation,
    images,
    jobs,
    leases,
    models,
    needs,
    nodes,
    notify,
    serving,
    telemetry,
    tenancy,
)
from aicc.store.tables.base import Base


def owner_of(row: type[Base] | str) -> str:
    """The context that owns a table (its class or class name): the module it is declared in;
    KeyError for no table of that name."""
    found = row if isinstance(row, type) else rows()[row]
    return found.__module__.rsplit(".", 1)[1]


def rows() -> dict[str, type[Base]]:
    """Every table's row class by name."""
    return {m.class_.__name__: m.class_ for m in Base.registry.mappers}
