"""Look before you use: the first rows of a table file, the first lines of a text file, a
thumbnail of an image or a grid of the images under a folder, read from the first chunks only.
"""

from __future__ import annotations

import base64
import io
from pathlib import PurePosixPath

from PIL import Image

from aicc.core.datasets import FileEntry, Manifest
from aicc.services.common import Invalid, NotFound
from aicc.services.data import tablefacts, tablefiles
from aicc.services.data.views import Column, Preview, Thumb, Thumbnails
from aicc.store.chunkfiles import ChunkFile
from aicc.store.chunkstore import ChunkSource

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"}
MAX_PREVIEW_ROWS = 1000
MAX_IMAGE = 32 << 20


def preview(
    store: ChunkSource, manifest: Manifest, path: str | None = None, limit: int = 50
) -> Preview:
    """The first `limit` rows of a table file, the first lines of a text file, a thumbnail of
    an image or a grid of those under a folder. Without `path`, the first table file (else
    the first text file) of the version."""
    if not 1 <= limit <= MAX_PREVIEW_ROWS:
        raise Invalid("limit: from 1 to {most} rows", most=MAX_PREVIEW_ROWS)
    if path is None:
        path = _default_path(store, manifest)
    entry = manifest.find(path.rstrip("/"))
    if entry is None:
        folder = path.rstrip("/") + "/"
        if any(f.path.startswith(folder) for f in manifest.files):
            grid = thumbnails(store, manifest, folder, limit)
            return Preview(
                path=path,
                format="images",
                columns=[_varchar("path"), _varchar("class"), _varchar("png")],
                rows=[[t.path, t.label, t.data_uri] for t in grid.items],
            )
        raise NotFound("no file {path} in this version", path=path)
    fmt = tablefiles.table_format(entry.path)
    suffix = PurePosixPath(entry.path).suffix.lower()
    records = tablefiles.json_rows(store, entry) if fmt == "json" else None
    if fmt in ("csv", "tsv"):
        table = tablefiles.csv_head(store, entry, fmt, limit)
    elif fmt == "parquet":
        table = tablefiles.parquet_head(store, entry, limit)
    elif fmt == "jsonl":
        table = tablefiles.jsonl_head(store, entry, limit)
    elif records is not None:
        table = tablefacts.rows_table(records[:limit])
    elif suffix in IMAGE_SUFFIXES:
        return Preview(
            path=path,
            format="image",
            columns=[_varchar("png")],
            rows=[[_thumbnail(store, entry, 256)]],
        )
    else:
        lines = tablefiles.text_head(store, entry, limit)
        if lines is None:
            raise Invalid(
                "{path}: no preview for this kind of file; previews show CSV, TSV, Parquet, "
                "JSON Lines and JSON tables, text files and images",
                path=path,
            )
        return Preview(
            path=path, format="text", columns=[_varchar("line")], rows=[[x] for x in lines]
        )
    return Preview(
        path=path,
        format=fmt or "json",
        columns=list(tablefiles.duck_columns(table.schema)),
        rows=[list(r) for r in tablefiles.table_rows(table)],
    )


def _varchar(name: str) -> Column:
    return Column(name=name, type="VARCHAR")


def _default_path(store: ChunkSource, manifest: Manifest) -> str:
    tables = [f.path for f in manifest.files if tablefiles.table_format(f.path)]
    if tables:
        return tables[0]
    for f in manifest.files[:100]:  # a look at the first few, not every file of a large set
        if f.size and tablefiles.text_head(store, f, 1) is not None:
            return f.path
    raise Invalid("this version has no table or text file; name a file or folder to preview")


def _thumbnail(store: ChunkSource, entry: FileEntry, size: int) -> str | None:
    if entry.size > MAX_IMAGE:
        return None
    try:
        with Image.open(io.BufferedReader(ChunkFile(store, entry))) as image:
            image.draft("RGB", (size, size))  # JPEG: decode at a fraction of the size
            small = image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")
            small.thumbnail((size, size))
            out = io.BytesIO()
            small.save(out, "PNG")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def thumbnails(
    store: ChunkSource, manifest: Manifest, folder: str = "", limit: int = 24, size: int = 128
) -> Thumbnails:
    """A grid of the images under `folder` (all of the version when empty): the class of an
    image is its folder's name, as image classification sets lay them out; the grid takes
    images from each class in turn, so every class shows, and counts them all."""
    if not 1 <= limit <= MAX_PREVIEW_ROWS:
        raise Invalid("limit: from 1 to {most} images", most=MAX_PREVIEW_ROWS)
    prefix = folder.strip("/") + "/" if folder.strip("/") else ""
    images = [
        f
        for f in manifest.files
        if f.path.startswith(prefix) and PurePosixPath(f.path).suffix.lower() in IMAGE_SUFFIXES
    ]
    if not images:
        raise NotFound("no images under {folder} in this version", folder=folder or "/")
    by_class: dict[str, list[FileEntry]] = {}
    for f in images:
        by_class.setdefault(PurePosixPath(f.path).parent.name, []).append(f)
    picked: list[FileEntry] = []
    for turn in range(max(len(v) for v in by_class.values())):
        picked += [v[turn] for v in by_class.values() if turn < len(v)]
        if len(picked) >= limit:
            break
    items = tuple(
        Thumb(
            path=f.path,
            label=PurePosixPath(f.path).parent.name,
            data_uri=_thumbnail(store, f, size),
        )
        for f in picked[:limit]
    )
    return Thumbnails(
        folder=folder,
        images=len(images),
        classes={k: len(v) for k, v in by_class.items()},
        items=list(items),
    )
