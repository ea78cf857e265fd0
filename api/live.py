"""Live progress of a production over Server-Sent Events: `GET /v1/productions/{id}/events`.

The stream sends `snapshot` events (the production as `GET /v1/productions/{id}` shows it) and
`tick` events (the `ProgressTick` messages of `<prefix>.progress` for this production), heartbeat
comments while nothing happens, and a last `end` event once the production is completed, failed
or cancelled. Ticks come from a consumer without a group, assigned to the one partition that holds
the production's key (murmur2, as the producers partition) from its end; it is closed when the
stream ends or the client goes away. `EventSource` cannot send a header: it opens the stream with
`?token=` from `POST /v1/productions/{id}/stream-token` (`api/stream_tokens.py`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Protocol
from uuid import UUID

import anyio
from confluent_kafka import Consumer, TopicPartition
from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ValidationError

from adapters import kafka
from adapters.settings import Settings
from api import models
from api.deps import Caller, Consistent, Svc
from api.problems import problem_response, problems
from api.production_view import production_view
from api.stream_tokens import STREAM_TOKEN_SECONDS, EventsCaller, link_tokens
from schemas.work import ProgressTick

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["productions"])

FINISHED = ("completed", "failed", "cancelled")
POLL_SECONDS = 0.5
REFRESH_WINDOW_SECONDS = 10.0  # after a tick, look this long for the read model to show it
RECHECK_SECONDS = 5.0  # otherwise compare the snapshot this often
KAFKA_TIMEOUT_SECONDS = 10.0
MAX_BATCH = 200
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_THREADS = 256  # Kafka calls of the streams, apart from the threads of the sync routes
_limiter: anyio.CapacityLimiter | None = None


def _kafka_threads() -> anyio.CapacityLimiter:
    """The streams' own thread limiter, so open streams never starve the other routes."""
    global _limiter
    if _limiter is None:
        _limiter = anyio.CapacityLimiter(STREAM_THREADS)
    return _limiter


def sse(event: str, data: str) -> str:
    """One Server-Sent Event; a multi-line payload becomes several `data:` lines."""
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n"


HEARTBEAT = ": heartbeat\n\n"


class TickSource(Protocol):
    async def poll(self, timeout: float) -> list[ProgressTick]: ...

    async def close(self) -> None: ...


class KafkaTicks:
    """One production's ticks, read from the end of the partition that holds its key."""

    def __init__(self, settings: Settings, production_id: UUID) -> None:
        self.key = str(production_id).encode()
        self.topic = settings.topics.progress
        self.consumer: Consumer = kafka.consumer(
            settings,
            f"sse-{uuid.uuid4()}",  # never joins: partitions are assigned, offsets not committed
            **{"auto.offset.reset": "latest", "isolation.level": "read_uncommitted"},
        )

    def _assign(self) -> None:
        metadata = self.consumer.list_topics(self.topic, timeout=KAFKA_TIMEOUT_SECONDS)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            raise RuntimeError(f"topic {self.topic} is not available")
        partition = kafka.partition_for(self.key, len(topic.partitions))
        _, high = self.consumer.get_watermark_offsets(
            TopicPartition(self.topic, partition), timeout=KAFKA_TIMEOUT_SECONDS
        )
        self.consumer.assign([TopicPartition(self.topic, partition, high)])

    @classmethod
    async def open(cls, settings: Settings, production_id: UUID) -> KafkaTicks:
        """Assigned at the partition's current end: every tick from now on is seen."""
        ticks = cls(settings, production_id)
        try:
            await anyio.to_thread.run_sync(ticks._assign, limiter=_kafka_threads())
        except BaseException:
            await ticks.close()
            raise
        return ticks

    def _poll(self, timeout: float) -> list[ProgressTick]:
        found = []
        for message in self.consumer.consume(MAX_BATCH, timeout):
            if message.error() is not None:
                log.warning("progress consumer: %s", message.error())
                continue
            if message.key() != self.key:
                continue
            try:
                found.append(ProgressTick.model_validate_json(message.value() or b""))
            except ValidationError:
                log.warning("malformed progress tick at offset %s", message.offset())
        return found

    async def poll(self, timeout: float) -> list[ProgressTick]:
        return await anyio.to_thread.run_sync(self._poll, timeout, limiter=_kafka_threads())

    async def close(self) -> None:
        with anyio.CancelScope(shield=True):  # runs even while the stream is being cancelled
            await anyio.to_thread.run_sync(self.consumer.close, limiter=_kafka_threads())


Snapshot = Callable[[], Awaitable[models.ProductionOut | None]]


async def production_events(
    snapshot: Snapshot,
    open_ticks: Callable[[], Awaitable[TickSource]],
    heartbeat_seconds: float,
    clock: Callable[[], float] = time.monotonic,
) -> AsyncIterator[str]:
    """The event stream: snapshot first, then ticks, snapshots that changed, and `end`.

    Ticks are opened before the first snapshot is read, so nothing after it is missed. After a
    tick the read model is compared for a while (it follows the tick shortly) and a snapshot is
    sent when it changed; it is compared every few seconds anyway.
    """
    try:
        ticks = await open_ticks()
    except Exception as error:  # Kafka unreachable: say so instead of cutting the response
        log.warning("live progress unavailable: %s", error)
        yield sse("error", json.dumps({"detail": "live progress is unavailable; retry shortly"}))
        return
    try:
        current = await snapshot()
        if current is None:  # gone since the route checked it (cannot happen today)
            yield sse("end", json.dumps({"status": "gone"}))
            return
        yield sse("snapshot", current.model_dump_json())
        now = clock()
        last_sent, refresh_until, next_check = now, 0.0, now + RECHECK_SECONDS
        while current.status not in FINISHED:
            for tick in await ticks.poll(POLL_SECONDS):
                yield sse("tick", tick.model_dump_json())
                last_sent = clock()
                refresh_until = last_sent + REFRESH_WINDOW_SECONDS
            now = clock()
            if now < refresh_until or now >= next_check:
                next_check = now + RECHECK_SECONDS
                fresh = await snapshot()
                if fresh is not None and fresh != current:
                    current = fresh
                    yield sse("snapshot", current.model_dump_json())
                    last_sent = now
            if now - last_sent >= heartbeat_seconds:
                yield HEARTBEAT
                last_sent = now
        yield sse("end", json.dumps({"status": current.status}))
    finally:
        await ticks.close()


def _event(name: str, data: dict[str, Any]) -> dict[str, Any]:
    """The schema of one kind of event: its name and its JSON `data`."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": data,
            },
        },
    }


def _object(field: str) -> dict[str, Any]:
    return {"type": "object", "required": [field], "properties": {field: {"type": "string"}}}


EVENT_SCHEMA = {  # each event of the stream (OpenAPI 3.1: `schema` of text/event-stream)
    "oneOf": [
        _event("snapshot", {"$ref": "#/components/schemas/ProductionOut"}),
        _event("tick", {"$ref": "#/components/schemas/ProgressTick"}),
        _event("end", _object("status")),
        _event("error", _object("detail")),
    ]
}


@router.get(
    "/productions/{production_id}/events",
    response_class=StreamingResponse,
    dependencies=[Consistent],
    responses={
        200: {
            "content": {"text/event-stream": {"schema": EVENT_SCHEMA}},
            "description": "events `snapshot` (a ProductionOut), `tick` (a ProgressTick) and a "
            "last `end` ({status}); comment lines as heartbeats",
        },
        **problems(401, 422, 503),
        404: problem_response(404, "no such production (or not yours)"),
    },
)
async def production_stream(
    production_id: UUID,
    caller: EventsCaller,
    svc: Svc,
    heartbeat: Annotated[
        float, Query(ge=0.5, le=60, description="seconds between heartbeat comments")
    ] = 15.0,
) -> StreamingResponse:
    """Follow a production live until it is completed, failed or cancelled. Authenticate with
    the bearer header or, where no header can be sent (`EventSource`), with `?token=` of
    `POST /v1/productions/{id}/stream-token`."""

    async def snapshot() -> models.ProductionOut | None:
        row = await anyio.to_thread.run_sync(
            svc.reads.production_detail, caller.user_id, production_id
        )
        return None if row is None else models.ProductionOut.model_validate(production_view(row))

    first = await snapshot()
    if first is None:
        raise HTTPException(404, "no such production")

    async def open_ticks() -> TickSource:
        if first.status in FINISHED:
            return NoTicks()
        return await KafkaTicks.open(svc.settings, production_id)

    return StreamingResponse(
        production_events(snapshot, open_ticks, heartbeat),
        media_type="text/event-stream",
        headers=SSE_HEADERS,
    )


class NoTicks:
    """The tick source of a production that has already finished."""

    async def poll(self, timeout: float) -> list[ProgressTick]:
        return []

    async def close(self) -> None:
        return None


class StreamToken(BaseModel):
    token: str
    expires_at: datetime


@router.post(
    "/productions/{production_id}/stream-token",
    response_model=StreamToken,
    responses={
        **problems(401, 422, 503),
        404: problem_response(404, "no such production (or not yours)"),
    },
)
def stream_token(production_id: UUID, caller: Caller, svc: Svc) -> StreamToken:
    """A token to open this production's event stream within a minute, as
    `GET /v1/productions/{id}/events?token=...` (`EventSource` cannot send a header)."""
    if svc.reads.production(caller.user_id, production_id) is None:
        raise HTTPException(404, "no such production")
    token, expires = link_tokens(svc).issue(caller, production_id, "events", STREAM_TOKEN_SECONDS)
    return StreamToken(token=token, expires_at=expires)
