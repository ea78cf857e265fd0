"""What the admin area reads: every production (newest first) and the latest dead letters."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

from confluent_kafka import KafkaException, TopicPartition
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field, ValidationError

from adapters import kafka
from adapters.settings import Settings
from api.production_view import production_view
from schemas.dead_letters import ConsumerDeadLetter

log = logging.getLogger(__name__)
KAFKA_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.1  # consume() waits this long unless it has its batch


class AdminProductionOut(BaseModel):
    production_id: UUID
    owner_id: UUID
    owner_email: str | None = Field(description="None once the owner is erased")
    status: str
    requested_at: datetime
    updated_at: datetime
    progress: float = Field(ge=0, le=1, description="as `GET /v1/productions/{id}` shows it")


class DeadLetterOut(BaseModel):
    group: str
    topic: str
    partition: int
    offset: int
    key: str | None
    error_type: str
    error: str
    at: datetime


PRODUCTIONS_SQL = """
SELECT p.production_id, p.owner_id, CASE WHEN u.erased THEN NULL ELSE u.email END AS owner_email,
       p.status, p.requested_at, p.updated_at,
       COALESCE((SELECT json_agg(json_build_object('stage', x.stage, 'unit', x.unit,
                'attempt', x.attempt, 'status', x.status, 'error', x.error))
                 FROM rm_production_units x WHERE x.production_id = p.production_id), '[]') AS units
FROM rm_productions p LEFT JOIN rm_users u ON u.user_id = p.owner_id
WHERE %(status)s::text IS NULL OR p.status = %(status)s
ORDER BY p.requested_at DESC, p.production_id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""


def productions(
    pool: ConnectionPool, status: str | None, limit: int, offset: int
) -> list[AdminProductionOut]:
    """A page of every owner's productions, newest first, with their overall progress."""
    params = {"status": status, "limit": limit, "offset": offset}
    with pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(PRODUCTIONS_SQL, params).fetchall()
    return [
        AdminProductionOut(
            **{k: row[k] for k in AdminProductionOut.model_fields if k != "progress"},
            progress=production_view({**row, "artifacts": {}})["progress"],
        )
        for row in rows
    ]


def _starts(consumer: Any, topic: str, count: int) -> dict[int, tuple[int, int]]:
    """Per partition that holds messages: the offset `count` messages before its end (or its
    start), and its end."""
    metadata = consumer.list_topics(topic, timeout=KAFKA_TIMEOUT_SECONDS)
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        raise KafkaException(f"topic {topic} is not available")
    starts = {}
    for partition in sorted(found.partitions):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=KAFKA_TIMEOUT_SECONDS
        )
        if high > low:
            starts[partition] = (max(low, high - count), high)
    return starts


def latest_dead_letters(settings: Settings, count: int) -> list[DeadLetterOut]:
    """The last `count` dead letters of `<prefix>.dead_letters`, newest first: up to `count` from
    the end of each partition, read by a consumer without a group that commits nothing."""
    topic = settings.topics.dead_letters()
    consumer = kafka.consumer(
        settings, f"admin-dead-letters-{uuid.uuid4()}", **{"enable.partition.eof": True}
    )
    letters: list[ConsumerDeadLetter] = []
    try:
        starts = _starts(consumer, topic, count)
        if not starts:
            return []
        ends = {partition: end for partition, (_, end) in starts.items()}
        consumer.assign([TopicPartition(topic, p, start) for p, (start, _) in starts.items()])
        left = set(ends)
        deadline = time.monotonic() + KAFKA_TIMEOUT_SECONDS
        while left:
            if time.monotonic() > deadline:
                raise KafkaException(f"{topic} was not read within {KAFKA_TIMEOUT_SECONDS}s")
            for message in consumer.consume(500, POLL_SECONDS):
                partition, offset = message.partition() or 0, message.offset() or 0
                if message.error() is not None:  # end of a partition (or an error): done with it
                    left.discard(partition)
                    continue
                if offset + 1 >= ends[partition]:
                    left.discard(partition)
                try:
                    letters.append(ConsumerDeadLetter.model_validate_json(message.value() or b""))
                except ValidationError:
                    log.warning("malformed dead letter at %s[%s]@%s", topic, partition, offset)
    finally:
        consumer.close()
    letters.sort(key=lambda letter: letter.at, reverse=True)
    return [
        DeadLetterOut(**letter.model_dump(exclude={"value_base64"})) for letter in letters[:count]
    ]
