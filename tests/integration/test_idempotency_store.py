"""The idempotency store on PostgreSQL: answers kept once, keys expire, dead holders' claims are
taken over after their lease."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import HTTPException

from adapters.postgres import connection_pool, create_tables
from adapters.settings import Settings
from api import idempotency
from api.idempotency import SCHEMA, IdempotencyStore, request_hash

FINGERPRINT = request_hash("create_project", {"title": "The Lamp"})


@pytest.fixture(scope="module")
def pool(isolated_settings: Callable[[], Settings]) -> Iterator[Any]:
    pool = connection_pool(isolated_settings(), max_size=2, name="idempotency-test")
    with pool.connection() as conn:
        create_tables(conn, SCHEMA)
    yield pool
    pool.close()


@pytest.fixture
def store(pool: Any) -> IdempotencyStore:
    return IdempotencyStore(pool)


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> tuple[int, dict[str, Any]]:
        self.calls += 1
        return 201, {"call": self.calls}


def backdate(pool: Any, key: str, column: str, seconds: int) -> None:
    with pool.connection() as conn:
        conn.execute(
            f"UPDATE idempotency_keys SET {column} = {column} - make_interval(secs => %s) "
            "WHERE key = %s",
            (seconds, key),
        )


def claim_and_die(pool: Any, key: str) -> None:
    """What a process leaves behind when it is killed mid-action: a claim with no answer."""
    with pool.connection() as conn:
        conn.execute(
            "INSERT INTO idempotency_keys (scope, key, request_hash, claim) "
            "VALUES ('s', %s, %s, gen_random_uuid())",
            (key, FINGERPRINT),
        )


def test_a_repeat_gets_the_first_answer(store):
    action = Counter()
    first = store.run("s", "repeat", FINGERPRINT, action)
    again = store.run("s", "repeat", FINGERPRINT, action)
    assert first == again == (201, {"call": 1})
    assert action.calls == 1, "the repeated request acted twice"


def test_a_different_request_with_the_same_key_is_refused(store):
    store.run("s", "different", FINGERPRINT, Counter())
    with pytest.raises(HTTPException) as refused:
        store.run("s", "different", request_hash("create_project", {"title": "x"}), Counter())
    assert refused.value.status_code == 422


def test_an_expired_key_acts_again(store, pool):
    action = Counter()
    store.run("s", "expired", FINGERPRINT, action)
    backdate(pool, "expired", "created_at", 25 * 3600)
    assert store.run("s", "expired", FINGERPRINT, action) == (201, {"call": 2})
    assert action.calls == 2, "a key older than its ttl still answered from storage"


def test_an_expired_key_used_with_another_request_acts_as_new(store, pool):
    store.run("s", "reused", FINGERPRINT, Counter())
    backdate(pool, "reused", "created_at", 25 * 3600)
    other = request_hash("create_project", {"title": "Another"})
    assert store.run("s", "reused", other, Counter()) == (201, {"call": 1})


def test_expired_keys_are_deleted_now_and_then(store, pool, monkeypatch):
    store.run("s", "old", FINGERPRINT, Counter())
    backdate(pool, "old", "created_at", 25 * 3600)
    monkeypatch.setattr(idempotency, "CLEANUP_CHANCE", 1.0)
    store.run("s", "new", FINGERPRINT, Counter())
    with pool.connection() as conn:
        left = conn.execute("SELECT key FROM idempotency_keys WHERE key IN ('old', 'new')")
        assert [row[0] for row in left.fetchall()] == ["new"]


def test_a_live_claim_answers_409_in_progress(store, pool):
    claim_and_die(pool, "busy")
    with pytest.raises(HTTPException) as busy:
        store.run("s", "busy", FINGERPRINT, Counter(), lease_seconds=60)
    assert busy.value.status_code == 409
    assert busy.value.headers and "Retry-After" in busy.value.headers


def test_a_dead_holders_claim_is_taken_over_after_its_lease(store, pool):
    claim_and_die(pool, "dead")
    backdate(pool, "dead", "claimed_at", 61)
    action = Counter()
    assert store.run("s", "dead", FINGERPRINT, action, lease_seconds=60) == (201, {"call": 1})
    assert store.run("s", "dead", FINGERPRINT, action, lease_seconds=60) == (201, {"call": 1})
    assert action.calls == 1


def test_a_stale_holder_cannot_overwrite_the_answer_of_the_one_that_took_over(store, pool):
    claim_and_die(pool, "stale")
    with pool.connection() as conn:
        stale_claim = conn.execute(
            "SELECT claim FROM idempotency_keys WHERE key = 'stale'"
        ).fetchone()[0]
    backdate(pool, "stale", "claimed_at", 61)
    store.run("s", "stale", FINGERPRINT, Counter(), lease_seconds=60)
    store._act("s", "stale", stale_claim, lambda: (500, {"late": True}))
    assert store.run("s", "stale", FINGERPRINT, Counter()) == (201, {"call": 1})


def test_a_failed_action_frees_the_key(store):
    def fail() -> tuple[int, dict[str, Any]]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        store.run("s", "failed", FINGERPRINT, fail)
    assert store.run("s", "failed", FINGERPRINT, Counter()) == (201, {"call": 1})
