"""Building the published envelope from a stored event (in-memory event store, no services)."""

from uuid import UUID, uuid4

import pytest

from adapters.eventstore import EventStore
from adapters.keystore import KeyStore
from adapters.metadata import message_context
from adapters.relay import lock_key, to_envelope
from adapters.relay_position import RelayPosition
from domain.credits import CreditAccount, credit_account_id
from domain.project import Project
from domain.user import User
from schemas.catalogue import BY_TYPE
from schemas.envelope import Envelope, event_id


@pytest.fixture
def store():
    app = EventStore.in_memory(KeyStore.in_memory("test-master"))
    yield app
    app.close()


def recorded(store):
    return store.recorder.select_notifications(start=None, limit=100)


def test_envelopes_carry_identity_order_metadata_and_payload(store):
    user_id = uuid4()
    store.keys.create_key(user_id)
    user = User(
        id=user_id,
        email_cipher="e",
        display_name_cipher="n",
        password_hash_cipher="p",
        role="creator",
    )
    project = Project.create(user_id, "Film", "en", "16:9")
    project.revise_script("plain", "Hello there.")
    with message_context(actor=str(user_id), correlation_id="corr-1") as meta:
        store.save(user, CreditAccount(user_id=user_id), project)

    envelopes = [to_envelope(store.mapper, n) for n in recorded(store)]

    assert [e.type for e in envelopes] == [
        "user.Registered",
        "credits.Opened",
        "project.Created",
        "project.ScriptRevised",
    ]
    assert [e.position for e in envelopes] == [n.id for n in recorded(store)]
    registered, opened, created, revised = envelopes
    assert registered.aggregate.id == user_id and registered.aggregate.sequence == 1
    assert registered.payload == {
        "email_cipher": "e",
        "display_name_cipher": "n",
        "password_hash_cipher": "p",
        "role": "creator",
    }
    assert opened.aggregate.type == "credits"
    assert opened.aggregate.id == credit_account_id(user_id)
    assert UUID(opened.payload["user_id"]) == user_id
    assert revised.aggregate.sequence == 2
    assert revised.payload["text"].startswith(f"v2:{user_id}:"), "the script is sealed"
    assert store.keys.open_text(revised.payload["text"]) == "Hello there."
    assert {k: v for k, v in revised.payload.items() if k != "text"} == {
        "revision": 1,
        "script_format": "plain",
    }
    for envelope in envelopes:
        assert envelope.event_id == event_id(envelope.aggregate.id, envelope.aggregate.sequence)
        assert (envelope.actor, envelope.correlation_id) == (str(user_id), "corr-1")
        assert envelope.causation_id == meta.causation_id
        assert envelope.version == BY_TYPE[envelope.type].version


def test_envelope_bytes_and_headers_round_trip(store):
    store.save(CreditAccount(user_id=uuid4()))
    envelope = to_envelope(store.mapper, recorded(store)[0])
    assert Envelope.from_bytes(envelope.to_bytes()) == envelope
    headers = dict(envelope.headers())
    assert headers["type"] == b"credits.Opened" and headers["version"] == b"1"
    assert headers["event_id"] == str(envelope.event_id).encode()


def test_events_outside_a_command_are_the_systems():
    app = EventStore.in_memory()
    app.save(CreditAccount(user_id=uuid4()))
    envelope = to_envelope(app.mapper, recorded(app)[0])
    assert envelope.actor == "system" and envelope.correlation_id == ""


def test_relay_position_record_round_trips():
    record = RelayPosition(42, {"studio.events.user:0": 7, "studio.events.credits:2": 3})
    assert RelayPosition.from_bytes(record.to_bytes()) == record


def test_lock_key_is_a_stable_signed_bigint():
    key = lock_key("studio.relay")
    assert key == lock_key("studio.relay") != lock_key("other.relay")
    assert -(2**63) <= key < 2**63
