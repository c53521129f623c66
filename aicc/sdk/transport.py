"""The SDK's plumbing: one HTTP session with auth, errors, retries and cursor paging.

Resource modules (jobs.py, nodes.py, ...) speak their routes through a `Transport` and know
nothing of httpx. httpx is imported when a Transport is made, not when this module is, so
`import aicc` and `aicc --help` stay fast.
"""

from __future__ import annotations

import builtins
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

from aicc.sdk.auth import resolve_server, resolve_token
from aicc.sdk.errors import ApiError

if TYPE_CHECKING:
    import httpx
    from pydantic import BaseModel

Json = dict[str, Any]
#: Answers that mean "the server (or a proxy before it) could not take the request now".
RETRY_STATUSES = frozenset({502, 503, 504})
RETRIES = 3
M = TypeVar("M", bound="BaseModel")


def api_path(*parts: str) -> str:
    """`/api/v1/a/b`, each part quoted, so a name with `/` or `?` stays one segment."""
    return "/api/v1/" + "/".join(quote(str(part), safe="") for part in parts)


def given(**values: Any) -> dict[str, Any]:
    """Query parameters or body fields without the ones left out (None)."""
    return {key: value for key, value in values.items() if value is not None}


def body_of(response: httpx.Response) -> Json:
    """The answer's JSON object; a bare list comes back as `{"items": [...]}`."""
    if not response.content:
        return {}
    data = response.json()
    return data if isinstance(data, dict) else {"items": data}


VERSION_HEADER = "AICC-API-Version"


def _same_version(response: httpx.Response) -> None:
    """An answer of an AICC server that speaks another API version is not read as this one:
    an ApiError naming both (a server before versions sends none: served as version 1)."""
    from aicc import API_VERSION

    theirs = response.headers.get(VERSION_HEADER)
    if theirs is not None and theirs != API_VERSION:
        raise ApiError(
            response.status_code if response.status_code >= 400 else 400,
            f"the server speaks AICC API version {theirs}, this client (aicc SDK) version "
            f"{API_VERSION}: install the client of the server's version",
        )


class Transport:
    """A session with one AICC server: base URL, bearer token, errors as `ApiError`.

    Use it as a context manager, or call `close()`, to release the connection pool.
    """

    def __init__(
        self, server: str | None = None, token: str | None = None, *, timeout: float = 30
    ) -> None:
        import httpx

        from aicc import API_VERSION, __version__

        self.server = resolve_server(server)
        self.token = resolve_token(self.server, token)
        self.timeout = timeout
        #: Seconds before the first retry of an idempotent request; doubled for each further one.
        self.retry_backoff = 0.5
        headers = {"User-Agent": f"aicc/{__version__}", VERSION_HEADER: API_VERSION}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout)

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(server={self.server!r})"

    def request(
        self, method: str, path: str, *, check: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """One request; an answer of 400 or more raises `ApiError` unless `check` is False."""
        if "params" in kwargs:
            kwargs["params"] = given(**kwargs["params"])
        response = self._http.request(method, path, **kwargs)
        _same_version(response)
        if check and response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def call(self, method: str, path: str, **kwargs: Any) -> Json:
        """One request, its JSON answer."""
        return body_of(self.request(method, path, **kwargs))

    def create_once(self, path: str, body: Json, key: str | None = None) -> Json:
        """POST that makes one thing however often it is resent: under an `Idempotency-Key`
        (`key`, or a fresh one), retried on connection errors and 502/503/504."""
        headers = {"Idempotency-Key": key or str(uuid.uuid4())}
        return body_of(self.resent("POST", path, json=body, headers=headers))

    def resent(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One request that is safe to send again: resent on connection errors and
        502/503/504 (`retrying`), the final answer of 400 or more raised as `ApiError`."""
        response = self.retrying(lambda: self.request(method, path, check=False, **kwargs))
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        limit: int | None = None,
        page_size: int | None = None,
    ) -> Json:
        """A list route (`{"items", "next_cursor"}`) read cursor after cursor, joined into one
        answer: every item, or the first `limit`. Pages hold `page_size` items (None: the
        server's default) but never more than are still wanted."""
        items: list[Json] = []
        cursor: str | None = None
        answer: Json = {}
        while limit is None or len(items) < limit:
            size = page_size if limit is None else min(page_size or limit, limit - len(items))
            query = {**(params or {}), "limit": size, "cursor": cursor}
            answer = self.call("GET", path, params=query)
            items.extend(answer.get("items", []))
            cursor = answer.get("next_cursor")
            if not cursor:
                break
        return {**answer, "items": items if limit is None else items[:limit], "next_cursor": None}

    @contextmanager
    def stream(
        self, path: str, params: dict[str, Any], *, read_timeout: float | None
    ) -> Iterator[httpx.Response]:
        """A GET whose body is read as it arrives (logs, archives)."""
        import httpx

        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        with self._http.stream("GET", path, params=given(**params), timeout=timeout) as response:
            if response.status_code >= 400:
                response.read()
                raise ApiError.from_response(response)
            yield response

    def retrying(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """Resend on connection errors and 502/503/504; only safe for idempotent requests."""
        import httpx

        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
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


class Resource:
    """One noun of the API, reached as `client.<noun>`; its methods speak that noun's routes.

    Calling the resource itself lists it (`client.orgs()` = `client.orgs.list()`), the spelling
    the SDK had before it grew one module per noun.
    """

    #: The noun's list route; every resource that has one defines it.
    list: Callable[..., Any]

    def __init__(self, transport: Transport) -> None:
        self._t = transport

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.list(*args, **kwargs)

    def _items(
        self,
        model: type[M],
        path: str,
        params: dict[str, Any] | None = None,
        **paging: int | None,
    ) -> builtins.list[M]:
        """The items of the list route at `path` (`Transport.pages`: every page, or `limit`
        items), each as a `model`."""
        answer = self._t.pages(path, params, **paging)
        return [model.model_validate(item) for item in answer["items"]]

    def _one(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        """One request (`Transport.call`) whose answer is one `model`."""
        return model.model_validate(self._t.call(method, path, **kwargs))

    def _once(self, model: type[M], path: str, body: Json, key: str | None) -> M:
        """A POST that makes one `model` however often it is resent (`Transport.create_once`)."""
        return model.model_validate(self._t.create_once(path, body, key))

    def _each(self, model: type[M], method: str, path: str, **kwargs: Any) -> builtins.list[M]:
        """One request (`Transport.call`) whose answer's items, all in one answer (no paging;
        a bare list is read as its items), are each a `model`."""
        answer = self._t.call(method, path, **kwargs)
        return [model.model_validate(item) for item in answer["items"]]
