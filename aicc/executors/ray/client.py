"""Ray's Jobs and State APIs, reached through the dashboard, with a time limit on every call.

Ray's SDK is imported here and nowhere else, on first use, so Ray is an optional extra
(`pip install 'aicc[ray]'`). Its HTTP calls carry no timeout of their own; each runs in a small
thread pool and is abandoned after `timeout_s`, so a dashboard that stops answering slows the
control loop down but never stalls it.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

T = TypeVar("T")


class RayError(RuntimeError):
    """Ray refused a request or is missing; the message says which and why."""


class RayUnavailable(RayError):
    """The dashboard did not answer (down, restarting, unreachable, too slow)."""


def import_sdk() -> Any:
    """`ray.job_submission`, or RayError saying how to install it."""
    try:
        import ray.job_submission as jobs
    except ImportError as err:
        raise RayError(
            f"Ray's SDK cannot be imported ({err}): install it with pip install 'aicc[ray]'"
        ) from None
    return jobs


@dataclass(frozen=True)
class JobRecord:
    """What Ray says of one submitted job (its `JobDetails`, reduced to what AICC reads)."""

    status: str  # PENDING | RUNNING | STOPPED | SUCCEEDED | FAILED
    message: str
    error_type: str | None
    start_time_ms: int | None  # when Ray accepted the submission
    end_time_ms: int | None
    driver_exit_code: int | None  # absent in Ray releases before it was added: None


class RayJobs:
    """The Jobs API of one cluster (`address`: the dashboard URL). Blocking; every call ends
    within `timeout_s` or raises RayUnavailable."""

    def __init__(self, address: str, *, timeout_s: float = 30.0) -> None:
        self.address = address.rstrip("/")
        self.timeout_s = timeout_s
        self._client: Any = None
        self._lock = threading.Lock()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """`fn()` in a daemon thread, given up after `timeout_s` (a call that hangs is left
        behind and cannot keep the server from exiting)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as err:
                future.set_exception(err)

        threading.Thread(target=run, name="aicc-ray-call", daemon=True).start()
        try:
            return future.result(timeout=self.timeout_s)
        except concurrent.futures.TimeoutError:
            raise RayUnavailable(
                f"Ray at {self.address} did not answer {what} within {self.timeout_s:.0f} s"
            ) from None
        except OSError as err:  # requests' ConnectionError is an OSError, as is ConnectionError
            with self._lock:
                self._client = None  # reconnect next time: the cluster may have restarted
            raise RayUnavailable(
                f"Ray at {self.address} is not reachable ({what}): {err}"
            ) from None

    def client(self) -> Any:
        """The SDK's JobSubmissionClient, made (and its version check done) on first use."""
        with self._lock:
            client = self._client
        if client is None:
            jobs = import_sdk()
            client = self._call("the version check", lambda: jobs.JobSubmissionClient(self.address))
            with self._lock:
                self._client = client
        return client

    def submit(self, **request: Any) -> bool:
        """Submit a job (the SDK's `submit_job` arguments). False when a job with this
        submission id already exists, which makes a retried launch harmless."""
        client = self.client()
        try:
            self._call("a submission", lambda: client.submit_job(**request))
        except RayUnavailable:
            raise
        except RuntimeError as err:
            if "already exists" in str(err):
                return False
            raise RayError(f"Ray refused the job: {_short(err)}") from None
        return True

    def info(self, submission_id: str) -> JobRecord | None:
        """The job's record, or None when Ray has none (never submitted, or the cluster's job
        table was lost with its head node)."""
        client = self.client()
        try:
            details = self._call("a status query", lambda: client.get_job_info(submission_id))
        except RayUnavailable:
            raise  # not the job's answer: the caller keeps the replica's last state
        except RuntimeError as err:
            if _not_found(err):
                return None
            raise RayError(f"Ray could not say how job {submission_id} is: {_short(err)}") from None
        status = getattr(details, "status", "")
        error_type = getattr(details, "error_type", None)
        return JobRecord(
            status=str(getattr(status, "value", status)),
            message=str(getattr(details, "message", "") or ""),
            error_type=str(getattr(error_type, "value", error_type)) if error_type else None,
            start_time_ms=getattr(details, "start_time", None),
            end_time_ms=getattr(details, "end_time", None),
            driver_exit_code=getattr(details, "driver_exit_code", None),
        )

    def stop(self, submission_id: str) -> None:
        """Ask Ray to stop the job (SIGTERM, SIGKILL after the job's stop wait). Quiet about a
        job that has ended or that Ray does not know."""
        client = self.client()
        try:
            self._call("a stop request", lambda: client.stop_job(submission_id))
        except RayUnavailable:
            raise
        except RuntimeError as err:
            if not _not_found(err):
                raise RayError(f"Ray could not stop job {submission_id}: {_short(err)}") from None

    def delete(self, submission_id: str) -> bool:
        """Forget a finished job; quiet when Ray cannot (unknown, or not finished). False when
        Ray did not answer, so a caller with many to delete can stop asking."""
        try:
            client = self.client()
            self._call("a delete request", lambda: client.delete_job(submission_id))
        except RayUnavailable:
            return False
        except RuntimeError:  # RayError too
            pass
        return True

    def nodes(self) -> list[dict[str, Any]]:
        """Every node Ray knows (alive and dead), each as the State API's fields in a dict."""
        try:
            from ray.util.state import list_nodes
        except ImportError as err:
            raise RayError(f"Ray's state API cannot be imported ({err})") from None
        timeout = max(1, int(self.timeout_s))
        try:
            found = self._call(
                "a node listing",
                lambda: list_nodes(
                    address=self.address, detail=True, limit=10_000, timeout=timeout
                ),
            )
        except RayError:
            raise
        except Exception as err:  # the State API's own exception types vary by release
            raise RayUnavailable(
                f"Ray at {self.address} could not list nodes: {_short(err)}"
            ) from None
        return [_as_dict(node) for node in found]


def _as_dict(record: Any) -> dict[str, Any]:
    if isinstance(record, dict):
        return record
    if is_dataclass(record):
        return {f.name: getattr(record, f.name) for f in fields(record)}
    return dict(vars(record))


def _not_found(err: Exception) -> bool:
    text = str(err)
    return "status code 404" in text or "does not exist" in text


def _short(err: Exception) -> str:
    """The SDK's error without the server's traceback: its last non-empty line."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip(" .")]
    return lines[-1] if lines else type(err).__name__
