"""`Idempotency-Key` for POSTs: a retried request gets the first answer instead of acting twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency_keys (
    scope text NOT NULL,
    key text NOT NULL,
    request_hash text NOT NULL,
    status integer,
    body jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
"""
MAX_KEY_LENGTH = 255


def request_hash(route: str, payload: Any) -> str:
    return hashlib.sha256(
        json.dumps([route, payload], sort_keys=True, default=str).encode()
    ).hexdigest()


class IdempotencyStore:
    """Keeps each successful answer by (caller, key); failures are not kept, so retries run."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def run(
        self,
        scope: str,
        key: str | None,
        fingerprint: str,
        action: Callable[[], tuple[int, dict[str, Any]]],
    ) -> tuple[int, dict[str, Any]]:
        """Do `action` once per key; a repeat with the same request returns the stored answer."""
        if key is None:
            return action()
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise HTTPException(422, f"Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters")
        with self._pool.connection() as conn:
            claimed = conn.execute(
                "INSERT INTO idempotency_keys (scope, key, request_hash) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (scope, key, fingerprint),
            ).rowcount
            if not claimed:
                row = conn.execute(
                    "SELECT request_hash, status, body FROM idempotency_keys "
                    "WHERE scope = %s AND key = %s",
                    (scope, key),
                ).fetchone()
        if not claimed:
            assert row is not None
            if row[0] != fingerprint:
                raise HTTPException(422, "this Idempotency-Key was used with a different request")
            if row[1] is None:
                raise HTTPException(409, "a request with this Idempotency-Key is still in progress")
            return row[1], row[2]
        try:
            status, body = action()
        except BaseException:
            with self._pool.connection() as conn:
                conn.execute(
                    "DELETE FROM idempotency_keys WHERE scope = %s AND key = %s", (scope, key)
                )
            raise
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET status = %s, body = %s WHERE scope = %s AND key = %s",
                (status, Jsonb(body), scope, key),
            )
        return status, body
