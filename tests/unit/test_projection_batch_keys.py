"""A batch's keys are read once: the users a batch names, and a key store answering from them."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID, uuid4

from adapters.keystore import ERASED, KeyStore
from projections.batch_keys import batch_keys, users_named
from schemas.envelope import AggregateRef, Envelope


def envelope(kind: str, aggregate: UUID, payload: dict[str, object]) -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=f"{kind}.Something",
        version=1,
        aggregate=AggregateRef(type=kind, id=aggregate, sequence=1),
        position=1,
        occurred_at=datetime.now(UTC),
        correlation_id="c",
        causation_id="c",
        actor="test",
        payload=payload,
    )


class CountingKeys(KeyStore):
    """An in-memory key store that counts the wrapped keys its storage is asked for."""

    def __init__(self) -> None:
        base = KeyStore.in_memory("unit-test-master")
        super().__init__(base.storage, "unit-test-master")
        self.asked: list[UUID] = []
        wrapped_key = self.storage.wrapped_key

        def counted(user_id: UUID) -> bytes | None:
            self.asked.append(user_id)
            return wrapped_key(user_id)

        self.storage.wrapped_key = counted  # type: ignore[method-assign]


def test_the_users_of_a_batch_are_its_user_aggregates_and_the_owners_of_its_sealed_text():
    keys = KeyStore.in_memory("unit-test-master")
    user, owner = uuid4(), uuid4()
    keys.create_key(owner)
    batch = [
        envelope("user", user, {"role": "creator"}),
        envelope("project", uuid4(), {"title": keys.seal_text(owner, "The Lamp"), "n": 3}),
        envelope("project", uuid4(), {"text": "v2:not-a-uuid:AAAA"}),  # malformed: left out
    ]
    assert users_named(batch) == {user, owner}


def test_each_key_is_read_once_per_batch_and_opens_what_it_did_before():
    keys = CountingKeys()
    owner = uuid4()
    keys.create_key(owner)
    sealed = [keys.seal_text(owner, f"Scene {n}") for n in range(5)]
    batch = [envelope("project", uuid4(), {"text": token}) for token in sealed]
    keys.asked.clear()

    scoped = batch_keys(None, keys, batch)  # type: ignore[arg-type] - no database in memory
    opened = [scoped.open_text(token) for token in sealed]

    assert opened == [f"Scene {n}" for n in range(5)]
    assert keys.asked == [owner]


def test_an_erasure_is_seen_by_the_next_batch():
    keys = KeyStore.in_memory("unit-test-master")
    owner = uuid4()
    keys.create_key(owner)
    token = keys.seal_text(owner, "Secret")
    batch = [envelope("project", uuid4(), {"title": token})]
    assert batch_keys(None, keys, batch).open_text(token) == "Secret"  # type: ignore[arg-type]
    keys.destroy_key(owner)
    assert batch_keys(None, keys, batch).open_text(token) == ERASED  # type: ignore[arg-type]
