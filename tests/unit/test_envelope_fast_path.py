"""The relay's fast path: envelope bytes kept at append time, position spliced in, headers built
from parts. For every event type of the catalogue, sealed fields and metadata included, the
message the relay sends must be exactly what `Envelope` gives (the published contract)."""

from __future__ import annotations

import typing
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.persistence import Notification
from eventsourcing.utils import get_topic

from adapters.eventstore import EnvelopedEvent, EventStore
from adapters.keystore import KeyStore, is_sealed
from adapters.metadata import message_context
from adapters.relay_reader import Outgoings, to_envelope
from schemas.catalogue import AGGREGATES, BY_TYPE, OWNER_FIELDS, SEALED_FIELDS
from schemas.envelope import (
    POSITION_PLACEHOLDER,
    Envelope,
    envelope_headers,
    published_bytes,
    published_message,
    template_event_id,
)

EVENT_TYPES = sorted(BY_TYPE)


def sample(hint: Any, name: str) -> Any:
    """A value of the field's declared type, with characters JSON must escape in the text."""
    if hint is bool:
        return True
    if hint is int or hint == int | None:
        return 7
    if hint is float:
        return 2.5
    if hint is str or hint == str | None:
        return f'{name} "quoted" \\ é ✓ \n "position":1,'
    if hint is UUID:
        return uuid4()
    if typing.get_origin(hint) is list:
        return ["a", "b"]
    if typing.get_origin(hint) is dict:
        return {"k": "v", "position": "x"}
    raise AssertionError(f"no sample for {hint}")


@pytest.fixture(scope="module")
def store():
    app = EventStore.in_memory(KeyStore.in_memory("fast-path-master"))
    yield app
    app.close()


def stored_event(store: EventStore, type_name: str) -> EnvelopedEvent:
    """One event of the type, through the store's mapper (metadata added, text sealed)."""
    spec = BY_TYPE[type_name]
    owner, aggregate_id = uuid4(), uuid4()
    store.keys.create_key(owner)
    payload = {
        name: sample(info.annotation, name) for name, info in spec.payload.model_fields.items()
    }
    if type_name in OWNER_FIELDS:
        payload[OWNER_FIELDS[type_name]] = owner
    else:
        store.keys.bind(aggregate_id, owner)
    if "originator_topic" in typing.get_type_hints(spec.event_class):  # a creation event
        payload["originator_topic"] = get_topic(AGGREGATES[spec.aggregate])
    event = spec.event_class(
        originator_id=aggregate_id,
        originator_version=3,
        timestamp=datetime(2026, 12, 1, 11, 58, 55, 123456, tzinfo=UTC),
        **payload,
    )
    with message_context(actor=str(owner), correlation_id="corr-42"):
        stored = store.mapper.to_stored_event(event)
    assert isinstance(stored, EnvelopedEvent) and stored.envelope is not None
    return stored


@pytest.mark.parametrize("type_name", EVENT_TYPES)
@pytest.mark.parametrize("position", [1, 987_654_321, POSITION_PLACEHOLDER - 1])
def test_fast_path_bytes_and_headers_are_the_envelopes(store, unit_settings, type_name, position):
    stored = stored_event(store, type_name)
    notification = Notification(
        id=position,
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=stored.state,
    )
    expected = to_envelope(store.mapper, notification)  # the slow path: decode, validate, dump
    aggregate_id = str(stored.originator_id)
    outgoings = Outgoings(unit_settings, store.mapper)

    fast = outgoings(position, aggregate_id, 3, stored.topic, stored.envelope, None)
    slow = outgoings(position, aggregate_id, 3, stored.topic, None, stored.state)

    for sent in (fast, slow):
        assert sent.value == expected.to_bytes()
        assert sent.headers == expected.headers()
        assert sent.key == aggregate_id.encode() and sent.position == position
        assert sent.topic == unit_settings.topics.events(BY_TYPE[type_name].aggregate)
    assert Envelope.from_bytes(fast.value) == expected
    assert expected.actor and expected.correlation_id == "corr-42"
    for name in SEALED_FIELDS.get(type_name, ()):
        assert is_sealed(expected.payload[name]), f"{type_name}.{name} went out in clear"


def test_the_contract_helpers_build_the_same_bytes(store):
    stored = stored_event(store, "project.ScriptRevised")
    template = stored.envelope
    assert template is not None
    envelope = Envelope.from_bytes(template)
    assert envelope.position == POSITION_PLACEHOLDER
    assert published_bytes(template, 5) == envelope.model_copy(update={"position": 5}).to_bytes()
    assert template_event_id(template) == str(envelope.event_id).encode()
    assert envelope_headers(b"project.ScriptRevised", 1, b"e", 5)[3] == ("position", b"5")


def test_published_bytes_refuses_what_is_not_a_template():
    with pytest.raises(ValueError, match="placeholder"):
        published_bytes(b'{"event_id":"x","position":5}', 9)
    with pytest.raises(ValueError, match="event id"):
        template_event_id(b'{"type":"x"}')
    with pytest.raises(ValueError, match="template"):
        published_message(b'{"type":"x","position":4611686018427387904}', b"t", b"1", 9)


def test_events_outside_the_catalogue_carry_no_envelope(store):
    """The library's own events (snapshots) are not published: nothing to keep for them."""
    from domain.credits import CreditAccount

    account = CreditAccount(user_id=uuid4())
    store.save(account)
    store.take_snapshot(account.id)
    snapshot = store.snapshots.recorder.select_events(account.id)[0]  # type: ignore[union-attr]
    assert getattr(snapshot, "envelope", None) is None
