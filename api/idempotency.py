"""`Idempotency-Key` for POSTs: a retried request gets the first answer instead of acting twice.

A key is kept for a day (`ttl_seconds`): used again after that, an expired key is taken over as a
new one; expired keys are deleted now and then (`CLEANUP_CHANCE` of the keyed requests), so the
common case costs one statement, not two. The request's fingerprint never includes a secret
(`SECRET_FIELDS`). A claim lasts a lease (`lease_seconds`): when the process holding it died
mid-action, a retry after the lease takes the key over instead of being told "in progress"
forever.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from typing import Any
from uuid import uuid4

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
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claimed_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE idempotency_keys ADD COLUMN IF NOT EXISTS claim uuid;
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
"""
MAX_KEY_LENGTH = 255
TTL_SECONDS = 24 * 3600
LEASE_SECONDS = 60.0
SECRET_FIELDS = frozenset({"password", "current_password", "new_password", "token", "secret"})

# Claim the key: a new one, an expired one (it counts as new), or one whose holder's lease ran out
# before it answered.
CLAIM_SQL = """
INSERT INTO idempotency_keys (scope, key, request_hash, claim, claimed_at)
VALUES (%(scope)s, %(key)s, %(hash)s, %(claim)s, now())
ON CONFLICT (scope, key) DO UPDATE SET
    claim = EXCLUDED.claim, claimed_at = now(), request_hash = EXCLUDED.request_hash,
    status = NULL, body = NULL, created_at = now()
WHERE idempotency_keys.created_at < now() - make_interval(secs => %(ttl)s)
   OR (idempotency_keys.status IS NULL
       AND idempotency_keys.request_hash = EXCLUDED.request_hash
       AND idempotency_keys.claimed_at < now() - make_interval(secs => %(lease)s))
RETURNING claim
"""
CLEANUP_SQL = "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => %s)"
CLEANUP_CHANCE = 0.01


def without_secrets(payload: Any) -> Any:
    """The payload with every secret field left out, at any depth."""
    if isinstance(payload, dict):
        return {k: without_secrets(v) for k, v in payload.items() if k not in SECRET_FIELDS}
    if isinstance(payload, list | tuple):
        return [without_secrets(v) for v in payload]
    return payload


def request_hash(route: str, payload: Any) -> str:
    """The request's fingerprint; secrets are never part of it (nor stored)."""
    return hashlib.sha256(
        json.dumps([route, without_secrets(payload)], sort_keys=True, default=str).encode()
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
        ttl_seconds: int = TTL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
    ) -> tuple[int, dict[str, Any]]:
        """Do `action` once per key; a repeat with the same request returns the stored answer."""
        if key is None:
            return action()
        if not 1 <= len(key) <= MAX_KEY_LENGTH:
            raise HTTPException(422, f"Idempotency-Key has 1 to {MAX_KEY_LENGTH} characters")
        claim = uuid4()
        with self._pool.connection() as conn:
            # The claim need not wait for its own WAL flush: whatever the action records durably
            # flushes it too, and a claim lost with nothing after it is a retry that runs anew
            # (as one whose lease ran out does). The answer below is committed durably.
            conn.execute("SET LOCAL synchronous_commit TO OFF")
            if random.random() < CLEANUP_CHANCE:  # noqa: S311 - not for security
                conn.execute(CLEANUP_SQL, (ttl_seconds,))
            claimed = conn.execute(
                CLAIM_SQL,
                {
                    "scope": scope,
                    "key": key,
                    "hash": fingerprint,
                    "claim": claim,
                    "ttl": ttl_seconds,
                    "lease": lease_seconds,
                },
            ).fetchone()
            row = None
            if claimed is None:
                row = conn.execute(
                    "SELECT request_hash, status, body FROM idempotency_keys "
                    "WHERE scope = %s AND key = %s",
                    (scope, key),
                ).fetchone()
        if row is not None:
            if row[0] != fingerprint:
                raise HTTPException(422, "this Idempotency-Key was used with a different request")
            if row[1] is None:
                raise HTTPException(
                    409,
                    "a request with this Idempotency-Key is still in progress",
                    headers={"Retry-After": str(max(1, round(lease_seconds)))},
                )
            return row[1], row[2]
        if claimed is None:  # a clean-up deleted it between the two statements: run anew
            return self.run(scope, key, fingerprint, action, ttl_seconds, lease_seconds)
        return self._act(scope, key, claim, action)

    def _act(
        self, scope: str, key: str, claim: Any, action: Callable[[], tuple[int, dict[str, Any]]]
    ) -> tuple[int, dict[str, Any]]:
        """Run the claimed action and keep its answer (only while the claim is still ours)."""
        try:
            status, body = action()
        except BaseException:
            with self._pool.connection() as conn:
                conn.execute(
                    "DELETE FROM idempotency_keys WHERE scope = %s AND key = %s AND claim = %s",
                    (scope, key, claim),
                )
            raise
        with self._pool.connection() as conn:
            conn.execute(
                "UPDATE idempotency_keys SET status = %s, body = %s "
                "WHERE scope = %s AND key = %s AND claim = %s",
                (status, Jsonb(body), scope, key, claim),
            )
        return status, body
