"""Leader election with fencing, on SQLite and on a real PostgreSQL.

Time is passed in (`now`), so expiry is tested by asking about a later moment, never by sleeping.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from aicc.loops.lease import Lease, LostLease
from aicc.store.db import Database, open_database
from aicc.store.tables.center import SettingRow
from aicc.store.tables.jobs import LeaseRow
from aicc.testing.postgres import PostgresServer
from aicc.testing.servers import seeded

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
TTL = 15.0


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Database]:
    """One migrated database per backend; each test uses its own lease name within it."""
    home = tmp_path_factory.mktemp("home")
    url = None
    if request.param == "postgresql":
        server: PostgresServer = request.getfixturevalue("postgres")
        url = server.create_database(f"lease_{uuid.uuid4().hex[:12]}")
    seeded(Path(home), url)
    database = open_database(url, Path(home))
    yield database
    database.dispose()


@pytest.fixture
def name() -> str:
    return f"lease-{uuid.uuid4().hex[:8]}"


def lease(db: Database, name: str, holder: str, **kwargs: object) -> Lease:
    return Lease(db, name=name, holder=holder, ttl_s=TTL, **kwargs)  # type: ignore[arg-type]


def stored(db: Database, name: str) -> LeaseRow:
    with db.session() as session:
        row = session.scalar(select(LeaseRow).where(LeaseRow.name == name))
        assert row is not None
        return row


def setting_exists(db: Database, key: str) -> bool:
    with db.session() as session:
        return session.get(SettingRow, key) is not None


def test_the_first_holder_acquires(db: Database, name: str) -> None:
    a = lease(db, name, "a")
    assert not a.held
    assert a.try_acquire(T0)
    assert a.held
    assert a.epoch == 1
    row = stored(db, name)
    assert (row.holder, row.epoch) == ("a", 1)
    assert row.expires_at == T0 + timedelta(seconds=TTL)


def test_a_second_holder_cannot_take_a_valid_lease(db: Database, name: str) -> None:
    a, b = lease(db, name, "a"), lease(db, name, "b")
    assert a.try_acquire(T0)
    assert not b.try_acquire(T0)
    assert not b.try_acquire(T0 + timedelta(seconds=TTL - 1))
    assert not b.held
    assert a.try_acquire(T0 + timedelta(seconds=TTL - 1))  # the holder keeps it
    assert stored(db, name).holder == "a"


def test_renewing_keeps_the_lease_past_the_first_expiry(db: Database, name: str) -> None:
    a, b = lease(db, name, "a"), lease(db, name, "b")
    assert a.try_acquire(T0)
    assert a.try_acquire(T0 + timedelta(seconds=10))
    assert not b.try_acquire(T0 + timedelta(seconds=20))
    assert a.epoch == 1


def test_after_expiry_another_holder_takes_it_with_a_higher_epoch(db: Database, name: str) -> None:
    a, b = lease(db, name, "a"), lease(db, name, "b")
    assert a.try_acquire(T0)
    later = T0 + timedelta(seconds=TTL + 1)
    assert b.try_acquire(later)
    assert b.epoch == 2
    row = stored(db, name)
    assert (row.holder, row.epoch) == ("b", 2)
    # The old holder finds out the next time it asks.
    assert not a.try_acquire(later)
    assert not a.held


def test_a_holder_that_lost_the_lease_cannot_write_even_once(db: Database, name: str) -> None:
    a, b = lease(db, name, "a"), lease(db, name, "b")
    assert a.try_acquire(T0)
    later = T0 + timedelta(seconds=TTL + 1)
    assert b.try_acquire(later)
    key = f"bound-by-a-{name}"
    with pytest.raises(LostLease), db.session() as session:
        session.add(SettingRow(key=key, value={"job": "job_1"}))
        session.flush()
        a.fence(session, later)  # a still believes it leads (a long pause, a split)
    assert not setting_exists(db, key)
    assert not a.held
    assert stored(db, name).holder == "b"


def test_the_leader_fences_and_its_writes_commit(db: Database, name: str) -> None:
    a, b = lease(db, name, "a"), lease(db, name, "b")
    assert a.try_acquire(T0)
    key = f"bound-by-a-{name}"
    at = T0 + timedelta(seconds=10)
    with db.session() as session:
        session.add(SettingRow(key=key, value={"job": "job_1"}))
        a.fence(session, at)
    assert setting_exists(db, key)
    # The fence renewed the lease: it outlives the first expiry.
    assert stored(db, name).expires_at == at + timedelta(seconds=TTL)
    assert not b.try_acquire(T0 + timedelta(seconds=TTL + 1))


def test_an_expired_lease_fences_nobody(db: Database, name: str) -> None:
    a = lease(db, name, "a")
    assert a.try_acquire(T0)
    with pytest.raises(LostLease), db.session() as session:
        a.fence(session, T0 + timedelta(seconds=TTL))


def test_fence_without_the_lease_raises(db: Database, name: str) -> None:
    with pytest.raises(LostLease), db.session() as session:
        lease(db, name, "a").fence(session, T0)


def test_release_lets_another_take_it_at_once(db: Database, name: str) -> None:
    a, b = lease(db, name, "a"), lease(db, name, "b")
    assert a.try_acquire(T0)
    a.release()
    assert not a.held
    assert b.try_acquire(T0)
    assert b.epoch == 2
    with pytest.raises(LostLease), db.session() as session:
        a.fence(session, T0)


def test_a_known_dead_holder_is_taken_over_at_once(db: Database, name: str) -> None:
    a = lease(db, name, "a")
    b = lease(db, name, "b", holder_dead=lambda holder: holder == "a")
    assert a.try_acquire(T0)
    assert b.try_acquire(T0 + timedelta(seconds=1))
    assert b.epoch == 2


def test_two_servers_racing_never_share_an_epoch(db: Database, name: str) -> None:
    """Both threads ask at the same `now` each round; each round the lease has expired again."""
    rounds, calls = 15, 4
    barrier = threading.Barrier(2)
    won: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def contend(holder: str) -> None:
        mine = lease(db, name, holder)
        for r in range(rounds):
            barrier.wait(timeout=30)
            now = T0 + timedelta(seconds=r * 2 * TTL)
            for _ in range(calls):
                if mine.try_acquire(now):
                    assert mine.epoch is not None
                    won[holder].append((r, mine.epoch))
            barrier.wait(timeout=30)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(contend, h) for h in ("a", "b")]:
            future.result()

    holders_of_epoch: dict[int, set[str]] = defaultdict(set)
    holders_of_round: dict[int, set[str]] = defaultdict(set)
    for holder, wins in won.items():
        for r, epoch in wins:
            holders_of_epoch[epoch].add(holder)
            holders_of_round[r].add(holder)
    assert all(len(h) == 1 for h in holders_of_epoch.values()), holders_of_epoch
    assert all(len(holders_of_round[r]) == 1 for r in range(rounds)), holders_of_round
    # Every round the lease expired and changed hands exactly once.
    assert sorted(holders_of_epoch) == list(range(1, rounds + 1))
    assert stored(db, name).epoch == rounds


def test_renew_extends_only_a_lease_still_held(db: Database, name: str) -> None:
    a, b = lease(db, name, "a"), lease(db, name, "b")
    assert a.try_acquire(T0)
    assert a.renew(T0 + timedelta(seconds=10))
    assert stored(db, name).expires_at == T0 + timedelta(seconds=10 + TTL)
    assert not b.try_acquire(T0 + timedelta(seconds=TTL + 1))  # renewed: not expired yet
    late = T0 + timedelta(seconds=10 + TTL + 1)
    assert b.try_acquire(late)
    assert not a.renew(late) and not a.held  # taken: a renew neither revives nor steals it
    assert (stored(db, name).holder, stored(db, name).epoch) == ("b", 2)


def test_a_leader_between_long_passes_keeps_its_lease(tmp_path: Path) -> None:
    """A pass of the loops may take longer than the lease (a slow launch on a busy machine):
    the heartbeat renews it meanwhile, so no survivor takes over a leader that is working
    (benchmarks/chaos.py saw 34 takeovers for 4 kills, and two servers launching at once)."""
    from aicc.loops.controller import Controller
    from aicc.services.common import utcnow
    from aicc.testing.servers import in_process

    ttl = 2.0
    with in_process(tmp_path / "home", loop_interval_s=60, lease_ttl_s=ttl) as (_, state):
        controller: Controller = state.controller
        deadline = time.monotonic() + 10
        while not controller.leading and time.monotonic() < deadline:
            time.sleep(0.05)
        assert controller.leading
        time.sleep(2.5 * ttl)  # no pass runs in this time: only the heartbeat renews
        rival = Lease(state.db, name="controller", holder="elsewhere:1:x", ttl_s=ttl)
        assert not rival.try_acquire(utcnow())
        assert controller.leading
