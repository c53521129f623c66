"""Read-only SQL over a data set version, and the rows added and removed between two versions
of a table file: one SELECT, parsed by DuckDB's own parser, run in `tableviews`' sandbox.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import duckdb

from aicc.core.datasets import Manifest
from aicc.services.common import Invalid
from aicc.services.data import tablefiles, tableviews
from aicc.services.data.views import Column, QueryResult, TableDiff
from aicc.store.chunkstore import ChunkSource

MAX_SQL_CHARS = 100_000


def referenced(sql: str) -> set[str]:
    """The table names a SELECT mentions, from DuckDB's parse tree (it binds nothing)."""
    with duckdb.connect(config={"enable_external_access": False}) as con:
        (text,) = con.execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0]
    tree = json.loads(text)
    if tree.get("error"):
        raise Invalid("{error}", error=tree.get("error_message", "the SQL does not parse"))
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE" and node.get("table_name"):
                names.add(node["table_name"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(tree)
    return names


def check_select(sql: str) -> str:
    """The one SELECT (or WITH ... SELECT) in `sql`; anything else is refused here, by
    DuckDB's own parser."""
    if len(sql) > MAX_SQL_CHARS:
        raise Invalid("sql: at most {most} characters", most=MAX_SQL_CHARS)
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as e:
        raise Invalid("{error}", error=str(e)) from e
    if len(statements) != 1:
        raise Invalid(
            "sql: one SELECT statement, found {count}; run them one at a time",
            count=len(statements),
        )
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise Invalid(
            "sql: only a SELECT (or WITH ... SELECT) over this version's tables runs here; "
            "{kind} statements (COPY, ATTACH, INSTALL, SET, PRAGMA, writes) are refused",
            kind=kind.name,
        )
    return statements[0].query


def query(
    store: ChunkSource,
    manifest: Manifest,
    sql: str,
    *,
    views: Path,
    limits: tableviews.Limits = tableviews.Limits(),
) -> QueryResult:
    """Read-only SQL over a version: each table file is a view (see `tablefiles.table_names`),
    only the files the query names are assembled under `views`, and the first `max_rows` rows
    return."""
    start = time.perf_counter()
    statement = check_select(sql)
    tables = tablefiles.table_names(manifest)
    by_fold = {n.casefold(): n for n in tables}
    wanted = {by_fold[n.casefold()] for n in referenced(statement) if n.casefold() in by_fold}
    if not tables:
        raise Invalid("this version has no table files (CSV, TSV, Parquet, JSON Lines, JSON)")
    with (
        tableviews.assembled(store, manifest, views, {tables[n] for n in wanted}, limits) as root,
        tableviews.sandboxed({n: root / tables[n] for n in wanted}, [root], limits) as con,
        tableviews.guarded(con, limits, [root], tables),
    ):
        rel = con.sql(statement)
        if rel is None:  # check_select lets only a SELECT through, which is a relation
            raise Invalid("sql: only a SELECT runs here")
        columns = [Column(name=n, type=str(t)) for n, t in zip(rel.columns, rel.types, strict=True)]
        table = rel.limit(limits.max_rows + 1).to_arrow_table()
    truncated = table.num_rows > limits.max_rows
    table = table.slice(0, limits.max_rows)
    return QueryResult(
        columns=columns,
        rows=[list(r) for r in tablefiles.table_rows(table)],
        truncated=truncated,
        elapsed_ms=round((time.perf_counter() - start) * 1000, 1),
    )


def diff_tables(
    store: ChunkSource,
    old: Manifest,
    new: Manifest,
    path: str,
    *,
    views: Path,
    limits: tableviews.Limits = tableviews.Limits(),
    sample: int = 10,
) -> TableDiff:
    """Rows added and removed between two versions of one table file, as multisets (EXCEPT
    ALL: a row twice in the new version and once in the old is one row added)."""
    before, after = tablefiles.entry_of(old, path), tablefiles.entry_of(new, path)
    fmt = tablefiles.table_format(path)
    if fmt is None:
        raise Invalid("{path} is not a table file; diff_files tells whether it changed", path=path)
    if before.digest == after.digest:
        return TableDiff(
            path=path,
            rows_added=0,
            rows_removed=0,
            columns=list(tablefiles.preview_columns(store, after, fmt)),
            sample_added=[],
            sample_removed=[],
        )
    with (
        tableviews.assembled(store, old, views, [path], limits) as a,
        tableviews.assembled(store, new, views, [path], limits) as b,
        tableviews.sandboxed({"old": a / path, "new": b / path}, [a, b], limits) as con,
        tableviews.guarded(con, limits, [a, b]),
    ):
        new_rel = con.table("new")
        columns = [
            Column(name=n, type=str(t)) for n, t in zip(new_rel.columns, new_rel.types, strict=True)
        ]
        con.execute("CREATE TEMP TABLE added AS SELECT * FROM new EXCEPT ALL SELECT * FROM old")
        con.execute("CREATE TEMP TABLE removed AS SELECT * FROM old EXCEPT ALL SELECT * FROM new")
        counts = con.execute("SELECT (SELECT count(*) FROM added), (SELECT count(*) FROM removed)")
        added, removed = counts.fetchall()[0]
        sample_added = tablefiles.table_rows(
            con.sql(f"SELECT * FROM added LIMIT {int(sample)}").to_arrow_table()
        )
        sample_removed = tablefiles.table_rows(
            con.sql(f"SELECT * FROM removed LIMIT {int(sample)}").to_arrow_table()
        )
    return TableDiff(
        path=path,
        rows_added=int(added),
        rows_removed=int(removed),
        columns=columns,
        sample_added=[list(r) for r in sample_added],
        sample_removed=[list(r) for r in sample_removed],
    )
