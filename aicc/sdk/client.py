"""The Python SDK: one object that speaks the REST API of docs/api.md.

httpx is imported when a Client is made, not when this module is, so `import aicc` and
`aicc --help` stay fast. Server and token resolve as CONTRACTS.md §6 says, exactly as the CLI
does, because the CLI is built on this class.
"""

from __future__ import annotations

import json
import os
import tarfile
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from aicc.core.states import TERMINAL

if TYPE_CHECKING:
    import httpx

    from aicc.core.jobspec import JobSpec

__all__ = [
    "ApiError",
    "Client",
    "Progress",
    "aicc_home",
    "describe_errors",
    "resolve_server",
    "resolve_token",
    "save_token",
]

DEFAULT_SERVER = "http://127.0.0.1:8080"
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
CREDENTIALS_FILE = "credentials.json"
ADMIN_TOKEN_FILE = "admin.token"
#: Answers that mean "the server (or a proxy before it) could not take the request now".
RETRY_STATUSES = frozenset({502, 503, 504})
SUBMIT_RETRIES = 3
_CHUNK = 1024 * 1024
_LOCATION_ROOTS = frozenset({"body", "query", "path", "header", "cookie"})

#: ``progress(phase, done, total)``: phase "pack" counts raw file bytes, "upload" archive bytes.
Progress = Callable[[str, int, int], None]
Json = dict[str, Any]


# --- where to talk to, and as whom -------------------------------------------------------------


def aicc_home() -> Path:
    """`$AICC_HOME`, else `~/.aicc` (CONTRACTS.md §7)."""
    return Path(os.environ.get("AICC_HOME") or "~/.aicc").expanduser()


def resolve_server(server: str | None = None) -> str:
    """The argument, else `AICC_SERVER`, else the local default; a bare host gets `http://`."""
    value = (server or os.environ.get("AICC_SERVER") or DEFAULT_SERVER).strip().rstrip("/")
    return value if "://" in value else f"http://{value}"


def is_local(server: str) -> bool:
    """Only a server on this machine may be reached with the admin token found on disk."""
    return (urlsplit(server).hostname or "") in LOCAL_HOSTS


def load_credentials(home: Path | None = None) -> dict[str, str]:
    """The tokens `aicc login` saved, by server URL."""
    path = (home or aicc_home()) / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON; delete it and run `aicc login`") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} must map server URLs to tokens; delete it and run `aicc login`")
    return {str(key): str(value) for key, value in data.items()}


def save_token(server: str, token: str, home: Path | None = None) -> Path:
    """Remember `token` for `server` in credentials.json, readable by the owner only (0600)."""
    home = home or aicc_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    credentials = load_credentials(home)
    credentials[resolve_server(server)] = token
    path = home / CREDENTIALS_FILE
    # Write a private temporary file and rename it, so the token is never world-readable.
    fd, temp = tempfile.mkstemp(prefix=".credentials-", dir=home)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(credentials, fh, indent=2, sort_keys=True)
            fh.write("\n")
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return path


def resolve_token(server: str, token: str | None = None, home: Path | None = None) -> str | None:
    """The argument, else `AICC_TOKEN`, else the saved login, else admin.token if local."""
    if token:
        return token
    env = os.environ.get("AICC_TOKEN", "").strip()
    if env:
        return env
    home = home or aicc_home()
    saved = load_credentials(home).get(resolve_server(server))
    if saved:
        return saved
    if is_local(server):
        try:
            admin = (home / ADMIN_TOKEN_FILE).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return admin or None
    return None


# --- errors -------------------------------------------------------------------------------------


def _location(loc: Iterable[Any]) -> str:
    parts = list(loc)
    if parts and parts[0] in _LOCATION_ROOTS:
        parts = parts[1:]
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def describe_errors(errors: Iterable[Mapping[str, Any]]) -> list[str]:
    """Pydantic/FastAPI error items as `field.path: message` lines people can act on."""
    lines = []
    for item in errors:
        message = str(item.get("msg", "")).removeprefix("Value error, ")
        where = _location(item.get("loc") or ())
        lines.append(f"{where}: {message}" if where else message)
    return lines


def format_detail(detail: Any) -> str:
    """FastAPI's `detail` (a string, a 422 list, or anything JSON) as one readable line."""
    if detail is None:
        return ""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list) and all(isinstance(item, Mapping) for item in detail):
        return "; ".join(describe_errors(detail))
    if isinstance(detail, Mapping) and "msg" in detail:
        return describe_errors([detail])[0]
    return json.dumps(detail, ensure_ascii=False)


class ApiError(Exception):
    """The server answered 400 or more. `detail` is readable; `body` is what it sent."""

    def __init__(self, status_code: int, detail: str, body: Any = None) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.body = body

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            body: Any = response.json()
        except ValueError:
            body = response.text
        raw = body.get("detail", body) if isinstance(body, Mapping) else body
        detail = format_detail(raw) if raw not in ("", None) else ""
        return cls(response.status_code, detail or response.reason_phrase or "error", body)


# --- the client ---------------------------------------------------------------------------------


def _path(*parts: str) -> str:
    return "/api/v1/" + "/".join(quote(str(part), safe="") for part in parts)


def _params(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _body(response: httpx.Response) -> Json:
    if not response.content:
        return {}
    data = response.json()
    return data if isinstance(data, dict) else {"items": data}


def _chunks(fh: IO[bytes], total: int, progress: Progress | None) -> Iterator[bytes]:
    done = 0
    if progress is not None:
        progress("upload", 0, total)
    while chunk := fh.read(_CHUNK):
        done += len(chunk)
        if progress is not None:
            progress("upload", done, total)
        yield chunk


class Client:
    """A session with one AICC server. Every method returns the parsed JSON answer.

    Use it as a context manager, or call `close()`, to release the connection pool.
    """

    def __init__(
        self, server: str | None = None, token: str | None = None, *, timeout: float = 30
    ) -> None:
        import httpx

        from aicc import __version__

        self.server = resolve_server(server)
        self.token = resolve_token(self.server, token)
        self.timeout = timeout
        #: Seconds before the first retry of a submit; doubled for each further one.
        self.retry_backoff = 0.5
        headers = {"User-Agent": f"aicc/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"Client(server={self.server!r})"

    # --- plumbing --------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, check: bool = True, **kwargs: Any) -> httpx.Response:
        if "params" in kwargs:
            kwargs["params"] = _params(**kwargs["params"])
        response = self._http.request(method, path, **kwargs)
        if check and response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def _call(self, method: str, path: str, **kwargs: Any) -> Json:
        return _body(self._send(method, path, **kwargs))

    def _all(self, path: str, params: dict[str, Any] | None = None) -> Json:
        """A list route read whole: its pages (at most 1000 items each), cursor after cursor."""
        items: list[Json] = []
        cursor: str | None = None
        while True:
            answer = self._call("GET", path, params={**(params or {}), "cursor": cursor})
            items.extend(answer.get("items", []))
            cursor = answer.get("next_cursor")
            if not cursor:
                return {**answer, "items": items, "next_cursor": None}

    @contextmanager
    def _stream(
        self, path: str, params: dict[str, Any], *, read_timeout: float | None
    ) -> Iterator[httpx.Response]:
        import httpx

        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        with self._http.stream("GET", path, params=_params(**params), timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError.from_response(response)
            yield response

    def _retrying(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """Resend on connection errors and 502/503/504; only safe for idempotent requests."""
        import httpx

        for attempt in range(SUBMIT_RETRIES + 1):
            last = attempt == SUBMIT_RETRIES
            try:
                response = send()
            except httpx.TransportError:
                if last:
                    raise
            else:
                if last or response.status_code not in RETRY_STATUSES:
                    return response
            time.sleep(self.retry_backoff * 2**attempt)
        raise AssertionError("unreachable")

    # --- who and what ----------------------------------------------------------------------------

    def health(self) -> Json:
        return self._call("GET", "/healthz")

    def me(self) -> Json:
        return self._call("GET", _path("me"))

    def accelerators(self) -> Json:
        return self._call("GET", _path("accelerators"))

    def audit(self, limit: int = 50, action: str | None = None) -> Json:
        return self._call("GET", _path("audit"), params={"limit": limit, "action": action})

    # --- nodes -----------------------------------------------------------------------------------

    def nodes(self) -> Json:
        return self._all(_path("nodes"))

    def import_nodes(self, doc: Mapping[str, Any]) -> Json:
        """Send an inventory document (config.md), already read from YAML, as JSON."""
        return self._call("POST", _path("nodes", "import"), json=dict(doc))

    def cordon(self, name: str) -> Json:
        return self._call("POST", _path("nodes", name, "cordon"))

    def drain(self, name: str, *, evict: bool = False) -> Json:
        return self._call(
            "POST", _path("nodes", name, "drain"), params={"evict": str(evict).lower()}
        )

    def uncordon(self, name: str) -> Json:
        return self._call("POST", _path("nodes", name, "uncordon"))

    # --- tenancy ---------------------------------------------------------------------------------

    def orgs(self) -> Json:
        return self._all(_path("orgs"))

    def create_org(self, name: str, display_name: str | None = None) -> Json:
        body = _params(name=name, display_name=display_name)
        return self._call("POST", _path("orgs"), json=body)

    def projects(self) -> Json:
        return self._all(_path("projects"))

    def create_project(self, name: str, org_id: str | None = None) -> Json:
        return self._call("POST", _path("projects"), json=_params(name=name, org_id=org_id))

    def set_org_quota(self, org_id: str, quota: dict[str, dict[str, float]]) -> Json:
        return self._call("PUT", _path("orgs", org_id, "quota"), json=quota)

    def set_project_quota(self, project_id: str, quota: dict[str, dict[str, float]]) -> Json:
        return self._call("PUT", _path("projects", project_id, "quota"), json=quota)

    def add_member(self, project_id: str, user_id: str) -> Json:
        return self._call(
            "POST", _path("projects", project_id, "members"), json={"user_id": user_id}
        )

    def users(self) -> Json:
        return self._all(_path("users"))

    def create_user(
        self,
        name: str,
        role: str,
        org_id: str | None = None,
        projects: list[str] | None = None,
        password: str | None = None,
    ) -> Json:
        body = _params(name=name, role=role, org_id=org_id, projects=projects, password=password)
        return self._call("POST", _path("users"), json=body)

    def set_user_disabled(self, user_id: str, disabled: bool) -> Json:
        """Disable a user (their tokens and portal sessions stop at once) or enable them again."""
        return self._call("PATCH", _path("users", user_id), json={"disabled": disabled})

    def tokens(self) -> Json:
        return self._all(_path("tokens"))

    def create_token(
        self, name: str, expires_in_days: int | None = None, user_id: str | None = None
    ) -> Json:
        """The answer carries `secret`: the only time the server ever shows it."""
        body = _params(name=name, expires_in_days=expires_in_days, user_id=user_id)
        return self._call("POST", _path("tokens"), json=body)

    def revoke_token(self, token_id: str) -> Json:
        return self._call("DELETE", _path("tokens", token_id))

    def queues(self, project: str | None = None) -> Json:
        return self._all(_path("queues"), {"project": project})

    def create_queue(
        self,
        name: str,
        project: str | None = None,
        *,
        priority: int | str | None = None,
        max_runtime: int | str | None = None,
        max_pending: int | None = None,
        max_running: int | None = None,
    ) -> Json:
        body = _params(
            name=name,
            project=project,
            priority=priority,
            max_runtime=max_runtime,
            max_pending=max_pending,
            max_running=max_running,
        )
        return self._call("POST", _path("queues"), json=body)

    def secrets(self, project: str | None = None) -> Json:
        return self._all(_path("secrets"), {"project": project})

    def set_secret(self, name: str, value: str, project: str | None = None) -> Json:
        """Create or replace; the answer never contains the value."""
        return self._call(
            "PUT", _path("secrets", name), params={"project": project}, json={"value": value}
        )

    def delete_secret(self, name: str, project: str | None = None) -> Json:
        return self._call("DELETE", _path("secrets", name), params={"project": project})

    # --- jobs ------------------------------------------------------------------------------------

    def upload_workdir(self, path: Path, progress: Progress | None = None) -> str:
        """Pack `path`, upload it unless the server already has it, and return its sha256."""
        from aicc.sdk.workdir import pack_workdir

        def on_pack(done: int, total: int) -> None:
            if progress is not None:
                progress("pack", done, total)

        packed = pack_workdir(Path(path), progress=on_pack)
        try:
            head = self._send("HEAD", _path("workdirs", packed.sha256), check=False)
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
                answer = self._call("POST", _path("workdirs"), content=content, headers=headers)
        finally:
            packed.path.unlink(missing_ok=True)
        stored = answer.get("sha256", packed.sha256)
        if stored != packed.sha256:
            raise ApiError(500, f"server stored workdir as {stored}, expected {packed.sha256}")
        return packed.sha256

    def submit(
        self,
        spec: Mapping[str, Any] | JobSpec,
        *,
        idempotency_key: str | None = None,
        workdir: Path | None = None,
    ) -> Json:
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
        headers = {"Idempotency-Key": idempotency_key or str(uuid.uuid4())}
        response = self._retrying(
            lambda: self._send("POST", _path("jobs"), check=False, json=body, headers=headers)
        )
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return _body(response)

    def jobs(
        self, state: str | None = None, project: str | None = None, limit: int | None = 50
    ) -> list[Json]:
        """Newest first, following `next_cursor` until `limit` jobs (None: all of them)."""
        items: list[Json] = []
        cursor: str | None = None
        while limit is None or len(items) < limit:
            page = 500 if limit is None else min(500, limit - len(items))
            params = {"state": state, "project": project, "limit": page, "cursor": cursor}
            answer = self._call("GET", _path("jobs"), params=params)
            items.extend(answer.get("items", []))
            cursor = answer.get("next_cursor")
            if not cursor:
                break
        return items if limit is None else items[:limit]

    def job(self, job_id: str) -> Json:
        return self._call("GET", _path("jobs", job_id))

    def events(self, job_id: str) -> Json:
        return self._call("GET", _path("jobs", job_id, "events"))

    def explain(self, job_id: str) -> Json:
        """Why a job waits: reasons, queue position and an estimated start."""
        return self._call("GET", _path("jobs", job_id, "explain"))

    def cancel(self, job_id: str) -> Json:
        return self._call("POST", _path("jobs", job_id, "cancel"))

    def logs(
        self, job_id: str, replica: int = 0, stream: str = "stdout", tail: int | None = None
    ) -> str:
        params = _params(replica=replica, stream=stream, tail=tail)
        return self._send("GET", _path("jobs", job_id, "logs"), params=params).text

    def follow_logs(self, job_id: str, replica: int = 0, stream: str = "stdout") -> Iterator[str]:
        """Text chunks as the job writes them (not split into lines); ends when the job does."""
        params = {"replica": replica, "stream": stream, "follow": "true"}
        with self._stream(_path("jobs", job_id, "logs"), params, read_timeout=None) as response:
            yield from response.iter_text()

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 1.0) -> Json:
        """Poll until the job succeeded, failed or was cancelled; TimeoutError after `timeout`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.job(job_id)
            if job.get("state") in TERMINAL:
                return job
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"job {job_id} is still {job.get('state')} after {timeout:g}s"
                    )
                time.sleep(min(poll, left))
            else:
                time.sleep(poll)

    def download_outputs(self, job_id: str, dest: Path) -> Path:
        """Fetch the job's `$AICC_OUTPUT_DIR` and unpack it into `dest`, refusing unsafe paths."""
        dest = Path(dest)
        with tempfile.TemporaryFile() as archive:
            path = _path("jobs", job_id, "outputs")
            with self._stream(path, {}, read_timeout=self.timeout) as response:
                for chunk in response.iter_bytes(_CHUNK):
                    archive.write(chunk)
            dest.mkdir(parents=True, exist_ok=True)
            if archive.tell() == 0:
                return dest
            archive.seek(0)
            with tarfile.open(fileobj=archive, mode="r:gz") as tar:
                tar.extractall(dest, filter="data")
        return dest

    # --- compute service: estimates ----------------------------------------------------------

    def estimate(
        self,
        scenario: Mapping[str, Any],
        *,
        accelerators: list[str] | None = None,
        count: int | None = None,
        sort: str = "time",
        project: str | None = None,
    ) -> Json:
        """Priced options for a scenario (docs/estimate.md), ranked by `time` or `cost`."""
        body = _params(
            scenario=dict(scenario),
            accelerator=accelerators or None,
            count=count,
            sort=sort,
            project=project,
        )
        return self._call("POST", _path("estimate"), json=body)

    # --- prices, credits, budgets (docs/billing.md) ----------------------------------------------

    def price_plans(self, org: str | None = None) -> Json:
        return self._all(_path("price-plans"), {"org": org})

    def create_price_plan(self, doc: Mapping[str, Any]) -> Json:
        return self._call("POST", _path("price-plans"), json=dict(doc))

    def effective_price_plan(self, org: str | None = None, at: str | None = None) -> Json:
        return self._call("GET", _path("price-plans", "effective"), params={"org": org, "at": at})

    def vouchers(self, org: str | None = None) -> Json:
        return self._all(_path("vouchers"), {"org": org})

    def create_voucher(self, body: Mapping[str, Any]) -> Json:
        return self._call("POST", _path("vouchers"), json=dict(body))

    def subsidies(self) -> Json:
        return self._all(_path("subsidies"))

    def create_subsidy(self, body: Mapping[str, Any]) -> Json:
        return self._call("POST", _path("subsidies"), json=dict(body))

    def budgets(self) -> Json:
        return self._all(_path("budgets"))

    def set_budget(
        self, body: Mapping[str, Any], *, project: str | None = None, org: str | None = None
    ) -> Json:
        """A project's (`project` id) or an organization's (`org` id) monthly budget."""
        where = (
            _path("projects", project, "budget") if project else _path("orgs", str(org), "budget")
        )
        return self._call("PUT", where, json=dict(body))

    def delete_budget(self, budget_id: str) -> Json:
        return self._call("DELETE", _path("budgets", budget_id))

    # --- usage and bills ------------------------------------------------------------------------

    def usage(
        self,
        *,
        job: str | None = None,
        project: str | None = None,
        org: str | None = None,
        month: str | None = None,
    ) -> Json:
        params = {"job": job, "project": project, "org": org, "month": month}
        return self._call("GET", _path("usage"), params=params)

    def bill(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> Json:
        """An organization's invoice of a month: issued, or the draft as of now."""
        params = {"month": month, "org": org, "project": project}
        return self._call("GET", _path("bills"), params=params)

    def bill_csv(
        self, month: str | None = None, *, org: str | None = None, project: str | None = None
    ) -> str:
        params = {"month": month, "org": org, "project": project}
        return self._send("GET", _path("bills", "export"), params=params).text

    def issue_bill(self, org: str, month: str) -> Json:
        return self._call("POST", _path("bills", "issue"), json={"org_id": org, "month": month})

    def adjust_bill(self, body: Mapping[str, Any]) -> Json:
        return self._call("POST", _path("bills", "adjustments"), json=dict(body))

    def invoices(self, org: str | None = None) -> Json:
        return self._all(_path("invoices"), {"org": org})
