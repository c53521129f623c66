"""The gateway's refusals in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`,
which the `openai` clients turn into their exceptions (docs/gateway.md lists them): these routes
speak OpenAI's API, not AICC's `{"detail": ...}`."""

from __future__ import annotations

import logging

from fastapi.responses import JSONResponse

log = logging.getLogger("aicc.gateway")


def error(
    status: int,
    message: str,
    kind: str,
    code: str | None = None,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """An answer OpenAI's clients understand."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def store_down() -> JSONResponse:
    """The key or the deployment had to be read from the store, which did not answer (called
    while the store's exception is being handled: it is logged with it)."""
    log.exception("gateway: the store did not answer")
    return error(
        503,
        "the gateway cannot read its store; retry shortly",
        "server_error",
        "store_unavailable",
        headers={"Retry-After": "5"},
    )


def not_found(name: str) -> JSONResponse:
    """No such deployment in the key's project, or one the key may not call: the same answer."""
    return error(
        404,
        f"The model `{name}` does not exist or this key may not call it",
        "invalid_request_error",
        "model_not_found",
        "model",
    )


def timeout(name: str, request_id: str) -> JSONResponse:
    return error(
        504,
        f"the replica of `{name}` did not answer in time",
        "server_error",
        "upstream_timeout",
        headers={"x-request-id": request_id},
    )
