"""Looking at a data set version on the server: preview, thumbnails, profile, query, diff."""

from __future__ import annotations

import base64
import fcntl
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from aicc.core.datasets import FileEntry, Manifest, cut
from aicc.services.common import Invalid, NotFound, TooLarge
from aicc.services.data import previews, profiles, queries, tablefiles
from aicc.services.data.tableviews import Limits
from aicc.store.chunkstore import LocalChunks


class CountingChunks(LocalChunks):
    """The local store, counting the chunks read from it."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gets = 0

    def get(self, digest: str) -> bytes:
        self.gets += 1
        return super().get(digest)


@pytest.fixture
def store(tmp_path: Path) -> CountingChunks:
    return CountingChunks(tmp_path / "chunks")


@pytest.fixture
def views(tmp_path: Path) -> Path:
    return tmp_path / "views"


def push(store: LocalChunks, files: dict[str, bytes]) -> Manifest:
    entries = []
    for path, data in files.items():
        chunks = cut(data)
        offset = 0
        for c in chunks:
            store.put(c.digest, data[offset : offset + c.size])
            offset += c.size
        entries.append(FileEntry(path, len(data), tuple(chunks)))
    return Manifest.of(entries)


def parquet(table: pa.Table, **options: object) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out, **options)
    return out.getvalue()


def png(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), color).save(out, "PNG")
    return out.getvalue()


CITIES = ("paris", "oslo", "rome")
CSV = b"id,city,temp\n" + b"".join(
    b"%d,%s,%d\n" % (i, CITIES[i % 3].encode(), i % 10) for i in range(3000)
)


@pytest.fixture
def version(store: CountingChunks) -> Manifest:
    return push(
        store,
        {
            "train.csv": CSV,
            "eval/test.tsv": b"a\tb\n1\tx\n2\ty\n",
            "scores.parquet": parquet(pa.table({"k": [1, 2, 3], "v": [0.5, None, 2.5]})),
            "events.jsonl": b'{"user": "ann", "n": 1}\n\n{"user": "bob", "n": 2}\n',
            "rows.json": json.dumps([{"a": 1}, {"a": 2}]).encode(),
            "README.md": b"# Weather\nthree cities\n",
            "broken.parquet": b"not a parquet file at all",
            "blob.bin": bytes(range(256)) * 4,
        },
    )


# --- preview ---


def test_preview_shows_the_first_rows_and_their_types(
    store: CountingChunks, version: Manifest
) -> None:
    p = previews.preview(store, version, "train.csv", limit=3)
    assert p.format == "csv"
    assert [(c.name, c.type) for c in p.columns] == [
        ("id", "BIGINT"),
        ("city", "VARCHAR"),
        ("temp", "BIGINT"),
    ]
    assert p.rows == [[0, "paris", 0], [1, "oslo", 1], [2, "rome", 2]]
    tsv = previews.preview(store, version, "eval/test.tsv")
    assert tsv.rows == [[1, "x"], [2, "y"]]
    pq_ = previews.preview(store, version, "scores.parquet")
    assert [c.type for c in pq_.columns] == ["BIGINT", "DOUBLE"]
    assert pq_.rows == [[1, 0.5], [2, None], [3, 2.5]]
    jl = previews.preview(store, version, "events.jsonl")
    assert jl.rows == [["ann", 1], ["bob", 2]]
    assert previews.preview(store, version, "rows.json").rows == [[1], [2]]
    empty = previews.preview(store, push(store, {"n.jsonl": b'{"a": null}\n'}), "n.jsonl")
    assert [(c.name, c.type) for c in empty.columns] == [("a", "NULL")]
    text = previews.preview(store, version, "README.md")
    assert (text.format, text.rows) == ("text", [["# Weather"], ["three cities"]])
    # without a path: the version's first table file, else its first text file
    assert previews.preview(store, push(store, {"a.txt": b"hi", "b.csv": b"x\n1\n"})).rows == [[1]]
    assert previews.preview(store, push(store, {"a.bin": b"\0", "b.txt": b"hi"})).rows == [["hi"]]


def test_preview_reads_only_the_first_chunks_of_a_large_file(store: CountingChunks) -> None:
    rows = b"".join(b"%d,%d,some text to fill the line\n" % (i, i * i) for i in range(600_000))
    big = push(store, {"big.csv": b"n,square,note\n" + rows})
    entry = big.find("big.csv")
    assert entry is not None and len(entry.chunks) > 15
    store.gets = 0
    p = previews.preview(store, big, "big.csv", limit=5)
    assert p.rows[4] == [4, 16, "some text to fill the line"]
    assert store.gets <= 3


def test_preview_refuses_what_it_cannot_show_and_names_the_file(
    store: CountingChunks, version: Manifest
) -> None:
    with pytest.raises(Invalid, match=r"broken\.parquet cannot be read as Parquet") as bad:
        previews.preview(store, version, "broken.parquet")
    assert bad.value.status == 422
    with pytest.raises(Invalid, match="no preview for this kind of file"):
        previews.preview(store, version, "blob.bin")
    with pytest.raises(NotFound):
        previews.preview(store, version, "nope.csv")
    with pytest.raises(Invalid, match="limit"):
        previews.preview(store, version, "train.csv", limit=0)


def test_an_image_folder_previews_as_a_grid_with_every_class(store: CountingChunks) -> None:
    files = {f"images/cat/{i}.png": png("orange") for i in range(5)}
    files |= {f"images/dog/{i}.png": png("brown") for i in range(2)}
    files["images/dog/broken.png"] = b"not an image"
    manifest = push(store, files)
    grid = previews.thumbnails(store, manifest, "images", limit=4)
    assert grid.images == 8
    assert grid.classes == {"cat": 5, "dog": 3}
    assert [t.label for t in grid.items] == ["cat", "dog", "cat", "dog"]  # taken in turn
    grid = previews.thumbnails(store, manifest, "images", limit=6)
    first = grid.items[0].data_uri
    assert first is not None and first.startswith("data:image/png;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(first.split(",", 1)[1])))
    assert max(thumb.size) == 128
    assert grid.items[5].path == "images/dog/broken.png" and grid.items[5].data_uri is None
    folder = previews.preview(store, manifest, "images/", limit=2)
    assert folder.format == "images" and [r[1] for r in folder.rows] == ["cat", "dog"]
    with pytest.raises(NotFound):
        previews.thumbnails(store, manifest, "texts")


# --- query ---


def test_query_reads_the_version_tables_by_name(
    store: CountingChunks, version: Manifest, views: Path
) -> None:
    r = queries.query(
        store,
        version,
        "SELECT city, count(*) AS n, avg(temp) AS t FROM train GROUP BY city ORDER BY city",
        views=views,
    )
    assert [(c.name, c.type) for c in r.columns] == [
        ("city", "VARCHAR"),
        ("n", "BIGINT"),
        ("t", "DOUBLE"),
    ]
    temps = {c: [i % 10 for i in range(3000) if i % 3 == k] for k, c in enumerate(CITIES)}
    assert r.rows == [[c, 1000, sum(temps[c]) / 1000] for c in sorted(CITIES)]
    assert not r.truncated and r.elapsed_ms > 0
    # by full path too, and joins across files
    joined = queries.query(
        store,
        version,
        'WITH s AS (SELECT * FROM scores) SELECT count(*) FROM "train.csv" JOIN s ON id = k',
        views=views,
    )
    assert joined.rows == [[3]]
    tsv = queries.query(store, version, 'SELECT sum(a) FROM "eval/test.tsv"', views=views)
    assert tsv.rows == [[3]]
    # only the files named are assembled on the server
    assembled = {p.name for p in (views / version.digest).rglob("*") if p.is_file()}
    assert assembled == {"train.csv", "scores.parquet", "test.tsv"}


def test_query_returns_at_most_max_rows(
    store: CountingChunks, version: Manifest, views: Path
) -> None:
    r = queries.query(
        store,
        version,
        "SELECT id FROM train ORDER BY id DESC",
        views=views,
        limits=Limits(max_rows=4),
    )
    assert r.rows == [[2999], [2998], [2997], [2996]]
    assert r.truncated


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("SELECT * FROM read_csv('/etc/passwd')", "reads only this version's tables"),
        ("SELECT * FROM read_text('README.md')", "reads only this version's tables"),
        ("SELECT * FROM glob('/*')", "reads only this version's tables"),
        ("COPY train TO '/tmp/stolen.csv'", "COPY statements"),
        ("ATTACH '/tmp/x.db'", "ATTACH statements"),
        ("INSTALL httpfs", "only a SELECT"),
        ("LOAD httpfs", "only a SELECT"),
        ("SET threads = 64", "SET statements"),
        ("PRAGMA version", "PRAGMA statements"),
        ("CREATE TABLE t AS SELECT 1", "CREATE statements"),
        ("SELECT 1; DROP VIEW train", "one SELECT statement, found 2"),
        ("SELEC 1", "syntax error"),
        ("SELECT * FROM nope", "this version's tables: broken, broken.parquet"),
        ("SELECT * FROM broken", "broken.parquet cannot be read as parquet"),
    ],
)
def test_query_refuses_anything_but_reading_the_version(
    store: CountingChunks, version: Manifest, views: Path, sql: str, said: str
) -> None:
    with pytest.raises(Invalid, match=re.escape(said)) as refused:
        queries.query(store, version, sql, views=views)
    assert refused.value.status == 422
    assert str(views) not in refused.value.detail  # the server's folders stay hidden


def test_a_heavy_query_stops_at_its_time_limit(
    store: CountingChunks, version: Manifest, views: Path
) -> None:
    with pytest.raises(Invalid, match=r"ran past its 0\.5 s limit"):
        queries.query(
            store,
            version,
            "SELECT count(*) FROM range(100000000000) a",
            views=views,
            limits=Limits(timeout_s=0.5),
        )


def test_a_query_over_its_memory_limit_says_so(
    store: CountingChunks, version: Manifest, views: Path
) -> None:
    with pytest.raises(Invalid, match="more than its 32 MiB"):
        queries.query(
            store,
            version,
            "SELECT list(range) FROM range(50000000)",
            views=views,
            limits=Limits(memory_mib=32),
        )


# --- profile ---


def test_profile_counts_nulls_values_and_bins(store: CountingChunks, views: Path) -> None:
    data = b"x,label,when\n" + b"".join(
        b"%s,%s,2024-01-%02d\n"
        % (b"" if i % 10 == 0 else b"%d" % i, b"ab"[i % 4 == 0 :][:1], 1 + i % 28)
        for i in range(1000)
    )
    manifest = push(store, {"d.csv": data})
    p = profiles.profile(store, manifest, "d.csv", views=views)
    assert p.rows == 1000
    x, label, when = p.columns
    assert (x.name, x.type, x.nulls, x.min, x.max) == ("x", "BIGINT", 100, 1, 999)
    assert 850 <= x.distinct <= 950  # approximate
    assert len(x.histogram) == 20
    assert sum(b.count for b in x.histogram) == 900
    assert x.histogram[0].lo == 1 and x.histogram[-1].hi == pytest.approx(999)
    assert x.top == []
    assert label.type == "VARCHAR" and label.histogram == []
    assert [(t.value, t.count) for t in label.top] == [("a", 750), ("b", 250)]
    assert when.type == "DATE" and (when.min, when.max) == ("2024-01-01", "2024-01-28")


def test_short_integer_ranges_get_one_bin_per_value(
    store: CountingChunks, version: Manifest, views: Path
) -> None:
    temp = profiles.profile(store, version, "train.csv", views=views).columns[2]
    assert [(b.lo, b.count) for b in temp.histogram] == [(float(i), 300) for i in range(10)]
    one = profiles.profile(store, version, "scores.parquet", views=views).columns[1]
    assert (one.nulls, one.min, one.max) == (1, 0.5, 2.5)
    with pytest.raises(Invalid, match="not a table file"):
        profiles.profile(store, version, "README.md", views=views)


# --- diff ---


def test_diff_tables_counts_rows_added_and_removed(store: CountingChunks, views: Path) -> None:
    old = push(store, {"t.csv": b"a,b\n1,x\n2,y\n2,y\n3,z\n"})
    new = push(store, {"t.csv": b"a,b\n1,x\n2,y\n3,z\n4,w\n5,v\n"})
    d = queries.diff_tables(store, old, new, "t.csv", views=views)
    assert (d.rows_added, d.rows_removed) == (2, 1)
    assert sorted(d.sample_added) == [[4, "w"], [5, "v"]]
    assert d.sample_removed == [[2, "y"]]
    same = queries.diff_tables(store, new, new, "t.csv", views=views)
    assert (same.rows_added, same.rows_removed) == (0, 0)
    assert [c.name for c in same.columns] == ["a", "b"]


# --- describe ---


def schema(tables: dict[str, Any]) -> dict[str, tuple[list[tuple[str, str]], int]]:
    """Each table's (name, type) of its columns and its rows, without the columns' facts."""
    return {
        path: ([(c["name"], c["type"]) for c in t["columns"]], t["rows"])
        for path, t in tables.items()
    }


def test_describe_reads_the_tables_a_template_run_reads(store: CountingChunks) -> None:
    """GBK, UTF-8 with a BOM, `;` and `|` between cells, a JSON array whose rows differ in
    their keys and values, JSON lines in a .json file: the columns the run reads (issue 37),
    each with the facts the fit check needs."""
    files = {
        "gbk.csv": "城市,温度\n北京,1.5\n上海,3.0\n北京,2.0\n".encode("gbk"),
        "bom.csv": "\ufeffdate;value\n2010/01/01 00:00;1\n2010/01/02 00:00;2\n".encode(),
        "pipes.csv": b"a|b\n1|x\n3|y\n",
        "array.json": json.dumps([{"a": 1}, {"a": "x", "b": 2.5}]).encode(),
        "lines.json": b'{"a": 1}\n{"a": 2, "b": 3}\n',
        "mixed.jsonl": b'{"a": 1}\n{"a": "x"}\n',
    }
    tables = tablefiles.describe_tables(store, push(store, files))
    assert schema(tables) == {
        "gbk.csv": ([("城市", "VARCHAR"), ("温度", "DOUBLE")], 3),
        "bom.csv": ([("date", "VARCHAR"), ("value", "BIGINT")], 2),
        "pipes.csv": ([("a", "BIGINT"), ("b", "VARCHAR")], 2),
        "array.json": ([("a", "VARCHAR"), ("b", "DOUBLE")], 2),
        "lines.json": ([("a", "BIGINT"), ("b", "BIGINT")], 2),
        "mixed.jsonl": ([("a", "VARCHAR")], 2),
    }
    city = tables["gbk.csv"]["columns"][0]
    assert (city["distinct"], city["nulls"], sorted(city["top"])) == (
        2,
        0,
        [["上海", 1], ["北京", 2]],
    )
    assert tables["gbk.csv"]["sampled"] == 3
    b = tables["array.json"]["columns"][1]
    assert (b["nulls"], b["min"], b["max"], b["whole"]) == (1, 2.5, 2.5, False)


def test_a_gbk_table_is_profiled_and_queried(store: CountingChunks, views: Path) -> None:
    """DuckDB reads CSVs as UTF-8 only; a GBK one is read as the run reads it."""
    version = push(store, {"gbk.csv": "城市,温度\n北京,1.5\n上海,3.0\n北京,2.0\n".encode("gbk")})
    got = queries.query(
        store, version, "SELECT 城市, sum(温度) FROM gbk GROUP BY 1 ORDER BY 1", views=views
    )
    assert got.rows == [["上海", 3.0], ["北京", 3.5]]
    city = profiles.profile(store, version, "gbk.csv", views=views).columns[0]
    assert (city.distinct, city.top[0].value, city.top[0].count) == (2, "北京", 2)


def test_describe_tables_gives_schema_and_rows_of_each_table_file(
    store: CountingChunks, version: Manifest
) -> None:
    quoted = b'q,n\n"two\nlines",1\nplain,2\n'
    tables = tablefiles.describe_tables(store, push(store, {"q.csv": quoted}))
    assert schema(tables) == {"q.csv": ([("q", "VARCHAR"), ("n", "BIGINT")], 2)}
    tables = tablefiles.describe_tables(store, version)
    assert tables["train.csv"]["rows"] == 3000
    assert schema(tables)["scores.parquet"] == ([("k", "BIGINT"), ("v", "DOUBLE")], 3)
    assert tables["events.jsonl"]["rows"] == 2
    assert tables["rows.json"]["rows"] == 2
    assert schema(tables)["eval/test.tsv"][0][1] == ("b", "VARCHAR")
    assert "broken.parquet" not in tables and "README.md" not in tables


def test_query_values_are_json_ready(store: CountingChunks, version: Manifest, views: Path) -> None:
    r = queries.query(
        store,
        version,
        "SELECT 'nan'::DOUBLE AS f, 1.25::DECIMAL(4, 2) AS d, sum(id) AS s, "
        "TIMESTAMPTZ '2024-01-02 03:04:05+00' AS t, [1, 2] AS l, {'a': 'x'} AS st, "
        "'\\x01'::BLOB AS b FROM train",
        views=views,
    )
    assert r.rows == [
        ["nan", 1.25, 4498500, "2024-01-02T03:04:05+00:00", [1, 2], {"a": "x"}, "\\x01"],
    ]
    json.dumps(r.rows, allow_nan=False)  # what the API sends


def test_another_version_s_assembled_files_stay_out_of_reach(
    store: CountingChunks, version: Manifest, views: Path
) -> None:
    other = push(store, {"secret.csv": b"k\nhidden\n"})
    queries.query(store, other, "SELECT * FROM secret", views=views)
    stolen = views / other.digest / "secret.csv"
    assert stolen.exists()
    with pytest.raises(Invalid, match="reads only this version's tables"):
        queries.query(store, version, f"SELECT * FROM read_csv('{stolen}')", views=views)
    escape = views / version.digest / ".." / other.digest / "secret.csv"
    with pytest.raises(Invalid, match="reads only this version's tables"):
        queries.query(store, version, f"SELECT * FROM read_csv('{escape}')", views=views)


def test_an_image_file_previews_as_one_thumbnail_whatever_its_mode(store: CountingChunks) -> None:
    out = io.BytesIO()
    Image.new("CMYK", (640, 480), (0, 255, 255, 0)).save(out, "JPEG")
    manifest = push(store, {"scan.jpg": out.getvalue()})
    p = previews.preview(store, manifest, "scan.jpg")
    assert p.format == "image"
    (uri,) = p.rows[0]
    assert uri is not None
    thumb = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert (thumb.format, thumb.size) == ("PNG", (256, 192))


def test_file_names_with_glob_characters_are_read_as_named(
    store: CountingChunks, views: Path
) -> None:
    manifest = push(
        store,
        {"x[1].csv": b"a\n1\n", "x1.csv": b"a\n2\n", "y*.csv": b"a\n3\n", "yy.csv": b"a\n4\n"},
    )
    both = 'SELECT (SELECT sum(a) FROM "x[1].csv"), (SELECT sum(a) FROM "x1.csv")'
    assert queries.query(store, manifest, both, views=views).rows == [[1, 2]]
    both = 'SELECT (SELECT sum(a) FROM "y*.csv"), (SELECT sum(a) FROM "yy.csv")'
    assert queries.query(store, manifest, both, views=views).rows == [[3, 4]]


# --- the views a profile or query assembles: capped, least recently used evicted ---


def _tables(store: CountingChunks, count: int, rows: int) -> list[Manifest]:
    return [
        push(store, {"t.csv": b"x,y\n" + b"".join(b"%d,%d\n" % (i, k) for i in range(rows))})
        for k in range(count)
    ]


def test_a_view_past_its_cap_is_refused_before_a_byte_is_written(
    store: CountingChunks, views: Path
) -> None:
    (big,) = _tables(store, 1, 20_000)  # ~150 KB
    small = Limits(view_bytes=100_000, views_bytes=1_000_000)
    with pytest.raises(
        TooLarge, match=r"t\.csv would assemble 0\.1 MiB .*\(data\.view_max_gib\)"
    ) as no:
        queries.query(store, big, "SELECT count(*) FROM t", views=views, limits=small)
    assert no.value.status == 413
    with pytest.raises(TooLarge, match=r"data\.view_max_gib"):
        profiles.profile(store, big, "t.csv", views=views, limits=small)
    assert store.gets == 0 and not any(views.rglob("*.csv"))
    fits = Limits(view_bytes=200_000, views_bytes=1_000_000)
    assert queries.query(store, big, "SELECT count(*) FROM t", views=views, limits=fits).rows


def test_views_past_the_total_lose_the_least_recently_used(
    store: CountingChunks, views: Path
) -> None:
    versions = _tables(store, 4, 20_000)
    size = versions[0].files[0].size
    limits = Limits(view_bytes=size, views_bytes=2 * size + size // 2)  # room for two views
    for v in versions[:2]:
        queries.query(store, v, "SELECT count(*) FROM t", views=views, limits=limits)
    os.utime(views / versions[0].digest, (1, 1))  # the first was used long ago
    os.utime(views / versions[1].digest, (2, 2))
    profiles.profile(store, versions[0], "t.csv", views=views, limits=limits)  # used again now
    queries.query(store, versions[2], "SELECT count(*) FROM t", views=views, limits=limits)
    kept = {p.name for p in views.iterdir() if not p.name.startswith(".")}
    assert kept == {versions[0].digest, versions[2].digest}  # the second went: least recent
    total = sum(p.stat().st_size for p in views.rglob("*") if p.is_file())
    assert total <= limits.views_bytes
    # A view another worker reads (its shared lock held) stays, however old: the total waits.
    os.utime(views / versions[0].digest, (1, 1))
    reader = os.open(views / f".lock-{versions[0].digest}", os.O_RDWR)
    try:
        fcntl.flock(reader, fcntl.LOCK_SH)
        queries.query(store, versions[3], "SELECT count(*) FROM t", views=views, limits=limits)
        kept = {p.name for p in views.iterdir() if not p.name.startswith(".")}
        assert kept == {versions[0].digest, versions[3].digest}
    finally:
        os.close(reader)
