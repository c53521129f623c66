"""What a server keeps in memory of the store, per key, for a few seconds: API keys and
replicas for the gateway (`gateway/state.py`), callers behind tokens for every route of the API
(`api/deps.py`, `AppState.callers`). One read loads a key however many requests ask for it.

`serve_stale`: past its ttl an entry still answers while one background read refreshes it (the
gateway: no request waits on the store); without, a stale entry is read again first, so what
it answers is never older than the ttl (a caller's token: revoked means refused within ttl).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    fresh_until: float
    refreshing: bool = False


class StoreCache(Generic[T]):
    """Values read from the store by `load` (run in a worker thread), kept `ttl` seconds."""

    def __init__(
        self,
        ttl: float,
        load: Callable[[Any], T],
        *,
        serve_stale: bool = True,
        max_size: int = 100_000,
    ) -> None:
        self.ttl, self.load, self.serve_stale, self.max_size = ttl, load, serve_stale, max_size
        self.entries: dict[Any, _Entry[T]] = {}
        self.loading: dict[Any, asyncio.Future[T]] = {}
        self.refreshes: set[asyncio.Task[None]] = set()  # referenced until done
        self.generation = 0  # `clear` counts up: a load begun before it puts nothing

    async def get(self, key: Any) -> T:
        entry = self.entries.get(key)
        now = time.monotonic()
        if entry is not None and (now < entry.fresh_until or self.serve_stale):
            if now >= entry.fresh_until and not entry.refreshing:
                entry.refreshing = True
                task = asyncio.get_running_loop().create_task(self._refresh(key))
                self.refreshes.add(task)
                task.add_done_callback(self.refreshes.discard)
            return entry.value
        pending = self.loading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.loading[key] = future
        generation = self.generation
        try:
            value = await asyncio.to_thread(self.load, key)
        except Exception as err:
            future.set_exception(err)
            future.exception()  # retrieved: no "never retrieved" warning when none waits
            raise
        except BaseException:  # cancelled: those waiting on it are too
            future.cancel()
            raise
        finally:
            self.loading.pop(key, None)
        if generation == self.generation:
            self.put(key, value)
        future.set_result(value)
        return value

    async def _refresh(self, key: Any) -> None:
        generation = self.generation
        try:
            value = await asyncio.to_thread(self.load, key)
            if generation == self.generation:
                self.put(key, value)
        except Exception:
            log.exception("refreshing %r from the store failed; serving what was read before", key)
            entry = self.entries.get(key)
            if entry is not None:
                entry.refreshing = False

    def put(self, key: Any, value: T) -> None:
        """Keep `value` fresh for the cache's ttl (a read that found it newer than the cache)."""
        if len(self.entries) >= self.max_size:
            self.entries.pop(next(iter(self.entries)))
        self.entries[key] = _Entry(value, time.monotonic() + self.ttl)

    def drop(self, match: Callable[[T], bool]) -> None:
        for key in [k for k, e in self.entries.items() if match(e.value)]:
            del self.entries[key]

    def clear(self) -> None:
        """Forget everything: the next request of each key reads the store again (callable
        from any thread: a commit's)."""
        self.generation += 1
        self.entries = {}
        self.loading = {}
