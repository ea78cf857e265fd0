"""Rate limits shared by every API process: fixed-window counters in PostgreSQL, one UPSERT per
counted request. Buckets name what is limited (e.g. ``register:ip``) and whom, hashed: no email or
address is stored in the clear. Over its limit a request is answered 429 with `Retry-After`."""

from __future__ import annotations

import hashlib
import math
import random

from fastapi import HTTPException, Request
from psycopg_pool import ConnectionPool

SCHEMA = """
CREATE TABLE IF NOT EXISTS rate_limits (
    bucket text PRIMARY KEY,
    window_start timestamptz NOT NULL,
    hits integer NOT NULL
);
CREATE INDEX IF NOT EXISTS rate_limits_window ON rate_limits (window_start);
"""
CLEANUP_CHANCE = 0.01  # a counted request now and then deletes long-closed windows

# Count one hit in the bucket's open window, or open a new window; how many, and for how long.
HIT_SQL = """
INSERT INTO rate_limits AS r (bucket, window_start, hits) VALUES (%(bucket)s, now(), 1)
ON CONFLICT (bucket) DO UPDATE SET
    hits = CASE WHEN r.window_start <= now() - make_interval(secs => %(window)s)
           THEN 1 ELSE r.hits + 1 END,
    window_start = CASE WHEN r.window_start <= now() - make_interval(secs => %(window)s)
                   THEN now() ELSE r.window_start END
RETURNING hits, extract(epoch FROM window_start + make_interval(secs => %(window)s) - now())
"""
CLEANUP_SQL = "DELETE FROM rate_limits WHERE window_start < now() - make_interval(secs => %s)"
PEEK_SQL = """
SELECT hits, extract(epoch FROM window_start + make_interval(secs => %(window)s) - now())
FROM rate_limits
WHERE bucket = %(bucket)s AND window_start > now() - make_interval(secs => %(window)s)
"""


def bucket(kind: str, who: str) -> str:
    """The bucket of `kind` for `who` (an address, a lower-cased email), hashed."""
    digest = hashlib.sha256(f"filmstudio:{kind}:{who.strip().lower()}".encode()).hexdigest()
    return f"{kind}:{digest[:32]}"


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class RateLimits:
    """Counters in the `rate_limits` table (`SCHEMA`, created with the API's other tables)."""

    def __init__(self, pool: ConnectionPool, window_seconds: int) -> None:
        self.pool = pool
        self.window_seconds = window_seconds

    def hit(self, kind: str, who: str, limit: int, reason: str) -> None:
        """Count a request; 429 when the window now holds more than `limit`."""
        counted = self._execute(HIT_SQL, bucket(kind, who))
        assert counted is not None  # an UPSERT always returns its row
        hits, remaining = counted
        if hits > limit:
            raise _limited(reason, remaining)

    def count(self, kind: str, who: str) -> None:
        """Count a request (e.g. a failed sign-in) without refusing it."""
        self._execute(HIT_SQL, bucket(kind, who))

    def check(self, kind: str, who: str, limit: int, reason: str) -> None:
        """429 when the window already holds `limit` counted requests; counts nothing."""
        found = self._execute(PEEK_SQL, bucket(kind, who))
        if found is not None and found[0] >= limit:
            raise _limited(reason, found[1])

    def _execute(self, sql: str, name: str) -> tuple[int, float] | None:
        with self.pool.connection() as conn:
            row = conn.execute(sql, {"bucket": name, "window": self.window_seconds}).fetchone()
            if random.random() < CLEANUP_CHANCE:  # noqa: S311 - not for security
                conn.execute(CLEANUP_SQL, (2 * self.window_seconds,))
        return None if row is None else (int(row[0]), float(row[1]))


def _limited(reason: str, remaining: float) -> HTTPException:
    retry = max(1, math.ceil(float(remaining)))
    return HTTPException(429, f"{reason}; retry in {retry} s", headers={"Retry-After": str(retry)})
