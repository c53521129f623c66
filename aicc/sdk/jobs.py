"""`client.jobs`: submit, list, inspect, follow, wait for, cancel and download jobs. Answers are
the jobs context's read models (`services/jobs/views.py`), the classes the server's services
return: `get` is a `Job`, `list` a `list[Job]`, `events` a `list[Event]`."""

from __future__ import annotations

import builtins
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from aicc.core.states import TERMINAL
from aicc.sdk.errors import ApiError
from aicc.sdk.transport import Resource, api_path, given
from aicc.services.jobs.views import Event, Explain, Job, Metrics, Workdir

if TYPE_CHECKING:
    from aicc.core.jobspec import JobSpec
    from aicc.sdk.execs import ExecChannel

#: ``progress(phase, done, total)``: phase "pack" counts raw file bytes, "upload" archive bytes.
Progress = Callable[[str, int, int], None]
_CHUNK = 1024 * 1024
#: Jobs are many: read them in pages of this size when all are wanted.
PAGE = 500


def _chunks(fh: IO[bytes], total: int, progress: Progress | None) -> Iterator[bytes]:
    done = 0
    if progress is not None:
        progress("upload", 0, total)
    while chunk := fh.read(_CHUNK):
        done += len(chunk)
        if progress is not None:
            progress("upload", done, total)
        yield chunk


class Jobs(Resource):
    def exec(
        self,
        job_id: str,
        command: builtins.list[str] | tuple[str, ...] = (),
        *,
        tty: bool = False,
        replica: int = 0,
        cols: int = 80,
        rows: int = 24,
    ) -> ExecChannel:
        """Run `command` (none: an interactive shell) inside the running job's replica, in its
        sandbox; iterate the channel for its output, `exit_code` after (sdk/execs.py)."""
        from aicc.sdk.execs import open_channel

        return open_channel(
            self._t, job_id, command, tty=tty, replica=replica, cols=cols, rows=rows
        )

    def upload_workdir(self, path: Path, progress: Progress | None = None) -> str:
        """Pack `path`, upload it unless the server already has it, and return its sha256."""
        from aicc.sdk.workdir import pack_workdir

        def on_pack(done: int, total: int) -> None:
            if progress is not None:
                progress("pack", done, total)

        packed = pack_workdir(Path(path), progress=on_pack)
        try:
            head = self._t.request("HEAD", api_path("workdirs", packed.sha256), check=False)
            if head.status_code == 200:
                return packed.sha256
            if head.status_code != 404:
                raise ApiError.from_response(head)
            headers = {
                "Content-Type": "application/gzip",
                "Content-Length": str(packed.size),
                "X-Content-SHA256": packed.sha256,
            }
            with packed.path.open("rb") as fh:
                content = _chunks(fh, packed.size, progress)
                answer = self._t.call(
                    "POST", api_path("workdirs"), content=content, headers=headers
                )
        finally:
            packed.path.unlink(missing_ok=True)
        stored = Workdir.model_validate(answer).sha256
        if stored != packed.sha256:
            raise ApiError(500, f"server stored workdir as {stored}, expected {packed.sha256}")
        return packed.sha256

    def submit(
        self,
        spec: Mapping[str, Any] | JobSpec,
        *,
        idempotency_key: str | None = None,
        workdir: Path | None = None,
    ) -> Job:
        """Submit a job; a retried submit (same key) never makes a second job.

        `workdir` (or the spec's `workdir`, relative to the current directory) is uploaded
        first and replaced by its digest.
        """
        if isinstance(spec, Mapping):
            body = dict(spec)
        else:
            body = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        local = workdir if workdir is not None else body.get("workdir")
        body.pop("workdir", None)
        if local is not None:
            body["workdir_sha256"] = self.upload_workdir(Path(local).resolve())
        return self._once(Job, api_path("jobs"), body, idempotency_key)

    def list(
        self, state: str | None = None, project: str | None = None, limit: int | None = 50
    ) -> builtins.list[Job]:
        """Newest first, following `next_cursor` until `limit` jobs (None: all of them)."""
        params = {"state": state, "project": project}
        return self._items(Job, api_path("jobs"), params, limit=limit, page_size=PAGE)

    def __call__(
        self, state: str | None = None, project: str | None = None, limit: int | None = 50
    ) -> builtins.list[Job]:
        """The same as `list`, as `client.jobs(...)` was always spelled."""
        return self.list(state=state, project=project, limit=limit)

    def get(self, job_id: str) -> Job:
        return self._one(Job, "GET", api_path("jobs", job_id))

    def events(self, job_id: str) -> builtins.list[Event]:
        """What happened to the job, oldest first."""
        return self._each(Event, "GET", api_path("jobs", job_id, "events"))

    def explain(self, job_id: str) -> Explain:
        """Why a job waits: reasons, queue position and an estimated start."""
        return self._one(Explain, "GET", api_path("jobs", job_id, "explain"))

    def cancel(self, job_id: str) -> Job:
        return self._one(Job, "POST", api_path("jobs", job_id, "cancel"))

    def resubmit(self, job_id: str, *, idempotency_key: str | None = None) -> Job:
        """Run a job again: its spec, in its project, as a new job."""
        return self._once(Job, api_path("jobs", job_id, "resubmit"), {}, idempotency_key)

    def logs(
        self, job_id: str, replica: int = 0, stream: str = "stdout", tail: int | None = None
    ) -> str:
        params = given(replica=replica, stream=stream, tail=tail)
        return self._t.request("GET", api_path("jobs", job_id, "logs"), params=params).text

    def follow_logs(self, job_id: str, replica: int = 0, stream: str = "stdout") -> Iterator[str]:
        """Text chunks as the job writes them (not split into lines); ends when the job does."""
        params = {"replica": replica, "stream": stream, "follow": "true"}
        path = api_path("jobs", job_id, "logs")
        with self._t.stream(path, params, read_timeout=None) as response:
            yield from response.iter_text()

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 1.0) -> Job:
        """Poll until the job succeeded, failed or was cancelled; TimeoutError after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get(job_id)
            if job.state in TERMINAL:
                return job
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"job {job_id} is still {job.state} after {timeout:g}s")
                time.sleep(min(poll, left))
            else:
                time.sleep(poll)

    def download_outputs(self, job_id: str, dest: Path) -> Path:
        """Fetch the job's `$AICC_OUTPUT_DIR` and unpack it into `dest`, refusing unsafe paths."""
        dest = Path(dest)
        with tempfile.TemporaryFile() as archive:
            path = api_path("jobs", job_id, "outputs")
            with self._t.stream(path, {}, read_timeout=self._t.timeout) as response:
                for chunk in response.iter_bytes(_CHUNK):
                    archive.write(chunk)
            dest.mkdir(parents=True, exist_ok=True)
            if archive.tell() == 0:
                return dest
            archive.seek(0)
            with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                tar.extractall(dest, filter="data")
        return dest

    def metrics(
        self,
        job_id: str,
        since: int | None = None,
        tail: int | None = None,
        max_points: int | None = None,
    ) -> Metrics:
        """The job's training curves: `metrics` is `{name: [[step, value], ...]}`; pass
        `since=last_step` to poll for what is new."""
        params = given(since=since, tail=tail, max_points=max_points)
        return self._one(Metrics, "GET", api_path("jobs", job_id, "metrics"), params=params)
