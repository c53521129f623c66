"""The memory of registering a job's outputs as a model version (issue 35): `POST
/api/v1/models/{name}/versions {"job_id"}` of a job that wrote one MIB-mebibyte file, a third of
it zeros (a checkpoint with empty tensors), the rest random (incompressible, as weights are).

.venv/bin/python benchmarks/model_register.py --mib 512            # streamed (now)
.venv/bin/python benchmarks/model_register.py --mib 512 --before   # each file read whole

A real server in this process (`testing.servers.in_process`, SQLite under a temporary home, loops
on) and a real job of the local executor. Python's allocations are traced (tracemalloc) for the
registration call alone; `--before` runs the code as it was, inlined: every file read whole, then
cut and received whole by `uploads.ingest`. Prints one JSON line: the file's MiB, the peak of
Python memory in MiB and the call's seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import tracemalloc
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

from aicc.services.models import models
from aicc.testing.jobs import submit, wait_state
from aicc.testing.servers import in_process

MiB = 1024 * 1024
WRITE = """
import os
out = open(os.path.join(os.environ["AICC_OUTPUT_DIR"], "weights.bin"), "wb")
for i in range({mib}):
    out.write(os.urandom(1 << 20) if i % 3 else bytes(1 << 20))
"""


def _whole(
    session: Any,
    who: Any,
    store: Any,
    name: str,
    project: str | None,
    files: Iterable[tuple[str, bytes | BinaryIO]],
    *,
    lineage: dict[str, Any] | None = None,
) -> Any:
    """The registration as it was: each file's bytes read whole, then `uploads.ingest`."""
    from aicc.services.data import uploads
    from aicc.services.data.datasets import MODEL

    read = ((p, c if isinstance(c, bytes) else c.read()) for p, c in files)
    return uploads.ingest(
        session, who, store, name, project, read, "registered", lineage=lineage, kind=MODEL
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--before", action="store_true", help="read each file whole, as before")
    args = parser.parse_args()
    if args.before:
        models.ingest = _whole
    with tempfile.TemporaryDirectory() as tmp, in_process(Path(tmp) / "home") as (api, _state):
        job = submit(api, {"command": ["python", "-c", WRITE.format(mib=args.mib)]})
        done = wait_state(api, job["id"], {"succeeded", "failed"}, timeout=600)
        assert done["state"] == "succeeded", done
        tracemalloc.start()
        started = time.monotonic()
        answer = api.post("/api/v1/models/big/versions", json={"job_id": job["id"]})
        took = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert answer.status_code == 201, answer.text
    figures = {"file_mib": args.mib, "peak_mib": round(peak / MiB, 1), "seconds": round(took, 1)}
    print(json.dumps({"code": "before" if args.before else "streamed", **figures}))


if __name__ == "__main__":
    main()
