"""The ``notifications`` projection: which events give which e-mail, written to an outbox.

`apply` never sends: it inserts one `mail_outbox` row per (event, kind), `ON CONFLICT DO
NOTHING`, in the runner's transaction. The outbox is not among the projection's `tables`, so a
replay from offset 0 (which empties them and applies everything again) sends nothing twice.
`projections.mail_sender` drains it. The projection's own tables keep what choosing and
addressing an e-mail needs: each user's address (still encrypted), language, opt-out, password
version and erasure; each credit account's user; each production's owner and reserved credits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from adapters.settings import Settings
from schemas.envelope import Envelope

NAME = "notifications"

# kind -> essential (sent whatever the user's preferences; else only while they want product mail)
KINDS: dict[str, bool] = {
    "welcome": True,
    "password_reset": True,
    "password_changed": True,
    "receipt": True,
    "subscription_renewed": True,
    "subscription_failed": True,
    "credits_revoked": True,
    "production_completed": False,
    "production_failed": False,
    "balance_low": False,
}

SCHEMA = """
CREATE TABLE IF NOT EXISTS nt_users (
    user_id uuid PRIMARY KEY,
    email_cipher text NOT NULL,
    name_cipher text NOT NULL,
    language text NOT NULL DEFAULT 'en',
    product_email boolean NOT NULL DEFAULT true,
    password_version integer NOT NULL DEFAULT 0,
    erased boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS nt_accounts (
    account_id uuid PRIMARY KEY,
    user_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS nt_productions (
    production_id uuid PRIMARY KEY,
    owner_id uuid NOT NULL,
    credits bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS mail_outbox (
    event_id uuid NOT NULL,
    kind text NOT NULL,
    user_id uuid NOT NULL,
    data jsonb NOT NULL,
    source_topic text NOT NULL,
    position bigint NOT NULL,
    occurred_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    claimed_at timestamptz,
    sent_at timestamptz,
    message_id text,
    last_error text,
    PRIMARY KEY (event_id, kind)
);
CREATE INDEX IF NOT EXISTS mail_outbox_due ON mail_outbox (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS mail_outbox_user ON mail_outbox (user_id) WHERE status = 'pending';
"""
TABLES = ("nt_users", "nt_accounts", "nt_productions")
DEFAULT_MAX_AGE = timedelta(hours=24)


@dataclass(frozen=True)
class Notice:
    """The e-mail an event calls for: its kind and what the template needs (no personal data
    in clear: an invoice link stays sealed until the e-mail is sent)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def _purchased(p: dict[str, Any]) -> Notice:
    kind = "subscription_renewed" if p["source"] == "subscription" else "receipt"
    keep = ("credits", "amount_cents", "currency", "plan_id", "invoice_url", "settled_debt")
    return Notice(kind, {k: p[k] for k in keep})


NOTICES: dict[str, Callable[[Envelope], Notice]] = {
    "user.Registered": lambda e: Notice("welcome"),
    "user.PasswordResetRequested": lambda e: Notice("password_reset"),
    "user.PasswordChanged": lambda e: Notice("password_changed"),
    "credits.Purchased": lambda e: _purchased(e.payload),
    "credits.SubscriptionPaymentFailed": lambda e: Notice(
        "subscription_failed",
        {k: e.payload[k] for k in ("amount_cents", "currency", "invoice_url")},
    ),
    "credits.Revoked": lambda e: Notice(
        "credits_revoked", {k: e.payload[k] for k in ("credits", "taken", "owed", "reason")}
    ),
    "credits.BalanceLow": lambda e: Notice(
        "balance_low", {k: e.payload[k] for k in ("balance", "threshold")}
    ),
    "production.Completed": lambda e: Notice(
        "production_completed",
        {"production_id": str(e.aggregate.id), "duration_seconds": e.payload["duration_seconds"]},
    ),
    "production.Failed": lambda e: Notice(
        "production_failed", {"production_id": str(e.aggregate.id)}
    ),
}


def notice(envelope: Envelope) -> Notice | None:
    """The e-mail `envelope` calls for, if any."""
    make = NOTICES.get(envelope.type)
    return None if make is None else make(envelope)


# Keeping the state


def _registered(conn: Connection, e: Envelope) -> None:
    conn.execute(
        "INSERT INTO nt_users (user_id, email_cipher, name_cipher) VALUES (%s, %s, %s) "
        "ON CONFLICT (user_id) DO NOTHING",
        (e.aggregate.id, e.payload["email_cipher"], e.payload["display_name_cipher"]),
    )


def _user(assignments: str, *values: Any) -> Callable[[Connection, Envelope], None]:
    def update(conn: Connection, e: Envelope) -> None:
        conn.execute(
            f"UPDATE nt_users SET {assignments} WHERE user_id = %s", (*values, e.aggregate.id)
        )

    return update


def _preferences(conn: Connection, e: Envelope) -> None:
    _user("language = %s, product_email = %s", e.payload["language"], e.payload["product_email"])(
        conn, e
    )


def _profile(conn: Connection, e: Envelope) -> None:
    _user("name_cipher = %s", e.payload["display_name_cipher"])(conn, e)


def _erasure(conn: Connection, e: Envelope) -> None:
    """Forget the address and drop the user's e-mails not sent yet."""
    _user("erased = true, email_cipher = '', name_cipher = ''")(conn, e)
    conn.execute(
        "UPDATE mail_outbox SET status = 'dropped', last_error = 'user erased' "
        "WHERE user_id = %s AND status = 'pending'",
        (e.aggregate.id,),
    )


def _opened(conn: Connection, e: Envelope) -> None:
    conn.execute(
        "INSERT INTO nt_accounts (account_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (e.aggregate.id, UUID(e.payload["user_id"])),
    )


def _requested(conn: Connection, e: Envelope) -> None:
    conn.execute(
        "INSERT INTO nt_productions (production_id, owner_id, credits) VALUES (%s, %s, %s) "
        "ON CONFLICT DO NOTHING",
        (e.aggregate.id, UUID(e.payload["owner_id"]), e.payload["credits"]),
    )


STATE: dict[str, Callable[[Connection, Envelope], None]] = {
    "user.Registered": _registered,
    "user.ProfileChanged": _profile,
    "user.PasswordChanged": _user("password_version = password_version + 1"),
    "user.EmailPreferencesChanged": _preferences,
    "user.ErasureRequested": _erasure,
    "user.Erased": _erasure,
    "credits.Opened": _opened,
    "production.Requested": _requested,
}


def _recipient(conn: Connection, e: Envelope) -> UUID | None:
    """The user an event of `e`'s aggregate concerns."""
    kind = e.aggregate.type
    if kind == "user":
        return e.aggregate.id
    table, column, key = {
        "credits": ("nt_accounts", "user_id", "account_id"),
        "production": ("nt_productions", "owner_id", "production_id"),
    }.get(kind, ("", "", ""))
    if not table:
        return None
    row = conn.execute(
        f"SELECT {column} FROM {table} WHERE {key} = %s", (e.aggregate.id,)
    ).fetchone()
    return None if row is None else UUID(str(row[0]))


def _enrich(conn: Connection, e: Envelope, found: Notice) -> dict[str, Any]:
    """What the event itself does not say: the password version a reset link is minted for,
    the credits a failed production had reserved."""
    data = dict(found.data)
    if found.kind == "password_reset":
        row = conn.execute(
            "SELECT password_version FROM nt_users WHERE user_id = %s", (e.aggregate.id,)
        ).fetchone()
        data["password_version"] = int(row[0]) if row else 0
    elif found.kind == "production_failed":
        row = conn.execute(
            "SELECT credits FROM nt_productions WHERE production_id = %s", (e.aggregate.id,)
        ).fetchone()
        data["credits"] = int(row[0]) if row else 0
    return data


class NotificationsProjection:
    """E-mails into the outbox, once per (event, kind). An event older than `max_age` when it is
    first applied (history, when the projection is deployed on an existing installation or
    rebuilt from an empty outbox) is kept as 'stale' and never sent: no one gets last year's
    welcome or an expired reset link."""

    name: str = NAME
    schema: str = SCHEMA
    tables: tuple[str, ...] = TABLES  # not mail_outbox: a replay must not send again

    def __init__(self, max_age: timedelta = DEFAULT_MAX_AGE) -> None:
        self.max_age = max_age

    def topics(self, settings: Settings) -> list[str]:
        return [settings.topics.events(a) for a in ("user", "credits", "production")]

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        keep = STATE.get(envelope.type)
        if keep is not None:
            keep(conn, envelope)
        found = notice(envelope)
        if found is None:
            return
        user_id = _recipient(conn, envelope)
        if user_id is None:  # an account or production whose first event was never seen
            return
        conn.execute(
            "INSERT INTO mail_outbox (event_id, kind, user_id, data, source_topic, position, "
            "occurred_at, status) VALUES (%(event)s, %(kind)s, %(user)s, %(data)s, %(topic)s, "
            "%(position)s, %(at)s, CASE "
            "WHEN EXISTS (SELECT 1 FROM nt_users WHERE user_id = %(user)s AND erased) "
            "THEN 'dropped' WHEN %(at)s < now() - %(max_age)s THEN 'stale' ELSE 'pending' END) "
            "ON CONFLICT (event_id, kind) DO NOTHING",
            {
                "event": envelope.event_id,
                "kind": found.kind,
                "user": user_id,
                "data": Jsonb(_enrich(conn, envelope, found)),
                "topic": f"events.{envelope.aggregate.type}",
                "position": envelope.position,
                "at": envelope.occurred_at,
                "max_age": self.max_age,
            },
        )
