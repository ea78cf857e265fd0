"""The ``readmodels`` projection: the query side's tables (``projections.schema``).

Every statement is order-independent across aggregates: credits events may be applied before
their user's registration (different topics), so balances live per account and are copied
onto the user's row whichever arrives last.

A batch is written set-wise (``projections.batching``), which these rules make safe: each row
is inserted by its own aggregate's first event and updated only by that aggregate's later ones
(``Statements.set``: no statement reads an updated column back, except the balance copy, which
is deferred to after the batch's moves); balances change by deltas (``add``); the credits
events in ``COMMUTING`` only add to balances and insert rows keyed by the event; an erasure
(``BARRIERS``) deletes across aggregates, so it runs alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from adapters.keystore import KeyStore
from adapters.settings import Settings
from projections.batch_keys import batch_keys
from projections.batching import BatchPlan, Statements
from projections.schema import READ_MODEL_TABLES
from projections.schema import SCHEMA as READ_MODEL_SCHEMA
from schemas.catalogue import SEALED_FIELDS
from schemas.envelope import Envelope

NAME = "readmodels"

ACCOUNTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS rm_credit_accounts (
    account_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    balance bigint NOT NULL DEFAULT 0,
    reserved bigint NOT NULL DEFAULT 0
);
ALTER TABLE rm_credit_accounts ADD COLUMN IF NOT EXISTS owed bigint NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS rm_credit_accounts_user ON rm_credit_accounts (user_id);
"""

Apply = Callable[[Statements, KeyStore, Envelope], None]


# Users


def user_registered(db: Statements, keys: KeyStore, e: Envelope) -> None:
    user_id, p = e.aggregate.id, e.payload
    db.execute(
        "INSERT INTO rm_users (user_id, email, display_name, role, balance, reserved, owed, "
        "registered_at, updated_at) "
        "SELECT %(id)s, %(email)s, %(name)s, %(role)s, coalesce(a.balance, 0), "
        "coalesce(a.reserved, 0), coalesce(a.owed, 0), %(at)s, %(at)s "
        "FROM (SELECT 1) AS one LEFT JOIN rm_credit_accounts a ON a.user_id = %(id)s "
        "ON CONFLICT (user_id) DO NOTHING",
        {
            "id": user_id,
            "email": keys.decrypt(user_id, p["email_cipher"]),
            "name": keys.decrypt(user_id, p["display_name_cipher"]),
            "role": p["role"],
            "at": e.occurred_at,
        },
    )


def user_profile_changed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    name = keys.decrypt(e.aggregate.id, e.payload["display_name_cipher"])
    _user(db, e, display_name=name)


def user_verified(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _user(db, e, verified=True)


def user_email_preferences_changed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _user(db, e, email_language=p["language"], product_email=p["product_email"])


def user_unseen(db: Statements, keys: KeyStore, e: Envelope) -> None:
    """An event no read model shows (a password change, a reset request, a billing link)."""


def user_erased(db: Statements, keys: KeyStore, e: Envelope) -> None:
    """Every row of the user goes (already on `ErasureRequested`); only their id stays, in
    `rm_erased_users`, so their events that arrive later (other topics) add nothing back."""
    user_id = e.aggregate.id
    db.execute(
        "INSERT INTO rm_erased_users (user_id) VALUES (%s) ON CONFLICT DO NOTHING", (user_id,)
    )
    for statement in FORGET_USER:
        db.execute(statement, {"user": user_id})


FORGET_USER = (
    "DELETE FROM rm_script_revisions WHERE project_id IN "
    "(SELECT project_id FROM rm_projects WHERE owner_id = %(user)s)",
    "DELETE FROM rm_projects WHERE owner_id = %(user)s",
    "DELETE FROM rm_production_units WHERE production_id IN "
    "(SELECT production_id FROM rm_productions WHERE owner_id = %(user)s)",
    "DELETE FROM rm_productions WHERE owner_id = %(user)s",
    "DELETE FROM rm_credit_ledger WHERE user_id = %(user)s",
    "DELETE FROM rm_purchases WHERE user_id = %(user)s",
    "DELETE FROM rm_subscriptions WHERE user_id = %(user)s",
    "DELETE FROM rm_credit_accounts WHERE user_id = %(user)s",
    "DELETE FROM rm_voice_samples WHERE user_id = %(user)s",
    "DELETE FROM rm_publications WHERE owner_id = %(user)s",
    "DELETE FROM rm_users WHERE user_id = %(user)s",
)
NOT_ERASED = "NOT EXISTS (SELECT 1 FROM rm_erased_users WHERE user_id = %(owner)s)"


def user_voice_sample_added(db: Statements, keys: KeyStore, e: Envelope) -> None:
    user_id, p = e.aggregate.id, e.payload
    db.execute(
        "INSERT INTO rm_voice_samples (sample_id, user_id, name, seconds, added_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (sample_id) DO NOTHING",
        (
            UUID(p["sample_id"]),
            user_id,
            keys.decrypt(user_id, p["name_cipher"]),
            p["seconds"],
            e.occurred_at,
        ),
    )


def user_voice_sample_removed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    db.execute("DELETE FROM rm_voice_samples WHERE sample_id = %s", (UUID(e.payload["sample_id"]),))


def _user(db: Statements, e: Envelope, **values: object) -> None:
    db.set("rm_users", {"user_id": e.aggregate.id}, {**values, "updated_at": e.occurred_at})


# Credits


def credits_opened(db: Statements, keys: KeyStore, e: Envelope) -> None:
    db.execute(
        "INSERT INTO rm_credit_accounts (account_id, user_id) SELECT %(id)s, %(owner)s "
        f"WHERE {NOT_ERASED} ON CONFLICT DO NOTHING",
        {"id": e.aggregate.id, "owner": UUID(e.payload["user_id"])},
    )


def credits_granted(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _move(db, e, balance=p["amount"], reserved=0)
    _ledger(db, e, "granted", p["amount"], None, p["source"], p["reason"])


def credits_reserved(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _move(db, e, balance=-p["amount"], reserved=p["amount"])
    _ledger(db, e, "reserved", p["amount"], p["production_id"])


def credits_captured(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _move(db, e, balance=p["released"], reserved=-(p["amount"] + p["released"]))
    note = f"{p['released']} unused credits released" if p["released"] else ""
    _ledger(db, e, "captured", p["amount"], p["production_id"], reason=note)


def credits_charged(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _move(db, e, balance=-p["amount"], reserved=0)
    _ledger(db, e, "charged", p["amount"], None, p["purpose"], p["reference"])


def credits_released(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _move(db, e, balance=p["amount"], reserved=-p["amount"])
    _ledger(db, e, "released", p["amount"], p["production_id"])


def credits_purchased(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _move(db, e, balance=p["credits"] - p["settled_debt"], reserved=0, owed=-p["settled_debt"])
    reason = f"{p['settled_debt']} owed credits settled" if p["settled_debt"] else ""
    _ledger(db, e, "purchased", p["credits"], None, p["source"], reason)
    db.execute(
        "INSERT INTO rm_purchases (reference, user_id, source, plan_id, credits, amount_cents, "
        "currency, invoice_url, position, occurred_at) "
        "SELECT %s, user_id, %s, %s, %s, %s, %s, %s, %s, %s FROM rm_credit_accounts "
        "WHERE account_id = %s ON CONFLICT (reference) DO NOTHING",
        (
            p["reference"], p["source"], p["plan_id"], p["credits"], p["amount_cents"],
            p["currency"], p["invoice_url"], e.position, e.occurred_at, e.aggregate.id,
        ),
    )  # fmt: skip


def credits_revoked(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _move(db, e, balance=-p["taken"], reserved=0, owed=p["owed"])
    reason = f"{p['reason']}; {p['owed']} credits owed" if p["owed"] else p["reason"]
    _ledger(db, e, "revoked", p["credits"], None, p["reason"], reason)
    db.add("rm_purchases", {"reference": p["purchase"]}, {"revoked": p["credits"]})


def credits_subscription_changed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    db.execute(
        "INSERT INTO rm_subscriptions (subscription, user_id, plan_id, status, period_end, "
        "cancel_at_period_end, updated_at) "
        "SELECT %(sub)s, user_id, %(plan)s, %(status)s, to_timestamp(%(end)s), %(cancel)s, %(at)s "
        "FROM rm_credit_accounts WHERE account_id = %(account)s "
        "ON CONFLICT (subscription) DO UPDATE SET plan_id = excluded.plan_id, "
        "status = excluded.status, period_end = excluded.period_end, "
        "cancel_at_period_end = excluded.cancel_at_period_end, updated_at = excluded.updated_at",
        {
            "sub": p["subscription"],
            "plan": p["plan_id"],
            "status": p["status"],
            "end": p["period_end"],
            "cancel": p["cancel_at_period_end"],
            "at": e.occurred_at,
            "account": e.aggregate.id,
        },
    )


def credits_subscription_payment_failed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    db.set(
        "rm_subscriptions",
        {"subscription": e.payload["subscription"]},
        {"last_payment_failed_at": e.occurred_at},
    )


def credits_unseen(db: Statements, keys: KeyStore, e: Envelope) -> None:
    """An event no read model shows (a low-balance warning: the e-mail is the notice)."""


def _move(db: Statements, e: Envelope, balance: int, reserved: int, owed: int = 0) -> None:
    """Change an account's balances and copy them onto its user's row (if projected yet)."""
    deltas = {"balance": balance, "reserved": reserved, "owed": owed}
    db.add("rm_credit_accounts", {"account_id": e.aggregate.id}, deltas)
    db.defer(COPY_BALANCES, (e.aggregate.id,))  # once per account and batch, after the moves


COPY_BALANCES = (
    "UPDATE rm_users u SET balance = a.balance, reserved = a.reserved, owed = a.owed "
    "FROM rm_credit_accounts a WHERE a.account_id = %s AND u.user_id = a.user_id"
)


def _ledger(
    db: Statements,
    e: Envelope,
    kind: str,
    amount: int,
    production_id: str | None,
    source: str | None = None,
    reason: str = "",
) -> None:
    db.execute(
        "INSERT INTO rm_credit_ledger (event_id, user_id, kind, amount, production_id, source, "
        "reason, position, occurred_at) "
        "SELECT %s, user_id, %s, %s, %s, %s, %s, %s, %s FROM rm_credit_accounts "
        "WHERE account_id = %s ON CONFLICT (event_id) DO NOTHING",
        (
            e.event_id,
            kind,
            amount,
            production_id,
            source,
            reason,
            e.position,
            e.occurred_at,
            e.aggregate.id,
        ),
    )


# Projects


def project_created(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    db.execute(
        "INSERT INTO rm_projects (project_id, owner_id, title, language, aspect_ratio, "
        "created_at, updated_at) SELECT %(id)s, %(owner)s, %(title)s, %(language)s, %(ratio)s, "
        f"%(at)s, %(at)s WHERE {NOT_ERASED} ON CONFLICT DO NOTHING",
        {
            "id": e.aggregate.id,
            "owner": UUID(p["owner_id"]),
            "title": p["title"],
            "language": p["language"],
            "ratio": p["aspect_ratio"],
            "at": e.occurred_at,
        },
    )


def project_script_revised(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    db.execute(  # only for a projected project: none of an erased owner
        "INSERT INTO rm_script_revisions (project_id, revision, script_format, script_text, "
        "revised_at) SELECT %s, %s, %s, %s, %s "
        "WHERE EXISTS (SELECT 1 FROM rm_projects WHERE project_id = %s) ON CONFLICT DO NOTHING",
        (
            e.aggregate.id,
            p["revision"],
            p["script_format"],
            p["text"],
            e.occurred_at,
            e.aggregate.id,
        ),
    )
    _project(db, e, revision=p["revision"], script_format=p["script_format"], script_text=p["text"])


def project_settings_changed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    changed = {k: p[k] for k in ("title", "language", "aspect_ratio") if p[k] is not None}
    _project(db, e, **changed)


def project_archived(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _project(db, e, archived=True)


def project_script_suggested(db: Statements, keys: KeyStore, e: Envelope) -> None:
    """A suggestion is answered to the creator directly; the project only shows the activity."""
    _project(db, e)


def _project(db: Statements, e: Envelope, **values: object) -> None:
    db.set("rm_projects", {"project_id": e.aggregate.id}, {**values, "updated_at": e.occurred_at})


# Productions


def production_requested(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    db.execute(
        "INSERT INTO rm_productions (production_id, project_id, owner_id, revision, options, "
        "credits, estimated_seconds, status, requested_at, updated_at) "
        "SELECT %(id)s, %(project)s, %(owner)s, %(revision)s, %(options)s, %(credits)s, "
        f"%(seconds)s, 'requested', %(at)s, %(at)s WHERE {NOT_ERASED} ON CONFLICT DO NOTHING",
        {
            "id": e.aggregate.id,
            "project": UUID(p["project_id"]),
            "owner": UUID(p["owner_id"]),
            "revision": p["revision"],
            "options": Jsonb(p["options"]),
            "credits": p["credits"],
            "seconds": p["estimated_seconds"],
            "at": e.occurred_at,
        },
    )


def production_cancelled(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _production(db, e, status="cancelled", cancel_reason=e.payload["reason"])


def production_stage_started(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    db.executemany(  # only for a projected production: none of an erased owner
        "INSERT INTO rm_production_units (production_id, stage, unit, attempt, status, "
        "updated_at) SELECT %(id)s, %(stage)s, %(unit)s, 1, 'running', %(at)s "
        "WHERE EXISTS (SELECT 1 FROM rm_productions WHERE production_id = %(id)s) "
        "ON CONFLICT DO NOTHING",
        [
            {"id": e.aggregate.id, "stage": p["stage"], "unit": unit, "at": e.occurred_at}
            for unit in p["units"]
        ],
    )
    _production(db, e, status="running")


def production_unit_completed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _unit(db, e, attempt=p["attempt"], status="completed", artifact=p["artifact"])


def production_unit_retried(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _unit(db, e, attempt=p["attempt"], status="running", error=p["error"])


def production_unit_released(db: Statements, keys: KeyStore, e: Envelope) -> None:
    """A unit that waited for others of its stage went out: its row's time is its release."""
    _unit(db, e, attempt=e.payload["attempt"], status="running")


def production_unit_failed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    _unit(db, e, attempt=p["attempt"], status="failed", error=p["error"])


def production_stage_completed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _production(db, e, status="running")


def production_completed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    artifacts = Jsonb(p["artifacts"])
    _production(
        db, e, status="completed", artifacts=artifacts, duration_seconds=p["duration_seconds"]
    )


def production_failed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _production(db, e, status="failed", failure=e.payload["reason"])


def _production(db: Statements, e: Envelope, **values: object) -> None:
    key = {"production_id": e.aggregate.id}
    db.set("rm_productions", key, {**values, "updated_at": e.occurred_at})


# Publications


def publication_requested(db: Statements, keys: KeyStore, e: Envelope) -> None:
    p = e.payload
    db.execute(
        "INSERT INTO rm_publications (publication_id, production_id, owner_id, title, privacy, "
        "state, requested_at, updated_at) SELECT %(id)s, %(production)s, %(owner)s, %(title)s, "
        f"%(privacy)s, 'requested', %(at)s, %(at)s WHERE {NOT_ERASED} ON CONFLICT DO NOTHING",
        {
            "id": e.aggregate.id,
            "production": UUID(p["production_id"]),
            "owner": UUID(p["owner_id"]),
            "title": p["title"],
            "privacy": p["privacy"],
            "at": e.occurred_at,
        },
    )


def publication_uploading(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _publication(db, e, state="uploading", attempts=e.payload["attempt"])


def publication_uploaded(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _publication(db, e, state="uploaded", video_id=e.payload["video_id"], url=e.payload["url"])


def publication_failed(db: Statements, keys: KeyStore, e: Envelope) -> None:
    _publication(db, e, state="failed", failure=e.payload["reason"])


def _publication(db: Statements, e: Envelope, **values: object) -> None:
    key = {"publication_id": e.aggregate.id}
    db.set("rm_publications", key, {**values, "updated_at": e.occurred_at})


def _unit(db: Statements, e: Envelope, **values: object) -> None:
    p = e.payload
    key = {"production_id": e.aggregate.id, "stage": p["stage"], "unit": p["unit"]}
    db.set("rm_production_units", key, {**values, "updated_at": e.occurred_at})


APPLY: dict[str, Apply] = {
    "user.Registered": user_registered,
    "user.ProfileChanged": user_profile_changed,
    "user.Verified": user_verified,
    "user.ErasureRequested": user_erased,  # hidden at once; the same again on Erased
    "user.Erased": user_erased,
    "user.VoiceSampleAdded": user_voice_sample_added,
    "user.VoiceSampleRemoved": user_voice_sample_removed,
    "user.EmailPreferencesChanged": user_email_preferences_changed,
    "user.PasswordChanged": user_unseen,
    "user.PasswordResetRequested": user_unseen,
    "user.BillingCustomerLinked": user_unseen,
    "credits.Opened": credits_opened,
    "credits.Granted": credits_granted,
    "credits.Reserved": credits_reserved,
    "credits.Captured": credits_captured,
    "credits.Released": credits_released,
    "credits.Charged": credits_charged,
    "credits.Purchased": credits_purchased,
    "credits.Revoked": credits_revoked,
    "credits.SubscriptionChanged": credits_subscription_changed,
    "credits.SubscriptionPaymentFailed": credits_subscription_payment_failed,
    "credits.BalanceLow": credits_unseen,
    "project.Created": project_created,
    "project.ScriptRevised": project_script_revised,
    "project.SettingsChanged": project_settings_changed,
    "project.Archived": project_archived,
    "project.ScriptSuggested": project_script_suggested,
    "production.Requested": production_requested,
    "production.Cancelled": production_cancelled,
    "production.StageStarted": production_stage_started,
    "production.UnitCompleted": production_unit_completed,
    "production.UnitRetried": production_unit_retried,
    "production.UnitReleased": production_unit_released,
    "production.UnitFailed": production_unit_failed,
    "production.StageCompleted": production_stage_completed,
    "production.Completed": production_completed,
    "production.Failed": production_failed,
    "publication.Requested": publication_requested,
    "publication.Uploading": publication_uploading,
    "publication.Uploaded": publication_uploaded,
    "publication.Failed": publication_failed,
}


# Events of one aggregate whose statements commute with each other (additive balances, rows
# keyed by the event) and so may share a batch's wave; the erasures reach every aggregate of the
# user and run alone (``projections.batching``).
COMMUTING = frozenset(
    {
        "credits.Granted",
        "credits.Reserved",
        "credits.Captured",
        "credits.Charged",
        "credits.Released",
        "credits.Purchased",
        "credits.Revoked",
        "credits.BalanceLow",
    }
)
BARRIERS = frozenset({"user.ErasureRequested", "user.Erased"})


class ReadModelProjection:
    """The query side's read models, one apply function per event type, applied set-wise."""

    name = NAME
    schema = READ_MODEL_SCHEMA + ACCOUNTS_SCHEMA
    tables = (*READ_MODEL_TABLES, "rm_credit_accounts")

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def topics(self, settings: Settings) -> list[str]:
        return settings.topics.all_events

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        self.apply_batch(conn, [envelope])

    def apply_batch(self, conn: Connection, envelopes: Sequence[Envelope]) -> None:
        """Apply the envelopes (in aggregate order) as if one by one, with the batch's
        statements sent grouped by shape and the users' keys read at once."""
        keys = batch_keys(conn, self.keys, envelopes)
        plan = BatchPlan(conn)
        for envelope in envelopes:
            handler = APPLY.get(envelope.type)
            if handler is None:
                raise LookupError(f"the {NAME} projection has no handler for {envelope.type}")
            if envelope.type in BARRIERS:
                db = plan.barrier()
            else:
                db = plan.event(envelope.aggregate.id, envelope.type in COMMUTING)
            handler(db, keys, _opened(keys, envelope))
        plan.flush()


def _opened(keys: KeyStore, envelope: Envelope) -> Envelope:
    """The envelope with its sealed creative text opened (the same one when it has none)."""
    if envelope.type not in SEALED_FIELDS:
        return envelope
    opened = keys.open_fields(envelope.type, envelope.payload)
    return envelope.model_copy(update={"payload": opened})
