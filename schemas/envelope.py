"""The event envelope every consumer reads from Kafka, and its conversion from stored events."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import BaseModel, ConfigDict

from schemas.catalogue import BY_TOPIC, ENVELOPE_FIELDS

META_KEY = "__meta__"


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
        return [
            ("type", self.type.encode()),
            ("version", str(self.version).encode()),
            ("event_id", str(self.event_id).encode()),
            ("position", str(self.position).encode()),
        ]

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Envelope:
        return cls.model_validate_json(data)


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
