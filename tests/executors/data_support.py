"""What the server hands a node's data cache, for the executors' tests: manifests by version
id, and chunks from a real chunk store (the server's own is `services.data.mounts.StoredData`,
over the database)."""

from __future__ import annotations

from pathlib import Path

from aicc.core.datasets import FileEntry, Manifest, cut
from aicc.executors.base import DataMount
from aicc.store.chunkstore import LocalChunks


class ChunkServer:
    """What the server hands a node's cache: manifests by version id, chunks from its store."""

    def __init__(self, root: Path) -> None:
        self.store = LocalChunks(root)
        self.versions: dict[str, Manifest] = {}
        self.served = 0

    def push(self, version_id: str, files: dict[str, bytes]) -> DataMount:
        """Store a version `NAME-N` of these files; the mount shows it as NAME."""
        entries = []
        for path, data in files.items():
            chunks = cut(data)
            at = 0
            for c in chunks:
                self.store.put(c.digest, data[at : at + c.size])
                at += c.size
            entries.append(FileEntry(path, len(data), tuple(chunks)))
        self.versions[version_id] = Manifest.of(entries)
        return DataMount(version_id.split("-")[0], version_id, version_id)

    def manifest(self, version_id: str) -> Manifest:
        return self.versions[version_id]

    def chunk(self, digest: str) -> bytes:
        self.served += 1
        return self.store.get(digest)
