"""The pooled HTTP clients the gateway reaches replicas with (aiohttp: it forwards a request in
less than half of httpx's time, BENCHMARKS.md): one to all replicas reached on TCP, and one per
replica reached through its Unix socket (a sandboxed replica of this machine:
services/jobs/endpoints.py), the last `MAX_SOCKET_CLIENTS` kept.

The clients follow no redirects (the relay asks them not to), keep no cookies (a replica's
cookie is not for the next caller) and read no proxy settings from the environment. They belong
to one event loop (a server has one); asked from another, the old ones are abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import os

import aiohttp

from aicc.config import GatewaySettings
from aicc.services.jobs import endpoints

MAX_SOCKET_CLIENTS = 256  # pooled clients kept for replicas reached through Unix sockets


class Pool:
    """The clients, by the address a target names (`Target.urls`). `outstanding` is the
    gateway's count of requests in flight per address: a socket's client is not pruned while
    its count is above zero."""

    def __init__(self, settings: GatewaySettings, outstanding: dict[str, int]) -> None:
        self.settings, self.outstanding = settings, outstanding
        self._client: tuple[asyncio.AbstractEventLoop, aiohttp.ClientSession] | None = None
        # per Unix socket path, on `_client`'s loop: the client and its socket's directory
        self._sockets: dict[str, tuple[aiohttp.ClientSession, contextlib.ExitStack]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def client(self, address: str = "") -> aiohttp.ClientSession:
        """The pooled client to reach `address`: the one for every TCP replica, or the one of a
        replica's Unix socket (an absolute path)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client[0] is not loop:
            if self._client is not None:
                _abandon(*self._client)
                for session, directory in self._sockets.values():
                    _abandon(self._client[0], session)
                    directory.close()
                self._sockets.clear()
            limit = self.settings.max_connections
            tcp = aiohttp.TCPConnector(limit=limit, limit_per_host=0)
            self._client = (loop, self._session(tcp))
        if not address.startswith("/"):
            return self._client[1]
        found = self._sockets.get(address)
        if found is None or found[0].closed:
            if found is not None:
                found[1].close()
            self._prune()
            directory = contextlib.ExitStack()
            try:  # a path of any length: through a descriptor of its directory
                path = directory.enter_context(endpoints.reachable(address))
            except OSError:
                path = address  # gone: connecting fails as a refused connection does
            unix = aiohttp.UnixConnector(path=path, limit=self.settings.max_connections)
            found = self._sockets[address] = (self._session(unix), directory)
        return found[0]

    def _session(self, connector: aiohttp.BaseConnector) -> aiohttp.ClientSession:
        s = self.settings
        return aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=s.connect_timeout_s, sock_read=s.read_timeout_s
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
        )

    def _prune(self) -> None:
        """Close the clients of sockets gone (their replicas' run directories purged), and the
        oldest idle ones past MAX_SOCKET_CLIENTS."""
        over = len(self._sockets) - MAX_SOCKET_CLIENTS + 1
        for address in list(self._sockets):
            gone = not os.path.exists(address)
            if (gone or over > 0) and not self.outstanding.get(address):
                over -= 1
                session, directory = self._sockets.pop(address)
                task = asyncio.get_running_loop().create_task(_close(session, directory))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """At shutdown: every client closed (abandoned, if its loop is not this one)."""
        if self._client is not None:
            loop, client = self._client
            self._client = None
            sockets = [session for session, _ in self._sockets.values()]
            if loop is asyncio.get_running_loop():
                for session in [client, *sockets]:
                    await session.close()
            else:
                for session in [client, *sockets]:
                    _abandon(loop, session)
            for _, directory in self._sockets.values():
                directory.close()
            self._sockets.clear()


async def _close(session: aiohttp.ClientSession, directory: contextlib.ExitStack) -> None:
    try:
        await session.close()
    finally:
        directory.close()


def _abandon(loop: asyncio.AbstractEventLoop, client: aiohttp.ClientSession) -> None:
    """A client of another loop: closed on it while it runs, else its connections dropped."""
    if client.closed:
        return
    if loop.is_closed():  # nothing can run on it: its connections are dropped as they are
        connector = client.connector
        client.detach()
        if connector is not None:
            connector._close()  # the synchronous part of `close`, all a closed loop allows
        return
    with contextlib.suppress(RuntimeError):
        asyncio.run_coroutine_threadsafe(client.close(), loop)
