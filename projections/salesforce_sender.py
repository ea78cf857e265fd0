"""The Salesforce sender: drains the ``salesforce`` projection's `sf_records` into Salesforce.

One sender runs at a time (an advisory lock). Each round takes the due rows, parents first
(users, projects, jobs, credits), opens their sealed values, and upserts them by external id in
sObject Collections of 200, or with Bulk API 2.0 when more than `salesforce_bulk_threshold` are
due (a backfill, or a replay from offset 0); then deletes the records of erased users, children
first. Each record carries `Last_Event_Position__c`, and the org's `Never_Backwards` rule refuses
an older update: such a refusal means Salesforce is ahead, so the row counts as synced.

A row is marked synced only if the projection did not change it meanwhile (same position), so a
change that lands during a send goes out in the next round. A record whose parent Salesforce does
not have yet waits (capped backoff) and is dead-lettered after `MAX_WAITS` tries; one Salesforce
rejects (a validation rule, a bad value) is dead-lettered at once with Salesforce's error, and
the rest carry on. Salesforce unavailable (limits, 5xx, network) or refusing the credentials: the
round stops and is tried again after a capped backoff; nothing is lost.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from adapters import heartbeat
from adapters.dead_letters import DeadLetters
from adapters.keystore import ERASED, KeyStore, is_sealed
from adapters.relay import lock_key
from adapters.retry import Backoff, retry_delay
from adapters.salesforce import (
    RecordResult,
    SalesforceClient,
    SalesforceRefused,
    SalesforceUnavailable,
)
from adapters.settings import Settings
from projections.exclusive import run_exclusively
from projections.salesforce_sync import NAME, PARENTS_FIRST

log = logging.getLogger(__name__)

RECORDS = Counter(
    "studio_salesforce_records", "Salesforce records sent, by object and outcome",
    ["sobject", "outcome"],
)  # fmt: skip
COLLECTION = 200  # records per sObject Collections request
ROUND = 2000  # rows of one object taken per round (without Bulk API)
BULK_ROUND = 50_000  # rows of one object per Bulk API job
POLL_SECONDS = 1.0
RETRY_INITIAL_SECONDS = 5.0
RETRY_CAP_SECONDS = 600.0
MAX_WAITS = 12  # tries of a record whose parent Salesforce lacks
STALE = "STALE_EVENT"

DUE = """
SELECT external_id, owner_id, fields, position, attempts, status FROM sf_records
WHERE sobject = %s AND next_attempt_at <= now()
  AND ((status = 'pending' AND created) OR status = 'deleting')
ORDER BY position LIMIT %s
"""
DUE_COUNT = """
SELECT count(*) FROM sf_records
WHERE next_attempt_at <= now() AND status = 'pending' AND created
"""


@dataclass(frozen=True)
class Due:
    """A row to send: an upsert of its fields, or a deletion."""

    sobject: str
    external_id: str
    owner_id: UUID | None
    fields: dict[str, Any]
    position: int
    attempts: int
    deleting: bool


def missing_parent(result: RecordResult) -> bool:
    return any("foreign key external id" in e.message.lower() for e in result.errors)


def stale(result: RecordResult) -> bool:
    return bool(result.errors) and all(
        e.status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and e.message.startswith(STALE)
        for e in result.errors
    )


class SalesforceSender:
    """Sends what the ``salesforce`` projection holds; `run` until stopped."""

    def __init__(
        self,
        settings: Settings,
        pool: ConnectionPool,
        keys: KeyStore,
        client: Callable[[], SalesforceClient],
        dead_letters: DeadLetters | Callable[[], DeadLetters],
        retry_initial: float = RETRY_INITIAL_SECONDS,
        retry_cap: float = RETRY_CAP_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.keys = keys
        self._new_client = client
        self._client: SalesforceClient | None = None
        self._dead_letters = dead_letters
        self.retry_initial = retry_initial
        self.retry_cap = retry_cap
        self.poll_seconds = poll_seconds
        self.lock = lock_key(settings.topics.group("salesforce.sender"))
        self.projection_lock = lock_key(settings.topics.group(f"projection.{NAME}"))

    @property
    def client(self) -> SalesforceClient:
        if self._client is None:
            self._client = self._new_client()
        return self._client

    @property
    def dead_letters(self) -> DeadLetters:
        if not isinstance(self._dead_letters, DeadLetters):
            self._dead_letters = self._dead_letters()
        return self._dead_letters

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def run(self, stop: threading.Event) -> None:
        """Send due records until `stop`, one sender at a time; outages are waited out."""
        run_exclusively(
            "salesforce sender", self.settings.pg_conninfo, self.lock, stop, self.send_due,
            poll_seconds=self.poll_seconds, backoff=Backoff(initial=1.0, cap=300.0),
            wait_out=(SalesforceUnavailable, SalesforceRefused),
        )  # fmt: skip

    # -- one round

    def send_due(self) -> int:
        """Upsert the due records, parents first, then delete the erased ones, children first;
        how many rows were handled (0: nothing was due, or a replay holds the projection)."""
        bulk = self._due_count() > self.settings.salesforce_bulk_threshold
        handled = 0
        for sobject in PARENTS_FIRST:
            rows = self.due(sobject, BULK_ROUND if bulk else ROUND)
            upserts = [r for r in rows if not r.deleting]
            handled += len(rows)
            if upserts:
                self._upsert(sobject, upserts, bulk)
        for sobject in reversed(PARENTS_FIRST):
            deletions = [r for r in self.due(sobject, ROUND) if r.deleting]
            if deletions:
                self._delete(sobject, deletions)
        return handled

    def _due_count(self) -> int:
        with self.pool.connection() as conn:
            row = conn.execute(DUE_COUNT).fetchone()
        return int(row[0]) if row else 0

    def due(self, sobject: str, limit: int) -> list[Due]:
        """Due rows of `sobject`; none while a replay rebuilds the projection (it holds the
        projection's lock), whose half-built rows are not to be sent."""
        with self.pool.connection() as conn, conn.transaction():
            free = conn.execute(
                "SELECT pg_try_advisory_xact_lock_shared(%s)", (self.projection_lock,)
            ).fetchone()
            if not (free and free[0]):
                return []
            rows = conn.execute(DUE, (sobject, limit)).fetchall()
        return [
            Due(sobject, ext, owner, dict(fields), position, attempts, status == "deleting")
            for ext, owner, fields, position, attempts, status in rows
        ]

    def record(self, row: Due) -> dict[str, Any] | None:
        """The record as Salesforce takes it, sealed values opened; None once its owner is
        erased (their erasure deletes it)."""
        opened: dict[str, Any] = {}
        for name, value in row.fields.items():
            if isinstance(value, dict) and "$cipher" in value:
                if row.owner_id is None:
                    return None
                value = self.keys.decrypt(row.owner_id, value["$cipher"])
            elif is_sealed(value):
                value = self.keys.open_text(value)
            if value == ERASED:
                return None
            opened[name] = value
        return {**opened, "External_Id__c": row.external_id, "Last_Event_Position__c": row.position}

    def _upsert(self, sobject: str, rows: Sequence[Due], bulk: bool) -> None:
        ready: list[tuple[Due, dict[str, Any]]] = []
        for row in rows:
            record = self.record(row)
            if record is None:
                self._mark(row, "deleting")
            else:
                ready.append((row, record))
        if not ready:
            return
        if bulk:
            results = self.client.bulk_upsert(sobject, [record for _, record in ready])
            self._settle(ready, results)
            return
        for start in range(0, len(ready), COLLECTION):
            heartbeat.beat()
            chunk = ready[start : start + COLLECTION]
            self._settle(chunk, self.client.upsert(sobject, [record for _, record in chunk]))

    def _settle(
        self, sent: Sequence[tuple[Due, dict[str, Any]]], results: Sequence[RecordResult]
    ) -> None:
        by_id = {result.external_id: result for result in results}
        for row, _ in sent:
            result = by_id.get(row.external_id)
            if result is None:
                self._wait(row, "Salesforce gave no result for the record")
            elif result.success or stale(result):
                self._synced(row, "upserted" if result.success else "stale")
            elif missing_parent(result) or result.transient:  # a parent to come; a lock
                self._wait(row, "; ".join(e.message for e in result.errors))
            else:
                self._reject(row, result)

    def _delete(self, sobject: str, rows: Sequence[Due]) -> None:
        for start in range(0, len(rows), COLLECTION):
            chunk = rows[start : start + COLLECTION]
            results = self.client.delete(sobject, [row.external_id for row in chunk])
            by_id = {result.external_id: result for result in results}
            for row in chunk:
                result = by_id.get(row.external_id)
                if result is not None and result.success:
                    self._mark(row, "deleted")
                    RECORDS.labels(sobject, "deleted").inc()
                else:
                    why = "; ".join(e.message for e in result.errors) if result else "no result"
                    self._wait(row, why)

    # -- outcomes

    def _synced(self, row: Due, outcome: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE sf_records SET status = 'synced', synced_position = %s, attempts = 0, "
                "last_error = NULL WHERE sobject = %s AND external_id = %s AND position = %s "
                "AND status = 'pending'",
                (row.position, row.sobject, row.external_id, row.position),
            )
        RECORDS.labels(row.sobject, outcome).inc()

    def _mark(self, row: Due, status: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE sf_records SET status = %s, fields = CASE WHEN %s IN "
                "('deleting', 'deleted') THEN '{}' ELSE fields END, attempts = 0, "
                "last_error = NULL, next_attempt_at = now() "
                "WHERE sobject = %s AND external_id = %s",
                (status, status, row.sobject, row.external_id),
            )

    def _wait(self, row: Due, why: str) -> None:
        attempts = row.attempts + 1
        if attempts >= MAX_WAITS:
            self._dead(row, "WAITED_TOO_LONG", why)
            return
        delay = retry_delay(attempts, self.retry_initial, self.retry_cap)
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE sf_records SET attempts = %s, last_error = %s, "
                "next_attempt_at = now() + %s WHERE sobject = %s AND external_id = %s "
                "AND position = %s",
                (attempts, why[:1000], timedelta(seconds=delay), row.sobject, row.external_id,
                 row.position),
            )  # fmt: skip
        RECORDS.labels(row.sobject, "waiting").inc()

    def _reject(self, row: Due, result: RecordResult) -> None:
        first = result.errors[0]
        errors = "; ".join(f"{e.status_code}: {e.message}" for e in result.errors)
        self._dead(row, first.status_code, errors)

    def _dead(self, row: Due, error_type: str, reason: str) -> None:
        with self.pool.connection() as conn:
            conn.execute(
                "UPDATE sf_records SET status = 'rejected', last_error = %s "
                "WHERE sobject = %s AND external_id = %s AND position = %s",
                (f"{error_type}: {reason}"[:1000], row.sobject, row.external_id, row.position),
            )
        value = {
            "sobject": row.sobject,
            "external_id": row.external_id,
            "position": row.position,
            "attempts": row.attempts + 1,
        }
        self.dead_letters.send_raw(
            f"{self.settings.topic_prefix}.salesforce",
            -1,  # not a Kafka message: a record of the projection, named in the value
            -1,
            f"{row.sobject}:{row.external_id}",
            json.dumps(value).encode(),
            error_type,
            reason,
        )
        RECORDS.labels(row.sobject, "rejected").inc()
