"""What a pod's `data` init container runs (`python -m aicc.executors.kubernetes.fetch`): the
job's data sets, fetched through the AICC API with the attempt's data grant, laid out read-only
in the pod's data volume, which the job's container mounts at `$AICC_DATA_DIR`.

Chunks come through the node's data cache (a hostPath, `executors/datacache.py`): a second pod
of the same data on the node fetches none of them again. Without a node cache the chunks are
kept in the pod's volume only while the view is built. The job's own container never sees the
cache, so a tenant's job reads its own data sets and no other tenant's chunks.

Settings come from the environment the manifest sets (manifests.py): AICC_API_URL, AICC_JOB_ID,
AICC_DATA_GRANT, AICC_DATA_VOLUME, AICC_DATA_CACHE (empty: none), AICC_DATA_CACHE_GIB.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from aicc.core.datasets import Manifest
from aicc.executors.base import DataMount
from aicc.executors.datacache import Counters, DataCache, DataError

VIEW = "view"  # the volume's directory the job sees (manifests.DATA_VIEW)
SCRATCH = ".chunks"  # the chunks of a pod without a node cache, while it builds its view
RETRIED = {429, 500, 502, 503, 504}


class ApiDatasets:
    """`executors.base.Datasets` over the API routes of what one job mounts. A network that
    drops or a server that restarts is retried (`tries`, backing off); a 404 is a KeyError."""

    def __init__(
        self,
        client: httpx.Client,
        job_id: str,
        *,
        tries: int = 6,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.job_id = job_id
        self.tries = tries
        self.sleep = sleep
        self._names: dict[str, str] = {}  # version id -> mount name

    def mounts(self) -> list[DataMount]:
        found = self._get(f"/api/v1/jobs/{self.job_id}/data").json()
        out = [DataMount(m["name"], m["version_id"], m["ref"], m["bytes"]) for m in found]
        self._names = {m.version_id: m.name for m in out}
        return out

    def manifest(self, version_id: str) -> Manifest:
        name = self._names[version_id]
        return Manifest.from_json(self._get(f"/api/v1/jobs/{self.job_id}/data/{name}").json())

    def chunk(self, digest: str) -> bytes:
        return self._get(f"/api/v1/jobs/{self.job_id}/chunks/{digest}").content

    def _get(self, path: str) -> httpx.Response:
        delay = 0.5
        for attempt in range(1, self.tries + 1):
            last = attempt == self.tries
            try:
                answer = self.client.get(path)
            except httpx.TransportError as err:
                if last:
                    raise DataError(f"the AICC API did not answer: {err}") from None
            else:
                if answer.status_code == 404:
                    raise KeyError(_detail(answer))
                if answer.is_success:
                    return answer
                if answer.status_code not in RETRIED or last:
                    code = answer.status_code
                    raise DataError(f"the AICC API answered {code}: {_detail(answer)}")
            self.sleep(delay)
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")


def _detail(answer: httpx.Response) -> str:
    try:
        return str(answer.json().get("detail"))
    except ValueError:
        return answer.text[:200]


def fetch(source: ApiDatasets, volume: Path, *, cache: Path | None, cache_gib: float) -> Counters:
    """Lay the job's data sets out in `volume/view`, read-only. DataError says what failed."""
    try:
        wanted = source.mounts()
    except KeyError as err:
        raise DataError(f"the job's data sets cannot be read: {err.args[0]}") from None
    root = cache or volume / SCRATCH
    data = DataCache(root, int(cache_gib * 2**30), source)
    try:
        data.mount(wanted, volume / VIEW)
    finally:
        if cache is None:  # the view's hard links keep the files' bytes
            shutil.rmtree(root, ignore_errors=True)
    return data.counters


def main() -> int:
    env = os.environ
    volume = Path(env.get("AICC_DATA_VOLUME", "/aicc/data-volume"))
    cache = Path(env["AICC_DATA_CACHE"]) if env.get("AICC_DATA_CACHE") else None
    headers = {"Authorization": f"Bearer {env['AICC_DATA_GRANT']}"}
    started = time.monotonic()
    with httpx.Client(base_url=env["AICC_API_URL"], headers=headers, timeout=60.0) as client:
        source = ApiDatasets(client, env["AICC_JOB_ID"])
        try:
            done = fetch(
                source, volume, cache=cache, cache_gib=float(env.get("AICC_DATA_CACHE_GIB", 100))
            )
        except DataError as err:
            print(f"data sets not mounted: {err}", file=sys.stderr)
            return 1
    print(
        f"data sets mounted in {time.monotonic() - started:.1f} s: {done.files_assembled} "
        f"file(s) assembled, {done.files_reused} from the node's cache; {done.chunks_fetched} "
        f"chunk(s) fetched ({done.bytes_fetched} bytes), {done.chunks_cached} from the cache"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
