"""Sending one delivery: network I/O with a short timeout, never inside a transaction (the
deliveries' thread claims deliveries and commits first). A send answers None when the receiver
took it, or why not, classified in a few words ("timed out after 5 s", "HTTP 500", "connection
refused"): never the receiver's own words, which a tenant could otherwise read back from any
address a channel may reach (the test route answers the error)."""

from __future__ import annotations

import smtplib
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from aicc.config import SmtpSettings
from aicc.services.common import tls
from aicc.services.notify import formats, targets

MAX_ANSWER = 64 * 1024  # of a receiver's answer read at most (a bot's JSON error code)
MOST_CLIENTS = 64  # hosts whose connections are kept


@dataclass(frozen=True)
class Outgoing:
    """A claimed delivery with what sending it needs (the secret opened)."""

    kind: str  # the channel's
    target: str
    secret: str | None
    message: formats.Message


def client(timeout_s: float) -> httpx.Client:
    """An HTTP client for channels: no redirects followed, no proxy from the environment; all
    of them trust the process's one CA store (`common.tls`)."""
    return httpx.Client(timeout=timeout_s, follow_redirects=False, trust_env=False, verify=tls())


@dataclass
class _Kept:
    client: httpx.Client
    users: int = 0  # sends using it now: it is closed only when idle


class Clients:
    """A kept-alive client per (scheme, host, port), shared by the sends (thread-safe). Per
    host, as a send connects to a pinned address: one client's pool is keyed by the address,
    and a TLS connection made for one name must not carry another name's request. The least
    recently used idle client is closed past MOST_CLIENTS."""

    def __init__(self, timeout_s: float, most: int = MOST_CLIENTS) -> None:
        self.timeout_s = timeout_s
        self.most = most
        self._lock = threading.Lock()
        self._clients: OrderedDict[tuple[str, str, int | None], _Kept] = OrderedDict()

    @contextmanager
    def of(self, url: str) -> Iterator[httpx.Client]:
        parts = httpx.URL(url)
        key = (parts.scheme, parts.host, parts.port)
        with self._lock:
            kept = self._clients.get(key)
            if kept is None:
                kept = self._clients[key] = _Kept(client(self.timeout_s))
            self._clients.move_to_end(key)
            kept.users += 1
            self._evict()
        try:
            yield kept.client
        finally:
            with self._lock:
                kept.users -= 1

    def _evict(self) -> None:
        idle = [key for key, kept in self._clients.items() if kept.users == 0]
        for key in idle[: max(0, len(self._clients) - self.most)]:
            self._clients.pop(key).client.close()

    def close(self) -> None:
        with self._lock:
            for kept in self._clients.values():
                kept.client.close()
            self._clients.clear()


def send(
    out: Outgoing,
    *,
    smtp: SmtpSettings,
    timeout_s: float,
    private_hosts: Collection[str] = (),
    http: Clients | None = None,
    resolve: targets.Resolver = targets.system_resolve,
) -> str | None:
    """Send it once; None on success, else why it failed, in a few words (a person reads it)."""
    try:
        if out.kind == "email":
            return _mail(out, smtp, timeout_s)
        if http is None:
            own = Clients(timeout_s, most=1)
            try:
                return _post(out, own, timeout_s, private_hosts, resolve)
            finally:
                own.close()
        return _post(out, http, timeout_s, private_hosts, resolve)
    except targets.Refused as refused:
        return str(refused)[:500]
    except Exception as err:  # any failure of one send is that delivery's, retried later
        return classify(err, timeout_s)


def classify(err: Exception, timeout_s: float) -> str:
    """A failed send in a few words: the kind of failure, never what the receiver said."""
    text = str(err).lower()
    if isinstance(err, httpx.TimeoutException | TimeoutError):
        return f"timed out after {timeout_s:g} s"
    if isinstance(err, httpx.ConnectError | ConnectionError | OSError):
        if "refused" in text:
            return "connection refused"
        if "ssl" in text or "certificate" in text or isinstance(err, ssl.SSLError):
            return "TLS failed: " + ("certificate not trusted" if "certif" in text else "handshake")
        if "unreachable" in text:
            return "network unreachable"
        if "reset" in text:
            return "connection reset"
        return "could not connect"
    if isinstance(err, httpx.RemoteProtocolError):
        return "the receiver closed the connection without a valid HTTP answer"
    if isinstance(err, httpx.HTTPError):
        return f"HTTP error ({type(err).__name__})"
    if isinstance(err, smtplib.SMTPException):
        return f"mail server refused: {type(err).__name__}"
    return f"failed ({type(err).__name__})"


def _post(
    out: Outgoing,
    clients: Clients,
    timeout_s: float,
    private_hosts: Collection[str],
    resolve: targets.Resolver,
) -> str | None:
    request = formats.POSTS[out.kind](out.target, out.secret, out.message, now=int(time.time()))
    pin = targets.pinned(request.url, private_hosts, resolve)
    deadline = time.monotonic() + timeout_s  # the whole send, a slow trickle included
    with clients.of(pin.url) as http:
        outgoing = http.build_request(
            "POST", pin.url, headers={**request.headers, **pin.headers}, content=request.body
        )
        outgoing.extensions.update(pin.extensions)
        answer = http.send(outgoing, stream=True)
        try:
            got = b""
            for block in answer.iter_raw():
                got += block
                if len(got) >= MAX_ANSWER:
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError
        finally:
            answer.close()
    return formats.refused(out.kind, answer.status_code, got[:MAX_ANSWER])


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
