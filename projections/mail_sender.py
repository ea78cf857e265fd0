"""The mail sender: drains the notifications projection's `mail_outbox`, at most once per row.

A due row is claimed (`FOR UPDATE SKIP LOCKED`) and marked 'sending' in a committed transaction
before anything is sent; the outcome is written after. So a crash between the two leaves the
row 'sending', and the next sender to start (one runs at a time, under an advisory lock) marks
it 'unknown' instead of sending it again. The address is decrypted only now, the links' tokens
minted only now; a user erased meanwhile gets nothing ('dropped'), one who opted out of product
e-mail gets none of it ('skipped'). `MailUnavailable` is retried with capped exponential
backoff; after `mail_max_attempts` tries, or at once when refused, the row is 'dead' and a dead
letter goes to `<prefix>.dead_letters`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlencode
from uuid import UUID

from prometheus_client import Counter
from psycopg_pool import ConnectionPool

from adapters import heartbeat
from adapters.account_tokens import AccountTokens
from adapters.dead_letters import DeadLetters
from adapters.keystore import ERASED, KeyStore
from adapters.mailer import Mail, Mailer, MailRefused, MailUnavailable
from adapters.relay import lock_key
from adapters.retry import Backoff, retry_delay
from adapters.settings import Settings
from projections.exclusive import run_exclusively
from projections.mail_templates import MailTemplates
from projections.notifications import KINDS, NAME

log = logging.getLogger(__name__)

EMAILS = Counter("studio_emails", "E-mails by kind and outcome", ["kind", "outcome"])
BATCH = 20
POLL_SECONDS = 1.0
RETRY_INITIAL_SECONDS = 30.0
RETRY_CAP_SECONDS = 3600.0
ZERO_DECIMAL = frozenset(  # Stripe's currencies without a minor unit
    {"bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv"}
    | {"xaf", "xof", "xpf"}
)

Disposition = Literal["send", "skip", "drop", "wait"]


@dataclass(frozen=True)
class Recipient:
    email_cipher: str
    name_cipher: str
    language: str
    product_email: bool
    erased: bool


@dataclass(frozen=True)
class Claimed:
    """An outbox row claimed for sending, with its user as the projection knows them."""

    event_id: UUID
    kind: str
    user_id: UUID
    data: dict[str, Any]
    attempts: int  # this try included
    source_topic: str
    position: int
    recipient: Recipient | None


def disposition(kind: str, recipient: Recipient | None) -> Disposition:
    """Whether to send: not to an erased user; non-essential mail not to one who opted out;
    not yet to one whose registration the projection has not seen."""
    if recipient is None:
        return "wait"
    if recipient.erased:
        return "drop"
    if not KINDS[kind] and not recipient.product_email:
        return "skip"
    return "send"


def money(amount_cents: int, currency: str) -> str:
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return f"{amount_cents} {code.upper()}"
    return f"{amount_cents / 100:.2f} {code.upper()}"


def duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}:{rest:02d}"


class Composer:
    """Renders an outbox row into a `Mail`: the template's variables and the links' tokens."""

    def __init__(
        self,
        settings: Settings,
        keys: KeyStore,
        tokens: AccountTokens,
        templates: MailTemplates | None = None,
    ) -> None:
        self.settings = settings
        self.keys = keys
        self.tokens = tokens
        self.templates = templates or MailTemplates()
        self.base = settings.public_url.rstrip("/")

    def link(self, path: str, **query: str) -> str:
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def context(self, kind: str, user_id: UUID, data: dict[str, Any], name: str) -> dict[str, Any]:
        """Every variable the templates of `kind` use."""
        common: dict[str, Any] = {
            "name": name,
            "studio": self.settings.mail_from_name,
            "public_url": self.base,
            "unsubscribe_url": None
            if KINDS[kind]
            else self.link("/v1/email/unsubscribe", token=self.tokens.mint(user_id, "unsubscribe")),
        }
        return {**common, **self._specific(kind, user_id, data)}

    def _specific(self, kind: str, user_id: UUID, data: dict[str, Any]) -> dict[str, Any]:
        s = self.settings
        if kind == "welcome":
            token = self.tokens.mint(user_id, "verify")
            days = max(1, s.verify_token_ttl_seconds // 86_400)
            return {"verify_url": self.link("/verify", token=token), "verify_days": days}
        if kind == "password_reset":
            token = self.tokens.mint(user_id, "password-reset", int(data["password_version"]))
            minutes = max(1, s.reset_token_ttl_seconds // 60)
            return {
                "reset_url": self.link("/reset-password", token=token),
                "reset_minutes": minutes,
            }
        if kind == "password_changed":
            return {"reset_page_url": self.link("/reset-password")}
        if kind in ("receipt", "subscription_renewed"):
            plan = s.plans.get(data["plan_id"])
            return {
                "credits": data["credits"],
                "plan": plan.name if plan else data["plan_id"],
                "amount": money(data["amount_cents"], data["currency"]),
                "invoice_url": self._opened(data["invoice_url"]),
                "settled_debt": data["settled_debt"],
            }
        if kind == "subscription_failed":
            return {
                "amount": money(data["amount_cents"], data["currency"]),
                "invoice_url": self._opened(data["invoice_url"]),
            }
        if kind == "credits_revoked":
            return {k: data[k] for k in ("credits", "taken", "owed", "reason")}
        if kind in ("production_completed", "production_failed"):
            url = self.link(f"/v1/productions/{data['production_id']}")
            if kind == "production_failed":
                return {"production_url": url, "credits": data["credits"]}
            return {"production_url": url, "duration": duration(data["duration_seconds"])}
        if kind == "balance_low":
            return {
                "balance": data["balance"],
                "threshold": data["threshold"],
                "plans_url": self.link("/v1/billing/plans"),
            }
        raise ValueError(f"no e-mail of kind {kind!r}")

    def _opened(self, sealed: str) -> str:
        opened = self.keys.open_text(sealed) if sealed else ""
        return "" if opened == ERASED else opened

    def compose(
        self, kind: str, user_id: UUID, data: dict[str, Any], address: str, name: str, language: str
    ) -> Mail:
        context = self.context(kind, user_id, data, name)
        rendered = self.templates.render(kind, language, context)
        return Mail(
            to_address=address,
            to_name=name,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
            category=kind,
            unsubscribe_url=context["unsubscribe_url"],
        )


CLAIM = """
WITH due AS (
    SELECT event_id, kind FROM mail_outbox
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at LIMIT %s FOR UPDATE SKIP LOCKED
)
UPDATE mail_outbox o SET status = 'sending', attempts = o.attempts + 1, claimed_at = now()
FROM due WHERE o.event_id = due.event_id AND o.kind = due.kind
RETURNING o.event_id, o.kind, o.user_id, o.data, o.attempts, o.source_topic, o.position
"""
RECIPIENTS = """
SELECT user_id, email_cipher, name_cipher, language, product_email, erased
FROM nt_users WHERE user_id = ANY(%s)
"""


class MailSender:
    """Sends what the notifications projection put in the outbox; `run` until stopped."""

    def __init__(
        self,
        settings: Settings,
        pool: ConnectionPool,
        composer: Composer,
        mailer: Mailer,
        dead_letters: DeadLetters | Callable[[], DeadLetters],
        retry_initial: float = RETRY_INITIAL_SECONDS,
        retry_cap: float = RETRY_CAP_SECONDS,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.composer = composer
        self.keys = composer.keys
        self.mailer = mailer
        self._dead_letters = dead_letters
        self.retry_initial = retry_initial
        self.retry_cap = retry_cap
        self.poll_seconds = poll_seconds
        self.lock = lock_key(settings.topics.group("notifications.mail"))
        self.projection_lock = lock_key(settings.topics.group(f"projection.{NAME}"))

    @property
    def dead_letters(self) -> DeadLetters:
        if not isinstance(self._dead_letters, DeadLetters):
            self._dead_letters = self._dead_letters()
        return self._dead_letters

    def run(self, stop: threading.Event) -> None:
        """Send due e-mails until `stop`, one sender at a time; an outage is waited out."""
        run_exclusively(
            "mail sender", self.settings.pg_conninfo, self.lock, stop, self.send_due,
            poll_seconds=self.poll_seconds, backoff=Backoff(initial=0.5, cap=30.0),
            on_start=self._recover_and_say,
        )  # fmt: skip

    def _recover_and_say(self) -> None:
        recovered = self.recover()
        if recovered:
            log.warning("%d e-mails were being sent when a sender stopped", recovered)

    def recover(self) -> int:
        """Rows left 'sending' by a sender that stopped: whether they went out is unknown, so
        they become 'unknown' and are never sent again. Only while holding the sender lock."""
        with self.pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "UPDATE mail_outbox SET status = 'unknown', "
                "last_error = 'the sender stopped while sending' "
                "WHERE status = 'sending' RETURNING kind"
            ).fetchall()
        for (kind,) in rows:
            EMAILS.labels(kind, "unknown").inc()
        return len(rows)

    def claim(self, limit: int = BATCH) -> list[Claimed]:
        """Due rows, marked 'sending' (committed before anything is sent); none while a replay
        rebuilds the projection's tables (it holds their lock), whose users would look unknown."""
        with self.pool.connection() as conn, conn.transaction():
            free = conn.execute(
                "SELECT pg_try_advisory_xact_lock_shared(%s)", (self.projection_lock,)
            ).fetchone()
            if not (free and free[0]):
                return []
            rows = conn.execute(CLAIM, (limit,)).fetchall()
            users = {r[2] for r in rows}
            found = conn.execute(RECIPIENTS, (list(users),)).fetchall() if users else []
        recipients = {
            UUID(str(u)): Recipient(e, n, lang, bool(opt), bool(gone))
            for u, e, n, lang, opt, gone in found
        }
        return [
            Claimed(
                UUID(str(event_id)),
                kind,
                UUID(str(user)),
                dict(data),
                attempts,
                topic,
                position,
                recipients.get(UUID(str(user))),
            )
            for event_id, kind, user, data, attempts, topic, position in rows
        ]

    def send_due(self, limit: int = BATCH) -> int:
        """Claim and handle up to `limit` due e-mails; how many were claimed."""
        claimed = self.claim(limit)
        for row in claimed:
            heartbeat.beat()
            self.handle(row)
        return len(claimed)

    def handle(self, row: Claimed) -> str:
        """Send one claimed row, record and count its outcome; returns the outcome."""
        what = disposition(row.kind, row.recipient)
        if what == "wait":
            return self._failed(row, MailUnavailable("the recipient is not projected yet"))
        if what == "skip":
            return self._finish(row, "skipped", error="the user opted out of product e-mail")
        assert row.recipient is not None
        recipient = row.recipient
        address = "" if what == "drop" else self.keys.decrypt(row.user_id, recipient.email_cipher)
        if address in ("", ERASED):
            return self._finish(row, "dropped", error="the user is erased")
        try:
            name = self.keys.decrypt(row.user_id, recipient.name_cipher)
            mail = self.composer.compose(
                row.kind, row.user_id, row.data, address, name, recipient.language
            )
        except Exception as error:  # a template or data fault: it will not pass by itself
            return self._dead(row, error)
        try:
            message_id = self.mailer.send(mail)
        except MailUnavailable as error:
            return self._failed(row, error)
        except MailRefused as error:
            return self._dead(row, error)
        except Exception as error:  # whether it went out is unknown: never try again
            log.exception("mail sender: sending a %s e-mail failed", row.kind)
            return self._finish(row, "unknown", error=f"{type(error).__name__}: {error}")
        return self._finish(row, "sent", message_id=message_id)

    def _failed(self, row: Claimed, error: MailUnavailable) -> str:
        if row.attempts >= self.settings.mail_max_attempts:
            return self._dead(row, error)
        delay = retry_delay(row.attempts, self.retry_initial, self.retry_cap)
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE mail_outbox SET status = 'pending', last_error = %s, "
                "next_attempt_at = now() + %s WHERE event_id = %s AND kind = %s",
                (str(error), timedelta(seconds=delay), row.event_id, row.kind),
            )
        EMAILS.labels(row.kind, "retried").inc()
        log.info("mail sender: %s e-mail not sent (%s); retry in %.0f s", row.kind, error, delay)
        return "retried"

    def _dead(self, row: Claimed, error: BaseException) -> str:
        outcome = self._finish(row, "dead", error=f"{type(error).__name__}: {error}")
        value = {
            "event_id": str(row.event_id),
            "kind": row.kind,
            "user_id": str(row.user_id),
            "position": row.position,
            "attempts": row.attempts,
        }
        self.dead_letters.send_raw(
            f"{self.settings.topic_prefix}.{row.source_topic}",
            -1,  # not a Kafka message: an outbox row, named in the value
            -1,
            f"{row.event_id}:{row.kind}",
            json.dumps(value).encode(),
            type(error).__name__,
            str(error),
        )
        return outcome

    def _finish(
        self, row: Claimed, status: str, error: str | None = None, message_id: str | None = None
    ) -> str:
        with self.pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE mail_outbox SET status = %s, last_error = %s, message_id = %s, "
                "sent_at = CASE WHEN %s = 'sent' THEN now() END "
                "WHERE event_id = %s AND kind = %s",
                (status, error, message_id, status, row.event_id, row.kind),
            )
        EMAILS.labels(row.kind, status).inc()
        return status
