"""Group commit on the real PostgreSQL: concurrent saves share transactions, lose nothing, report
a version conflict to exactly the caller that lost it, and become visible in id order."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any
from uuid import uuid4

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from psycopg import sql

from adapters.eventstore import EventStore
from adapters.settings import Settings
from adapters.studio_recorder import StudioRecorder
from domain.credits import CreditAccount


@pytest.fixture()
def settings(isolated_settings: Callable[[], Settings]) -> Settings:
    return isolated_settings()


@pytest.fixture()
def store(settings: Settings) -> Iterator[EventStore]:
    app = EventStore(settings)
    yield app
    app.close()


def recorder(store: EventStore) -> StudioRecorder:
    assert isinstance(store.recorder, StudioRecorder)
    return store.recorder


def committed_ids(store: EventStore, after: int = 0) -> list[int]:
    table = sql.Identifier(recorder(store).events_table_name)
    with store.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            sql.SQL("SELECT notification_id FROM {} WHERE notification_id > %s ORDER BY 1").format(
                table
            ),
            (after,),
        ).fetchall()
    return [row["notification_id"] for row in rows]


def hold_first_round_until(store: EventStore, queued: int) -> threading.Event:
    """Make the next round wait until `queued` more saves are queued behind it, so they all
    share the round after it (deterministic sharing, no timing). Returns 'first round started'."""
    group = recorder(store).group_commit
    run_round = group._run_round
    started = threading.Event()

    def gated(works: Any) -> Any:
        if not started.is_set():
            started.set()
            while len(group._queue) < queued:
                threading.Event().wait(0.001)
        return run_round(works)

    group._run_round = gated  # type: ignore[method-assign]
    return started


def run_all(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call on its own thread; its result or the exception it raised."""
    outcomes: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def test_concurrent_saves_share_rounds_and_lose_nothing(store):
    before = store.last_position()
    gate = CreditAccount(user_id=uuid4())
    started = hold_first_round_until(store, queued=16)
    first = threading.Thread(target=store.save_all, args=(gate,))
    first.start()
    assert started.wait(30)
    accounts = [CreditAccount(user_id=uuid4()) for _ in range(16)]
    for account in accounts:
        account.grant(100, "purchase", "welcome", "")
    outcomes = run_all([lambda a=a: store.save_all(a) for a in accounts])
    first.join(30)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    assert recorder(store).group_commit.rounds == 2, "the 16 saves shared one round"
    ids = committed_ids(store, before)
    assert ids == list(range(before + 1, before + 1 + 1 + 2 * 16)), "gapless, nothing lost"
    for account, last in zip(accounts, outcomes, strict=True):
        recorded = store.recorder.select_events(account.id)
        assert [e.originator_version for e in recorded] == [1, 2]
        assert last in ids
        assert store.load(account.id).balance == 100
    positions = sorted(outcomes)
    assert len(set(positions)) == 16, "each caller got its own last position"


def test_a_conflict_fails_exactly_the_caller_that_lost_it(store):
    contested = CreditAccount(user_id=uuid4())
    store.save_all(contested)
    winner, loser = store.load(contested.id), store.load(contested.id)
    winner.grant(1, "purchase", "first", "")
    loser.grant(2, "purchase", "second", "")
    others = [CreditAccount(user_id=uuid4()) for _ in range(6)]
    before = store.last_position()

    started = hold_first_round_until(store, queued=8)
    gate = threading.Thread(target=store.save_all, args=(CreditAccount(user_id=uuid4()),))
    gate.start()
    assert started.wait(30)
    saves: list[Any] = [winner, *others[:3], loser, *others[3:]]
    outcomes = run_all([lambda a=a: store.save_all(a) for a in saves])
    gate.join(30)

    failed = [a for a, o in zip(saves, outcomes, strict=True) if isinstance(o, IntegrityError)]
    assert len(failed) == 1 and failed[0] in (winner, loser), outcomes
    assert sum(isinstance(o, Exception) for o in outcomes) == 1, outcomes
    for account in others:
        assert store.recorder.select_events(account.id), "an innocent save was lost"
    survivor = winner if failed[0] is loser else loser
    assert store.load(contested.id).balance == (1 if survivor is winner else 2)
    ids = committed_ids(store, before)
    assert ids == sorted(ids) and len(ids) == 1 + 6 + 1  # the gate, the others, the survivor


def test_a_tailing_reader_never_passes_an_id_that_commits_later(settings, store):
    """Ids become visible in order (the table lock stays): a reader that only ever asks for
    ids above the last it saw, as the relay does, still sees every event."""
    stop = threading.Event()
    seen: list[int] = []
    conninfo = settings.pg_conninfo
    table = sql.Identifier(recorder(store).events_table_name)

    def tail() -> None:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            query = sql.SQL(
                "SELECT notification_id FROM {} WHERE notification_id > %s ORDER BY 1"
            ).format(table)
            while not stop.is_set():
                last = seen[-1] if seen else 0
                seen.extend(r[0] for r in conn.execute(query, (last,)).fetchall())

    def writer(n: int) -> None:
        account = CreditAccount(user_id=uuid4())
        store.save_all(account)
        for i in range(40):
            account.grant(1, "purchase", f"grant {n}.{i}", "")
            store.save_all(account)

    reader = threading.Thread(target=tail)
    reader.start()
    run_all([lambda n=n: writer(n) for n in range(8)])
    stop.set()
    reader.join(30)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        query = sql.SQL("SELECT notification_id FROM {} WHERE notification_id > %s ORDER BY 1")
        rest = [r[0] for r in conn.execute(query.format(table), (seen[-1] if seen else 0,))]
    assert seen + rest == committed_ids(store) and len(seen + rest) == 8 * 41
