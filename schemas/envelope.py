"""The event envelope every consumer reads from Kafka, and its conversion from stored events."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import BaseModel, ConfigDict

from schemas.catalogue import BY_TOPIC, ENVELOPE_FIELDS

META_KEY = "__meta__"
# The position an envelope is built with before its event is recorded (the notification id is
# known only after the insert); `published_bytes` splices the real one in.
POSITION_PLACEHOLDER = 2**62
_POSITION_SLOT = b'"position":%d' % POSITION_PLACEHOLDER
_EVENT_ID_PREFIX = b'{"event_id":"'


class AggregateRef(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: str
    id: UUID
    sequence: int


class Envelope(BaseModel):
    """One event as published: `position` is its place in the store's global order."""

    model_config = ConfigDict(frozen=True)

    event_id: UUID
    type: str
    version: int
    aggregate: AggregateRef
    position: int
    occurred_at: datetime
    correlation_id: str
    causation_id: str
    actor: str
    payload: dict[str, Any]

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers, so tooling can filter without parsing the value."""
        return envelope_headers(
            self.type.encode(), self.version, str(self.event_id).encode(), self.position
        )

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        return cls.model_validate_json(data)


def envelope_headers(
    event_type: bytes, version: int, event_id: bytes, position: int
) -> list[tuple[str, bytes]]:
    """An envelope's Kafka headers from its parts (the relay's fast path builds them so)."""
    return [
        ("type", event_type),
        ("version", b"%d" % version),
        ("event_id", event_id),
        ("position", b"%d" % position),
    ]


def event_id(aggregate_id: UUID, sequence: int) -> UUID:
    """Stable per stored event, so a republished event is recognised as the same one."""
    return uuid5(NAMESPACE_URL, f"filmstudio:event:{aggregate_id}:{sequence}")


def envelope_from_stored(
    topic: str, aggregate_id: UUID, sequence: int, position: int, state: dict[str, Any]
) -> Envelope:
    """Build the envelope from a stored event's topic and decoded state."""
    event_type = BY_TOPIC[topic]
    meta = state.get(META_KEY) or {}
    fields = {
        k: v
        for k, v in state.items()
        if k not in ENVELOPE_FIELDS and k not in (META_KEY, "class_version")
    }
    payload = event_type.payload.model_validate(fields).model_dump(mode="json")
    return Envelope(
        event_id=event_id(aggregate_id, sequence),
        type=event_type.type,
        version=event_type.version,
        aggregate=AggregateRef(type=event_type.aggregate, id=aggregate_id, sequence=sequence),
        position=position,
        occurred_at=state["timestamp"],
        correlation_id=meta.get("correlation_id", ""),
        causation_id=meta.get("causation_id", ""),
        actor=meta.get("actor", "system"),
        payload=payload,
    )


def published_bytes(template: bytes, position: int) -> bytes:
    """The published envelope: `template` (an envelope's bytes built at `POSITION_PLACEHOLDER`)
    with its position set. The first ``"position":`` in the bytes is the envelope's own: the
    fields before it (event id, type, version, aggregate) are strings and integers, and a JSON
    string cannot hold an unescaped quote."""
    if _POSITION_SLOT not in template:
        raise ValueError("not an envelope template: no placeholder position")
    return template.replace(_POSITION_SLOT, b'"position":%d' % position, 1)


def template_event_id(template: bytes) -> bytes:
    """The event id of an envelope's bytes, read from where it always is (the first field)."""
    if not template.startswith(_EVENT_ID_PREFIX):
        raise ValueError("not an envelope: the event id does not come first")
    start = len(_EVENT_ID_PREFIX)
    return template[start : start + 36]


def published_message(
    template: bytes, event_type: bytes, version: bytes, position: int
) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The value and headers of `template`'s message at `position`: `published_bytes` and
    `envelope_headers` in one pass, for the relay's per-event path."""
    slot = template.find(_POSITION_SLOT)
    if slot < 0 or not template.startswith(_EVENT_ID_PREFIX):
        raise ValueError("not an envelope template")
    digits = b"%d" % position
    value = b"".join(
        (template[:slot], b'"position":', digits, template[slot + len(_POSITION_SLOT) :])
    )
    start = len(_EVENT_ID_PREFIX)
    headers = [
        ("type", event_type),
        ("version", version),
        ("event_id", template[start : start + 36]),
        ("position", digits),
    ]
    return value, headers
