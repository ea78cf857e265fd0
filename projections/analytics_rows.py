"""The analytics feed's rows: what each event type keeps, its Arrow schema, deterministic Parquet.

Policy (docs/analytics.md): every sealed field (``*_cipher``, ``schemas.catalogue.SEALED_FIELDS``)
and every creative or personal free text or third-party id (``DROPPED``) is left out; user ids
(``USER_FIELDS``, and the aggregate id of user and credits events) become ``user_key``, a
pseudonym only the user's own key computes; the actor keeps only its role.
"""

from __future__ import annotations

import io
import json
import re
import types
import typing
from datetime import datetime
from typing import Any
from uuid import UUID

import pyarrow as pa
import pyarrow.parquet as pq

from schemas.catalogue import SEALED_FIELDS, EventType
from schemas.envelope import Envelope

USER_FIELDS = ("owner_id", "user_id")  # replaced by the common column user_key
USER_AGGREGATES = ("user", "credits")  # aggregate ids that identify a person
DROPPED: dict[str, tuple[str, ...]] = {
    "credits.Charged": ("reference",),
    "credits.Granted": ("reason", "reference"),  # an operator's free text
    "credits.Purchased": ("reference", "payment"),  # Stripe ids lead to the customer
    "credits.Revoked": ("purchase", "reference"),
    "credits.SubscriptionChanged": ("subscription",),
    "credits.SubscriptionPaymentFailed": ("invoice", "subscription"),
    "publication.Requested": ("tags",),  # the creator's words
    "publication.Uploaded": ("video_id", "url"),  # the creator's public channel
}
DROPPED_OPTIONS = ("voices",)  # production.Requested options: character names are creative text

COMMON = pa.schema(
    [
        ("event_id", pa.string()),
        ("type", pa.string()),
        ("version", pa.int32()),
        ("position", pa.int64()),
        ("occurred_at", pa.timestamp("us", tz="UTC")),
        ("aggregate_type", pa.string()),
        ("aggregate_id", pa.string()),  # the user_key for user and credits events
        ("sequence", pa.int64()),
        ("correlation_id", pa.string()),
        ("actor_role", pa.string()),  # "creator", "admin", "system", "anonymous" ...
        ("user_key", pa.string()),
    ]
)
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "compression_level": 3,
    "use_dictionary": True,
    "write_statistics": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


def kept(event_type: EventType, field: str) -> bool:
    """Whether a payload field goes to the feed as it is."""
    return not (
        field.endswith("_cipher")
        or field in SEALED_FIELDS.get(event_type.type, ())
        or field in DROPPED.get(event_type.type, ())
        or field in USER_FIELDS
    )


def _arrow_type(hint: Any) -> pa.DataType:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType) and len(args) == 1:
        return _arrow_type(args[0])
    if origin is list and args == [str]:
        return pa.list_(pa.string())
    simple: dict[Any, pa.DataType] = {
        bool: pa.bool_(),
        int: pa.int64(),
        float: pa.float64(),
        str: pa.string(),
        UUID: pa.string(),
    }
    return simple.get(hint, pa.string())  # anything else (dicts): JSON text


def arrow_schema(event_type: EventType) -> pa.Schema:
    """The common columns, then the kept payload fields in their declared order."""
    fields = [
        pa.field(name, _arrow_type(info.annotation))
        for name, info in event_type.payload.model_fields.items()
        if kept(event_type, name)
    ]
    return pa.schema([*COMMON, *fields])


def _value(name: str, value: Any) -> Any:
    if isinstance(value, dict):
        if name == "options":
            value = {k: v for k, v in value.items() if k not in DROPPED_OPTIONS}
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return value


def build_row(
    envelope: Envelope, event_type: EventType, payload: dict[str, Any], user_key: str | None
) -> dict[str, Any]:
    """One feed row (JSON-ready: ``occurred_at`` as ISO text) of a decoded, upcast event."""
    aggregate = envelope.aggregate
    row: dict[str, Any] = {
        "event_id": str(envelope.event_id),
        "type": envelope.type,
        "version": event_type.version,
        "position": envelope.position,
        "occurred_at": envelope.occurred_at.isoformat(),
        "aggregate_type": aggregate.type,
        "aggregate_id": user_key if aggregate.type in USER_AGGREGATES else str(aggregate.id),
        "sequence": aggregate.sequence,
        "correlation_id": envelope.correlation_id,
        "actor_role": envelope.actor.partition(":")[0],
        "user_key": user_key,
    }
    for name, value in payload.items():
        if kept(event_type, name):
            row[name] = _value(name, value)
    return row


def parquet_bytes(schema: pa.Schema, rows: list[dict[str, Any]]) -> bytes:
    """The rows as one Parquet file; the same rows give the same bytes."""
    columns = {
        field.name: [
            datetime.fromisoformat(r["occurred_at"])
            if field.name == "occurred_at"
            else r.get(field.name)
            for r in rows
        ]
        for field in schema
    }
    table = pa.Table.from_pydict(columns, schema=schema)
    sink = io.BytesIO()
    pq.write_table(table, sink, **PARQUET_OPTIONS)
    return sink.getvalue()


def view_name(event_type: str) -> str:
    """The DuckDB view of an event type: "credits.Purchased" -> "credits_purchased"."""
    aggregate, _, name = event_type.partition(".")
    return f"{aggregate}_{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}"


def folder(event_type: str, day: str) -> str:
    return f"type={event_type}/day={day}"


def part_name(event_type: str, day: str, part: int) -> str:
    return f"{folder(event_type, day)}/part-{part:05d}.parquet"
