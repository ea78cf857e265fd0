"""The projection runner's own bookkeeping tables, and the read-your-writes wait."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from uuid import UUID

from psycopg import Connection, errors
from psycopg_pool import ConnectionPool

from adapters.postgres import create_tables
from adapters.relay_position import RelayPosition

Partition = tuple[str, int]

SCHEMA = """
CREATE TABLE IF NOT EXISTS projection_offsets (
    projection text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    next_offset bigint NOT NULL,
    PRIMARY KEY (projection, topic, partition)
);
CREATE TABLE IF NOT EXISTS projection_state (
    projection text PRIMARY KEY,
    position bigint NOT NULL DEFAULT 0,
    generation bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS projection_pending (
    projection text NOT NULL,
    position bigint NOT NULL,
    offsets jsonb NOT NULL,
    PRIMARY KEY (projection, position)
);
CREATE TABLE IF NOT EXISTS projection_aggregates (
    projection text NOT NULL,
    aggregate_id uuid NOT NULL,
    sequence bigint NOT NULL,
    PRIMARY KEY (projection, aggregate_id)
);
"""


def ensure_schema(conn: Connection, *schemas: str) -> None:
    """Create the runner's tables and the given projection schemas."""
    create_tables(conn, SCHEMA, *schemas)


def state(conn: Connection, projection: str) -> tuple[int, int]:
    """(watermark position, generation); the row is created on first use."""
    conn.execute(
        "INSERT INTO projection_state (projection) VALUES (%s) ON CONFLICT DO NOTHING",
        (projection,),
    )
    row = conn.execute(
        "SELECT position, generation FROM projection_state WHERE projection = %s", (projection,)
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def offsets(conn: Connection, projection: str, lock: bool = False) -> dict[Partition, int]:
    """The next offset to apply, per partition; ``lock`` holds the rows until commit."""
    query = "SELECT topic, partition, next_offset FROM projection_offsets WHERE projection = %s"
    rows = conn.execute(query + (" FOR UPDATE" if lock else ""), (projection,)).fetchall()
    return {(topic, partition): next_offset for topic, partition, next_offset in rows}


def save_offsets(conn: Connection, projection: str, next_offsets: Mapping[Partition, int]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO projection_offsets (projection, topic, partition, next_offset) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (projection, topic, partition) "
            "DO UPDATE SET next_offset = EXCLUDED.next_offset",
            [(projection, t, p, o) for (t, p), o in next_offsets.items()],
        )


def sequences(conn: Connection, projection: str, ids: Iterable[UUID]) -> dict[UUID, int]:
    """The last applied sequence of each of these aggregates (absent: none applied)."""
    rows = conn.execute(
        "SELECT aggregate_id, sequence FROM projection_aggregates "
        "WHERE projection = %s AND aggregate_id = ANY(%s)",
        (projection, list(ids)),
    ).fetchall()
    return {aggregate_id: sequence for aggregate_id, sequence in rows}


def save_sequences(conn: Connection, projection: str, applied: Mapping[UUID, int]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO projection_aggregates (projection, aggregate_id, sequence) "
            "VALUES (%s, %s, %s) ON CONFLICT (projection, aggregate_id) "
            "DO UPDATE SET sequence = EXCLUDED.sequence",
            [(projection, a, s) for a, s in applied.items()],
        )


def pending(conn: Connection, projection: str) -> list[RelayPosition]:
    rows = conn.execute(
        "SELECT position, offsets FROM projection_pending WHERE projection = %s", (projection,)
    ).fetchall()
    return [RelayPosition(position, dict(offs)) for position, offs in rows]


def save_watermark(
    conn: Connection,
    projection: str,
    position: int,
    waiting: Iterable[RelayPosition],
    added: Iterable[RelayPosition],
) -> None:
    """Store the new watermark; keep the records still ``waiting``, of which ``added`` are new."""
    waiting_positions = [r.position for r in waiting]
    conn.execute(
        "DELETE FROM projection_pending WHERE projection = %s AND NOT position = ANY(%s)",
        (projection, waiting_positions),
    )
    new = [r for r in added if r.position in set(waiting_positions)]
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO projection_pending (projection, position, offsets) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            [(projection, r.position, json.dumps(r.offsets)) for r in new],
        )
    conn.execute(
        "UPDATE projection_state SET position = %s, updated_at = now() "
        "WHERE projection = %s AND position < %s",
        (position, projection, position),
    )


def reset(conn: Connection, projection: str) -> int:
    """Forget everything the projection consumed; returns the new generation."""
    for table in ("projection_offsets", "projection_pending", "projection_aggregates"):
        conn.execute(f"DELETE FROM {table} WHERE projection = %s", (projection,))
    state(conn, projection)
    row = conn.execute(
        "UPDATE projection_state SET position = 0, generation = generation + 1, "
        "updated_at = now() WHERE projection = %s RETURNING generation",
        (projection,),
    ).fetchone()
    assert row is not None
    return int(row[0])


def wait_for_position(
    conn_or_pool: Connection | ConnectionPool,
    projection: str,
    min_position: int,
    timeout: float,
    interval: float = 0.02,
) -> bool:
    """Whether the projection has applied every event up to ``min_position`` within ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if _position(conn_or_pool, projection) >= min_position:
            return True
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        time.sleep(min(interval, left))


def _position(conn_or_pool: Connection | ConnectionPool, projection: str) -> int:
    """The projection's watermark (0 while its tables do not exist yet)."""
    if isinstance(conn_or_pool, ConnectionPool):
        with conn_or_pool.connection() as conn:
            return _read_position(conn, projection)
    return _read_position(conn_or_pool, projection)


def _read_position(conn: Connection, projection: str) -> int:
    try:
        with conn.transaction():  # a savepoint inside the caller's transaction
            row = conn.execute(
                "SELECT position FROM projection_state WHERE projection = %s", (projection,)
            ).fetchone()
    except errors.UndefinedTable:
        return 0
    return 0 if row is None else int(row[0])
