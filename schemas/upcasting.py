"""Decode an envelope's payload and upcast it to its event type's latest version.

Follows the eventsourcing library's convention: an event class at ``class_version = N`` has
static methods ``upcast_v1_v2(state)``, ..., ``upcast_vN-1_vN(state)`` that change a stored
event's state dict in place, one version at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.catalogue import BY_TYPE, EventType
from schemas.envelope import Envelope


class UnknownEvent(LookupError):
    """An envelope whose type is not in the catalogue, or newer than the catalogue knows."""


def upcast(event_class: type, version: int, state: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``state`` (an event of ``event_class`` at ``version``) at the latest version."""
    latest = int(getattr(event_class, "class_version", 1))
    if version > latest:
        raise UnknownEvent(f"{event_class.__qualname__} v{version} is newer than v{latest}")
    upgraded = dict(state)
    for step in range(version, latest):
        getattr(event_class, f"upcast_v{step}_v{step + 1}")(upgraded)
    return upgraded


def decode(
    envelope: Envelope, catalogue: Mapping[str, EventType] = BY_TYPE
) -> tuple[EventType, dict[str, Any]]:
    """The envelope's event type and its payload upcast and validated (JSON-ready values)."""
    event_type = catalogue.get(envelope.type)
    if event_type is None:
        raise UnknownEvent(f"unknown event type {envelope.type!r}")
    state = upcast(event_type.event_class, envelope.version, envelope.payload)
    return event_type, event_type.payload.model_validate(state).model_dump(mode="json")
