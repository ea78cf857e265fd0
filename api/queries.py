"""Queries: they read the read models only, each scoped to its caller."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

LEDGER_LIMIT = 200


class ReadModels:
    """Read access to the projected tables."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool

    def _one(self, sql: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, params).fetchone()

    def _all(self, sql: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        with self._pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            return cur.execute(sql, params).fetchall()

    def user(self, user_id: UUID) -> dict[str, Any] | None:
        return self._one(
            "SELECT user_id, email, display_name, role, verified, email_language, product_email, "
            "balance, reserved, owed FROM rm_users WHERE user_id = %s AND NOT erased",
            (user_id,),
        )

    def users(self, limit: int, offset: int) -> list[dict[str, Any]]:
        return self._all(
            "SELECT user_id, email, display_name, role, balance, reserved, registered_at "
            "FROM rm_users WHERE NOT erased ORDER BY registered_at, user_id LIMIT %s OFFSET %s",
            (limit, offset),
        )

    def projects(self, owner_id: UUID) -> list[dict[str, Any]]:
        return self._all(
            "SELECT project_id, title, language, aspect_ratio, revision, archived, created_at, "
            "updated_at FROM rm_projects WHERE owner_id = %s ORDER BY created_at, project_id",
            (owner_id,),
        )

    def project(self, owner_id: UUID, project_id: UUID) -> dict[str, Any] | None:
        return self._one(
            "SELECT project_id, title, language, aspect_ratio, revision, script_format, "
            "script_text, archived, created_at, updated_at FROM rm_projects "
            "WHERE owner_id = %s AND project_id = %s",
            (owner_id, project_id),
        )

    def voice_samples(self, user_id: UUID) -> list[dict[str, Any]]:
        return self._all(
            "SELECT sample_id, name, seconds, added_at FROM rm_voice_samples "
            "WHERE user_id = %s ORDER BY added_at, sample_id",
            (user_id,),
        )

    def production(self, owner_id: UUID, production_id: UUID) -> dict[str, Any] | None:
        return self._one(
            "SELECT production_id, project_id, revision, options, credits, estimated_seconds, "
            "status, cancel_reason, failure, artifacts, duration_seconds, requested_at, "
            "updated_at FROM rm_productions WHERE owner_id = %s AND production_id = %s",
            (owner_id, production_id),
        )

    def project_productions(self, owner_id: UUID, project_id: UUID) -> list[dict[str, Any]]:
        """The project's productions, newest first (at most 100)."""
        return self._all(
            "SELECT production_id, revision, status, requested_at, updated_at, duration_seconds "
            "FROM rm_productions WHERE owner_id = %s AND project_id = %s "
            "ORDER BY requested_at DESC, production_id LIMIT 100",
            (owner_id, project_id),
        )

    def production_detail(self, owner_id: UUID, production_id: UUID) -> dict[str, Any] | None:
        """A production with its dispatched units (`units`), read in one consistent statement."""
        return self._one(
            "SELECT p.production_id, p.project_id, p.revision, p.options, p.credits, "
            "p.estimated_seconds, p.status, p.cancel_reason, p.failure, p.artifacts, "
            "p.duration_seconds, p.requested_at, p.updated_at, "
            "COALESCE((SELECT json_agg(json_build_object('stage', u.stage, 'unit', u.unit, "
            "'attempt', u.attempt, 'status', u.status, 'error', u.error)) "
            "FROM rm_production_units u WHERE u.production_id = p.production_id), '[]') AS units "
            "FROM rm_productions p WHERE p.owner_id = %s AND p.production_id = %s",
            (owner_id, production_id),
        )

    def ledger(self, user_id: UUID) -> list[dict[str, Any]]:
        return self._all(
            "SELECT event_id, kind, amount, production_id, source, reason, position, occurred_at "
            "FROM rm_credit_ledger WHERE user_id = %s ORDER BY position DESC LIMIT %s",
            (user_id, LEDGER_LIMIT),
        )

    def purchases(self, user_id: UUID) -> list[dict[str, Any]]:
        return self._all(
            "SELECT reference, source, plan_id, credits, revoked, amount_cents, currency, "
            "nullif(invoice_url, '') AS invoice_url, occurred_at FROM rm_purchases "
            "WHERE user_id = %s ORDER BY position DESC LIMIT %s",
            (user_id, LEDGER_LIMIT),
        )

    def subscription(self, user_id: UUID) -> dict[str, Any] | None:
        """The live subscription if there is one, else the last one."""
        return self._one(
            "SELECT subscription, plan_id, status, period_end, cancel_at_period_end, "
            "last_payment_failed_at FROM rm_subscriptions WHERE user_id = %s "
            "ORDER BY status = 'canceled', updated_at DESC LIMIT 1",
            (user_id,),
        )

    def publications(self, owner_id: UUID, production_id: UUID) -> list[dict[str, Any]]:
        return self._all(
            "SELECT publication_id, title, privacy, state, attempts, nullif(video_id, '') AS "
            "video_id, nullif(url, '') AS url, nullif(failure, '') AS failure, requested_at, "
            "updated_at FROM rm_publications WHERE owner_id = %s AND production_id = %s "
            "ORDER BY requested_at DESC",
            (owner_id, production_id),
        )
