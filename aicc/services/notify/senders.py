"""Sending one delivery: network I/O with a short timeout, never inside a transaction (the
`notify` step claims deliveries and commits first). A send answers None when the receiver took
it, or the error to keep on the delivery and retry."""

from __future__ import annotations

import smtplib
import time
from collections.abc import Collection
from dataclasses import dataclass

import httpx

from aicc.config import SmtpSettings
from aicc.services.common import tls
from aicc.services.notify import formats, targets


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery with what sending it needs (the secret opened)."""

    kind: str  # the channel's
    target: str
    secret: str | None
    message: formats.Message


def client(timeout_s: float) -> httpx.Client:
    """An HTTP client for channels: no redirects followed, no proxy from the environment. The
    deliveries' thread keeps one (its connections and TLS set-up are reused), a test send
    makes its own; all of them trust the process's one CA store (`common.tls`)."""
    return httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False, verify=tls())


def send(
    out: Outgoing,
    *,
    smtp: SmtpSettings,
    timeout_s: float,
    private_hosts: Collection[str] = (),
    http: httpx.Client | None = None,
) -> str | None:
    """Send it once; None on success, else why it failed (a person reads it)."""
    try:
        if out.kind == "email":
            return _mail(out, smtp, timeout_s)
        if http is None:
            with client(timeout_s) as own:
                return _post(out, own, private_hosts)
        return _post(out, http, private_hosts)
    except Exception as err:  # any failure of one send is that delivery's, retried later
        return f"{type(err).__name__}: {err}"[:500]


def _post(out: Outgoing, http: httpx.Client, private_hosts: Collection[str]) -> str | None:
    refused = targets.resolved_safely(out.target, private_hosts)
    if refused is not None:
        return refused
    request = formats.POSTS[out.kind](out.target, out.secret, out.message, now=int(time.time()))
    answer = http.post(request.url, headers=request.headers, content=request.body)
    return formats.refused(out.kind, answer.status_code, answer.content)


def _mail(out: Outgoing, smtp: SmtpSettings, timeout_s: float) -> str | None:
    if not smtp.host:
        return "no mail server is set: notify.smtp.host in the server's config"
    mail = formats.email(out.target, smtp.from_addr, out.message)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=timeout_s) as server:
        if smtp.starttls:
            server.starttls()
        if smtp.user:
            server.login(smtp.user, smtp.password or "")
        server.send_message(mail)
    return None
