"""The ``salesforce`` projection: what Salesforce should hold, as an outbox of records.

`apply` never calls Salesforce: it merges each event's field changes into one `sf_records` row
per Salesforce record (custom object, external id), marks it pending and raises its position,
in the runner's transaction, so each event counts exactly once and changes to one record are
coalesced. `projections.salesforce_sender` sends the pending rows. Personal and creative values
stay sealed here (`{"$cipher": ...}` under the owner's key, or the event store's sealed text),
opened only when sent. A user's erasure marks every record of theirs for deletion; records of
an erased user are never created again (a replay from offset 0 meets the erasure last).

Every table is emptied by a replay, which is how a backfill works: the rebuilt rows are all
pending, and the sender loads them (with Bulk API 2.0 when many) into Salesforce, where the
`Never_Backwards` validation rule refuses nothing it already has at the same position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from psycopg import Connection
from psycopg.types.json import Jsonb

from adapters.settings import Settings
from schemas.envelope import Envelope

NAME = "salesforce"
USER, PROJECT, JOB, CREDIT = "AI_User__c", "AI_Project__c", "AI_Job__c", "AI_Credit__c"
PARENTS_FIRST = (USER, PROJECT, JOB, CREDIT)  # upserts in this order, deletions reversed
NAME_CHARS, TEXT_CHARS = 80, 255

SCHEMA = """
CREATE TABLE IF NOT EXISTS sf_records (
    sobject text NOT NULL,
    external_id text NOT NULL,
    owner_id uuid,
    fields jsonb NOT NULL DEFAULT '{}',
    position bigint NOT NULL,
    created boolean NOT NULL DEFAULT false,
    status text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    synced_position bigint,
    last_error text,
    PRIMARY KEY (sobject, external_id)
);
CREATE INDEX IF NOT EXISTS sf_records_due ON sf_records (next_attempt_at)
    WHERE status IN ('pending', 'deleting') AND created;
CREATE INDEX IF NOT EXISTS sf_records_owner ON sf_records (owner_id);
CREATE TABLE IF NOT EXISTS sf_accounts (
    account_id uuid PRIMARY KEY,
    user_id uuid NOT NULL,
    balance bigint NOT NULL DEFAULT 0,
    reserved bigint NOT NULL DEFAULT 0,
    owed bigint NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS sf_publications (
    publication_id uuid PRIMARY KEY,
    production_id uuid NOT NULL
);
CREATE TABLE IF NOT EXISTS sf_erased_users (
    user_id uuid PRIMARY KEY
);
"""
TABLES = ("sf_records", "sf_accounts", "sf_publications", "sf_erased_users")

GONE = "('deleting', 'deleted')"  # an erased user's records: their fields are dropped
MERGE = f"""
INSERT INTO sf_records (sobject, external_id, owner_id, fields, position, created)
SELECT %(sobject)s, %(id)s, %(owner)s, %(fields)s, %(position)s, %(creates)s
WHERE NOT EXISTS (SELECT 1 FROM sf_erased_users WHERE user_id = %(owner)s)
ON CONFLICT (sobject, external_id) DO UPDATE SET
    fields = CASE WHEN sf_records.status IN {GONE} THEN '{{}}'
        ELSE sf_records.fields || excluded.fields END,
    position = greatest(sf_records.position, excluded.position),
    created = sf_records.created OR excluded.created,
    status = CASE WHEN sf_records.status IN {GONE} THEN sf_records.status ELSE 'pending' END,
    attempts = 0,
    next_attempt_at = now()
"""
UPDATE = f"""
UPDATE sf_records SET fields = fields || %(fields)s, position = greatest(position, %(position)s),
    status = 'pending', attempts = 0, next_attempt_at = now()
WHERE sobject = %(sobject)s AND external_id = %(id)s AND status NOT IN {GONE}
"""


@dataclass(frozen=True)
class Change:
    """Fields of one Salesforce record that an event sets. `creates`: the event that makes the
    record (only then is it sent: an account's balance may come before its user's
    registration); an update without an owner only changes a record that exists here."""

    sobject: str
    external_id: str
    owner_id: UUID | None
    fields: dict[str, Any] = field(default_factory=dict)
    creates: bool = False


def parent(external_id: UUID | str) -> dict[str, str]:
    """A lookup to a parent record by its external id, as Salesforce's upsert takes it."""
    return {"External_Id__c": str(external_id)}


def cipher(value: str) -> dict[str, str]:
    """A value encrypted under the record owner's key, opened when sent."""
    return {"$cipher": value}


def when(moment: datetime) -> str:
    return moment.isoformat()


def merge(conn: Connection, change: Change, position: int) -> None:
    conn.execute(
        MERGE if change.owner_id is not None else UPDATE,
        {
            "sobject": change.sobject,
            "id": change.external_id,
            "owner": change.owner_id,
            "fields": Jsonb(change.fields),
            "position": position,
            "creates": change.creates,
        },
    )


# Users


def user_registered(conn: Connection, e: Envelope) -> list[Change]:
    p = e.payload
    return [
        Change(
            USER,
            str(e.aggregate.id),
            e.aggregate.id,
            {
                "Name": cipher(p["display_name_cipher"]),
                "Email__c": cipher(p["email_cipher"]),
                "Role__c": p["role"],
                "Verified__c": False,
                "Registered_At__c": when(e.occurred_at),
            },
            creates=True,
        )
    ]


def user_profile_changed(conn: Connection, e: Envelope) -> list[Change]:
    name = cipher(e.payload["display_name_cipher"])
    return [Change(USER, str(e.aggregate.id), e.aggregate.id, {"Name": name})]


def user_verified(conn: Connection, e: Envelope) -> list[Change]:
    return [Change(USER, str(e.aggregate.id), e.aggregate.id, {"Verified__c": True})]


def user_erased(conn: Connection, e: Envelope) -> list[Change]:
    """Every record of the user goes (the sender deletes them, children first); none comes
    back. Their fields are dropped here and now."""
    user_id = e.aggregate.id
    conn.execute(
        "INSERT INTO sf_erased_users (user_id) VALUES (%s) ON CONFLICT DO NOTHING", (user_id,)
    )
    conn.execute(
        "UPDATE sf_records SET status = 'deleting', fields = '{}', attempts = 0, "
        f"next_attempt_at = now(), position = greatest(position, %s) "
        f"WHERE owner_id = %s AND status NOT IN {GONE}",
        (e.position, user_id),
    )
    return []


# Credits: one AI_Credit__c per transaction, whose amounts add up to the user's balance


def credits_opened(conn: Connection, e: Envelope) -> list[Change]:
    user_id = UUID(e.payload["user_id"])
    conn.execute(
        "INSERT INTO sf_accounts (account_id, user_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
        (e.aggregate.id, user_id),
    )
    return [_balances(conn, e.aggregate.id)]


MOVES: dict[str, Callable[[Mapping[str, Any]], tuple[int, int, int]]] = {
    # type -> (balance, reserved, owed) changes; the balance change is the record's amount
    "credits.Granted": lambda p: (p["amount"], 0, 0),
    "credits.Purchased": lambda p: (p["credits"] - p["settled_debt"], 0, -p["settled_debt"]),
    "credits.Reserved": lambda p: (-p["amount"], p["amount"], 0),
    "credits.Captured": lambda p: (p["released"], -(p["amount"] + p["released"]), 0),
    "credits.Released": lambda p: (p["amount"], -p["amount"], 0),
    "credits.Charged": lambda p: (-p["amount"], 0, 0),
    "credits.Revoked": lambda p: (-p["taken"], 0, p["owed"]),
}


def _reference(e: Envelope) -> str:
    p = e.payload
    for name in ("production_id", "reference", "purchase", "reason"):
        if p.get(name):
            return str(p[name])[:TEXT_CHARS]
    return ""


def credits_moved(conn: Connection, e: Envelope) -> list[Change]:
    balance, reserved, owed = MOVES[e.type](e.payload)
    conn.execute(
        "UPDATE sf_accounts SET balance = balance + %s, reserved = reserved + %s, "
        "owed = owed + %s WHERE account_id = %s",
        (balance, reserved, owed, e.aggregate.id),
    )
    account = _balances(conn, e.aggregate.id)
    kind = e.type.removeprefix("credits.").lower()
    fields: dict[str, Any] = {
        "Name": f"{kind} {balance:+d}"[:NAME_CHARS],
        "User__r": parent(account.external_id),
        "Kind__c": kind,
        "Amount__c": balance,
        "Reference__c": _reference(e),
        "Occurred_At__c": when(e.occurred_at),
    }
    changes = [account, Change(CREDIT, str(e.event_id), account.owner_id, fields, creates=True)]
    production = e.payload.get("production_id")
    if production:
        fields["Job__r"] = parent(production)
        if e.type == "credits.Captured":
            spent = {"Credits_Captured__c": e.payload["amount"]}
            changes.append(Change(JOB, str(production), account.owner_id, spent))
    return changes


def _balances(conn: Connection, account_id: UUID) -> Change:
    row = conn.execute(
        "SELECT user_id, balance, reserved, owed FROM sf_accounts WHERE account_id = %s",
        (account_id,),
    ).fetchone()
    if row is None:
        raise LookupError(f"credit account {account_id} was never opened")
    user_id, balance, reserved, owed = row
    fields = {
        "Credit_Balance__c": balance,
        "Credits_Reserved__c": reserved,
        "Credits_Owed__c": owed,
    }
    return Change(USER, str(user_id), user_id, fields)


# Projects


def project_created(conn: Connection, e: Envelope) -> list[Change]:
    p = e.payload
    owner = UUID(p["owner_id"])
    fields = {
        "Name": p["title"],  # sealed by the event store: opened when sent
        "User__r": parent(owner),
        "Language__c": p["language"],
        "Aspect_Ratio__c": p["aspect_ratio"],
        "Script_Revision__c": 0,
        "Archived__c": False,
        "Created_At__c": when(e.occurred_at),
    }
    return [Change(PROJECT, str(e.aggregate.id), owner, fields, creates=True)]


def project_settings_changed(conn: Connection, e: Envelope) -> list[Change]:
    p = e.payload
    named = {"title": "Name", "language": "Language__c", "aspect_ratio": "Aspect_Ratio__c"}
    fields = {to: p[of] for of, to in named.items() if p.get(of) is not None}
    return [Change(PROJECT, str(e.aggregate.id), None, fields)]


def project_script_revised(conn: Connection, e: Envelope) -> list[Change]:
    fields = {"Script_Revision__c": e.payload["revision"]}
    return [Change(PROJECT, str(e.aggregate.id), None, fields)]


def project_archived(conn: Connection, e: Envelope) -> list[Change]:
    return [Change(PROJECT, str(e.aggregate.id), None, {"Archived__c": True})]


# Productions (AI_Job__c) and their publication on YouTube


def production_requested(conn: Connection, e: Envelope) -> list[Change]:
    p = e.payload
    owner = UUID(p["owner_id"])
    fields = {
        "Name": f"Film {e.occurred_at:%Y-%m-%d %H:%M} {str(e.aggregate.id)[:8]}",
        "Project__r": parent(p["project_id"]),
        "User__r": parent(owner),
        "Status__c": "requested",
        "Quality__c": str(p["options"].get("quality", ""))[:10],
        "Stages_Done__c": 0,
        "Credits_Reserved__c": p["credits"],
        "Requested_At__c": when(e.occurred_at),
    }
    return [Change(JOB, str(e.aggregate.id), owner, fields, creates=True)]


def production_status(status: str, **extra: Callable[[Envelope], Any]) -> Callable[..., Any]:
    def changes(conn: Connection, e: Envelope) -> list[Change]:
        fields = {"Status__c": status, **{name: get(e) for name, get in extra.items()}}
        return [Change(JOB, str(e.aggregate.id), None, fields)]

    return changes


def production_stage_completed(conn: Connection, e: Envelope) -> list[Change]:
    conn.execute(
        "UPDATE sf_records SET fields = jsonb_set(fields, '{Stages_Done__c}', "
        "to_jsonb(coalesce((fields->>'Stages_Done__c')::int, 0) + 1)) "
        "WHERE sobject = %s AND external_id = %s",
        (JOB, str(e.aggregate.id)),
    )
    return [Change(JOB, str(e.aggregate.id), None, {})]  # pending again, at this position


def publication_requested(conn: Connection, e: Envelope) -> list[Change]:
    conn.execute(
        "INSERT INTO sf_publications (publication_id, production_id) VALUES (%s, %s) "
        "ON CONFLICT DO NOTHING",
        (e.aggregate.id, UUID(e.payload["production_id"])),
    )
    return []


def publication_uploaded(conn: Connection, e: Envelope) -> list[Change]:
    row = conn.execute(
        "SELECT production_id FROM sf_publications WHERE publication_id = %s", (e.aggregate.id,)
    ).fetchone()
    if row is None:
        return []
    fields = {"YouTube_Video_Id__c": e.payload["video_id"], "YouTube_URL__c": e.payload["url"]}
    return [Change(JOB, str(row[0]), None, fields)]


def _finished(e: Envelope) -> str:
    return when(e.occurred_at)


HANDLERS: dict[str, Callable[[Connection, Envelope], list[Change]]] = {
    "user.Registered": user_registered,
    "user.ProfileChanged": user_profile_changed,
    "user.Verified": user_verified,
    "user.ErasureRequested": user_erased,
    "user.Erased": user_erased,
    "credits.Opened": credits_opened,
    **{event_type: credits_moved for event_type in MOVES},
    "project.Created": project_created,
    "project.SettingsChanged": project_settings_changed,
    "project.ScriptRevised": project_script_revised,
    "project.Archived": project_archived,
    "production.Requested": production_requested,
    "production.StageStarted": production_status("running"),
    "production.StageCompleted": production_stage_completed,
    "production.Completed": production_status(
        "completed",
        Film_Seconds__c=lambda e: round(float(e.payload["duration_seconds"]), 2),
        Finished_At__c=_finished,
    ),
    "production.Failed": production_status(
        "failed",
        Failure__c=lambda e: str(e.payload["reason"])[:TEXT_CHARS],
        Finished_At__c=_finished,
    ),
    "production.Cancelled": production_status("cancelled", Finished_At__c=_finished),
    "publication.Requested": publication_requested,
    "publication.Uploaded": publication_uploaded,
}


class SalesforceProjection:
    """Events -> `sf_records` (see the module's docstring)."""

    name = NAME
    schema = SCHEMA
    tables = TABLES

    def topics(self, settings: Settings) -> list[str]:
        return [
            settings.topics.events(aggregate)
            for aggregate in ("user", "credits", "project", "production", "publication")
        ]

    def apply(self, conn: Connection, envelope: Envelope) -> None:
        handler = HANDLERS.get(envelope.type)
        if handler is None:
            return
        for change in handler(conn, envelope):
            merge(conn, change, envelope.position)
