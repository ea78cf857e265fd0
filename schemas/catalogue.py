"""The event catalogue: every domain event type, its version and its payload model.

Built from the aggregates themselves, so the domain stays the one place events are declared.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic
from pydantic import BaseModel, ConfigDict, create_model

from domain.credits import CreditAccount
from domain.production import Production
from domain.project import Project
from domain.publication import Publication
from domain.user import User

AGGREGATES: dict[str, type[Aggregate]] = {
    "user": User,
    "credits": CreditAccount,
    "project": Project,
    "production": Production,
    "publication": Publication,
}
ENVELOPE_FIELDS = {"originator_id", "originator_version", "timestamp", "originator_topic"}


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class EventType:
    aggregate: str
    name: str
    version: int
    event_class: type
    payload: type[Payload]

    @property
    def type(self) -> str:
        return f"{self.aggregate}.{self.name}"


def _payload_model(aggregate: str, name: str, version: int, event_class: type) -> type[Payload]:
    hints = typing.get_type_hints(event_class)
    fields: dict[str, Any] = {
        field: (hint, ...)
        for field, hint in hints.items()
        if field not in ENVELOPE_FIELDS and typing.get_origin(hint) is not typing.ClassVar
    }
    title = f"{aggregate.title()}{name}V{version}"
    return create_model(title, __base__=Payload, **fields)


def _catalogue() -> dict[str, EventType]:
    found: dict[str, EventType] = {}
    for aggregate, cls in AGGREGATES.items():
        events = {
            name: attr
            for name, attr in vars(cls).items()
            if isinstance(attr, type) and issubclass(attr, Aggregate.Event) and name != "Event"
        }
        creations = [n for n, a in events.items() if issubclass(a, Aggregate.Created)]
        if len(creations) > 1:  # the creation event has its own name: drop the unused base
            events.pop("Created")
        for name, attr in events.items():
            version = getattr(attr, "class_version", 1)
            found[get_topic(attr)] = EventType(
                aggregate, name, version, attr, _payload_model(aggregate, name, version, attr)
            )
    return found


BY_TOPIC: dict[str, EventType] = _catalogue()
BY_TYPE: dict[str, EventType] = {e.type: e for e in BY_TOPIC.values()}

# Creative text a creator types, sealed under the aggregate owner's key by the event store's
# mapper (`adapters.eventstore`): on the wire each stays a string, now a "v2:<owner>:..." token,
# so no new version is needed. Destroying the owner's key shreds them everywhere.
SEALED_FIELDS: dict[str, tuple[str, ...]] = {
    "project.Created": ("title",),
    "project.SettingsChanged": ("title",),
    "project.ScriptRevised": ("text",),
    "project.ScriptSuggested": ("text",),
    "production.Cancelled": ("reason",),
    "publication.Requested": ("title", "description"),
    "credits.Purchased": ("invoice_url",),  # a link to the buyer's invoice (name, address)
    "credits.SubscriptionPaymentFailed": ("invoice_url",),
}
# The events that name an aggregate's owner: the key their aggregate's sealed fields use.
OWNER_FIELDS: dict[str, str] = {
    "project.Created": "owner_id",
    "production.Requested": "owner_id",
    "publication.Requested": "owner_id",
}  # a credit account is bound to its user by billing, before its first sealed event
