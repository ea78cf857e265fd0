"""The API's event store keeps aggregates loaded: a load still sees what another process (another
store on the same PostgreSQL) recorded since, and a failed command leaves the cached one intact."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.eventstore import EventStore
from adapters.settings import Settings
from domain.credits import CreditAccount, credit_account_id


@pytest.fixture()
def stores(isolated_settings: Callable[[], Settings]) -> Iterator[tuple[EventStore, EventStore]]:
    settings = isolated_settings()
    cached, other = EventStore(settings, cache_size=100), EventStore(settings)
    yield cached, other
    cached.close()
    other.close()


def account_with_100_credits(store: EventStore) -> UUID:
    """A new credit account saved through `store`; its user's id."""
    user_id = uuid4()
    account = CreditAccount(user_id)
    account.grant(100, "purchase", "first", "")
    store.save_all(account)
    return user_id


def test_a_cached_aggregate_is_fast_forwarded_to_another_stores_writes(stores):
    cached, other = stores
    user_id = account_with_100_credits(cached)
    assert cached.load(credit_account_id(user_id)).balance == 100  # now in the cache

    elsewhere = other.load(credit_account_id(user_id))
    elsewhere.grant(50, "purchase", "second", "")
    other.save_all(elsewhere)

    assert cached.load(credit_account_id(user_id)).balance == 150


def test_a_command_that_loses_a_conflict_leaves_the_cached_aggregate_as_stored(stores):
    cached, other = stores
    user_id = account_with_100_credits(cached)
    stale = cached.load(credit_account_id(user_id))
    winner = other.load(credit_account_id(user_id))
    winner.grant(10, "purchase", "winner", "")
    other.save_all(winner)

    stale.grant(1, "purchase", "loser", "")
    with pytest.raises(IntegrityError):
        cached.save_all(stale)

    assert cached.load(credit_account_id(user_id)).balance == 110
