"""The request log's writer (`LogWriter`): every request through the gateway leaves one row
(`gateway_requests`, written by `services/serving/gateway.py` `append`), by group commit: one
transaction per batch of whatever arrived meanwhile, on a thread of its own
(`store/group_commit.py`).

With `gateway.durable_log` (the default) each request waits for the transaction that holds its
row before its last bytes go out (`state.py` `Gateway.finish`); without, the answer leaves at
once and a crash may lose the records of the requests answered in the last moments (the batch
in flight)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from sqlalchemy import Connection

from aicc.services.serving import gateway as gw
from aicc.store.db import Database
from aicc.store.group_commit import GroupCommit


class LogWriter(GroupCommit[gw.RequestRecord, None]):
    """Group commit of request records, on a connection the writer's thread keeps: a request
    awaits the transaction holding its row. A batch that fails fails its requests' futures
    (logged) and is not tried again."""

    name = "aicc-gateway-log"

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db
        self._connection: Connection | None = None  # the thread's own

    def commit(self, items: Sequence[gw.RequestRecord]) -> list[None]:
        if self._connection is None:
            self._connection = self.db.engine.connect()
        try:
            gw.append(self._connection, list(items))
        except Exception:
            self.stopped()  # the next batch starts on a fresh connection
            raise
        return [None] * len(items)

    def stopped(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            with contextlib.suppress(Exception):
                connection.close()
