"""The Salesforce sync end to end: the studio's processes (API, relay, projections, saga, draft
workers and `filmstudio salesforce`) against the Salesforce fake. A creator registers, is granted
credits, makes a project and a film, then is erased; each step shows in Salesforce, a session
expiring mid-way is recovered, a record the org rejects is dead-lettered while the rest go on,
redelivered events and records change nothing, and a replay from offset 0 loads through Bulk
API 2.0 without bringing anything back."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from confluent_kafka import Producer

from adapters.settings import PROJECT_ROOT, Settings
from tests.integration.conftest import free_port, start_studio, studio_env
from tests.integration.eventflow import consume_events
from tests.integration.test_notifications import dead_letters
from tests.integration.test_pipeline import LAMP, creator, produce, wait_for
from tests.support.salesforce_fake import SalesforceFake, settings_for

USER, PROJECT, JOB, CREDIT = "AI_User__c", "AI_Project__c", "AI_Job__c", "AI_Credit__c"
SYNC_SECONDS = 60


@pytest.fixture(scope="module")
def synced(
    isolated_settings: Callable[[], Settings], salesforce_fake: SalesforceFake, tmp_path_factory
) -> Iterator[dict]:
    settings = isolated_settings().model_copy(
        update={
            "api_port": free_port(),
            "salesforce_bulk_threshold": 2,
            **settings_for(salesforce_fake),
        }
    )
    logs = tmp_path_factory.mktemp("salesforce-logs")
    base_url, processes = start_studio(settings, logs, "saga", "workers", "salesforce")
    client = httpx.Client(base_url=base_url, timeout=30)
    admin = client.post(
        "/v1/auth/token",
        data={"username": settings.admin_email, "password": settings.secret("admin_password")},
    )
    yield {
        "settings": settings,
        "client": client,
        "admin": {"Authorization": f"Bearer {admin.json()['access_token']}"},
        "processes": processes,
        "fake": salesforce_fake,
    }
    client.close()
    salesforce_fake.clear_faults()  # the org's rule of the dead-letter test stays till here
    for process in reversed(processes):
        process.stop()


def eventually(what: str, check: Callable[[], Any], full: dict, seconds: float = SYNC_SECONDS):
    """`check()` once it is truthy (an AssertionError or a missing record counts as not yet)."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except (AssertionError, LookupError) as error:
            last = repr(error)
        time.sleep(0.3)
    logs = "\n".join(p.log.read_text()[-2000:] for p in full["processes"] if p.name == "salesforce")
    pytest.fail(f"{what} never showed in Salesforce: {last}\n{logs}")


def owned_by(fake: SalesforceFake, user_id: str) -> dict[str, list[str]]:
    """External ids of the records of each object that belong to the user."""
    found: dict[str, list[str]] = {}
    for sobject in (USER, PROJECT, JOB, CREDIT):
        for external_id, record in fake.records(sobject).items():
            if external_id == user_id or record.get("User__c") == user_id:
                found.setdefault(sobject, []).append(external_id)
    return found


def test_a_creators_story_reaches_salesforce_then_their_erasure_removes_it(synced):
    client, fake, settings = synced["client"], synced["fake"], synced["settings"]
    headers = creator(synced, credits=200)
    user_id, auth = headers["user_id"], {"Authorization": headers["Authorization"]}
    me = client.get("/v1/me", headers=auth).json()

    def registered() -> dict:
        record = fake.records(USER)[user_id]
        assert record["Email__c"] == me["email"] and record["Name"] == me["display_name"]
        assert record["Credit_Balance__c"] == 200, record
        return record

    eventually("the user and their grant", registered, synced)
    tokens_before = fake.calls["token"]
    fake.expire_sessions(after=1)  # the session times out in the middle of what follows
    project_id, production_id = produce(synced, headers, LAMP, {"languages": ["en"]})
    done = wait_for(synced, production_id, ("completed", "failed"))
    assert done["status"] == "completed", done
    balance = client.get("/v1/credits", headers=auth).json()["balance"]

    def filmed() -> bool:
        job = fake.records(JOB)[production_id]
        assert job["Status__c"] == "completed", job
        assert job["Project__c"] == project_id and job["User__c"] == user_id
        assert job["Film_Seconds__c"] == pytest.approx(done["duration_seconds"], abs=0.01)
        assert job["Credits_Captured__c"] > 0 and job["Stages_Done__c"] >= 3, job
        project = fake.records(PROJECT)[project_id]
        assert project["Name"] == "Test film" and project["User__c"] == user_id, project
        assert fake.records(USER)[user_id]["Credit_Balance__c"] == balance
        credits = [c for c in fake.records(CREDIT).values() if c["User__c"] == user_id]
        kinds = sorted(c["Kind__c"] for c in credits)
        assert kinds == ["captured", "granted", "reserved"], kinds
        assert sum(c["Amount__c"] for c in credits) == balance, "amounts do not add up"
        assert all(c["Job__c"] == production_id for c in credits if c["Kind__c"] != "granted")
        return True

    eventually("the production and its credits", filmed, synced)
    assert fake.calls["unauthorized"] >= 1, "the session never expired"
    assert fake.calls["token"] > tokens_before, "the sender did not authenticate again"

    # Events delivered twice, then records sent twice: nothing changes in Salesforce.
    changes = sum(fake.changes.values())
    republish_events_of(settings, uuid.UUID(user_id))
    resend_synced_records(settings, user_id)
    time.sleep(3)  # what the sender would do with them, it has done by now
    eventually("a resend", lambda: not pending(settings), synced)
    assert sum(fake.changes.values()) == changes, "a redelivered batch changed Salesforce"

    erased = client.delete("/v1/me", headers=auth)
    assert erased.status_code == 202, erased.text
    eventually("the erasure", lambda: owned_by(fake, user_id) == {}, synced)


def test_a_record_the_org_rejects_is_dead_lettered_and_the_rest_carry_on(synced):
    client, fake, settings = synced["client"], synced["fake"], synced["settings"]
    fake.reject_when(
        PROJECT, lambda new, old: new.get("Name") == "Forbidden", "No project may be Forbidden"
    )
    headers = creator(synced, credits=10)
    auth = {"Authorization": headers["Authorization"]}
    refused = client.post("/v1/projects", json={"title": "Forbidden"}, headers=auth).json()
    allowed = client.post("/v1/projects", json={"title": "Allowed"}, headers=auth).json()
    projects = fake.records
    eventually("the allowed project", lambda: allowed["project_id"] in projects(PROJECT), synced)
    key = f"{PROJECT}:{refused['project_id']}"
    letter = eventually(
        "the dead letter",
        lambda: next((d for d in dead_letters(settings) if d.key == key), None),
        synced,
    )
    assert letter.error_type == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert "No project may be Forbidden" in letter.error
    assert refused["project_id"] not in fake.records(PROJECT)


def test_a_replay_from_offset_zero_loads_through_bulk_and_brings_nothing_back(synced):
    fake, settings = synced["fake"], synced["settings"]
    eventually("an empty outbox", lambda: not pending(settings), synced)
    before = {sobject: fake.records(sobject) for sobject in (USER, PROJECT, JOB, CREDIT)}
    bulk_jobs = fake.calls["bulk_create"]
    replayed = subprocess.run(
        [sys.executable, "-m", "filmstudio.cli", "replay", "salesforce"],
        cwd=PROJECT_ROOT, env=studio_env(settings), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr[-2000:]
    eventually("the replayed records", lambda: not pending(settings), synced)
    assert fake.calls["bulk_create"] > bulk_jobs, "a backfill did not use Bulk API 2.0"
    after = {sobject: fake.records(sobject) for sobject in (USER, PROJECT, JOB, CREDIT)}
    assert after == before, "a replay changed or brought back records"


# -- helpers


def pending(settings: Settings) -> list[tuple[str, str, str]]:
    """Rows the sender has yet to send or delete (none held back by a rejection)."""
    with psycopg.connect(settings.pg_conninfo) as conn:
        return conn.execute(
            "SELECT sobject, external_id, status FROM sf_records "
            "WHERE (status = 'pending' AND created) OR status = 'deleting'"
        ).fetchall()


def resend_synced_records(settings: Settings, user_id: str) -> None:
    """As if the sender had stopped after Salesforce took the records but before it noted so."""
    with psycopg.connect(settings.pg_conninfo) as conn:
        conn.execute(
            "UPDATE sf_records SET status = 'pending' WHERE owner_id = %s AND status = 'synced'",
            (user_id,),
        )


def republish_events_of(settings: Settings, user_id: uuid.UUID) -> None:
    """Publish the user's events again, as a relay retrying its transaction would."""
    producer = Producer(
        {"bootstrap.servers": settings.kafka_bootstrap, "partitioner": "murmur2_random"}
    )
    for topic, _, _, key, envelope in consume_events(settings):
        if envelope.aggregate.id == user_id:
            producer.produce(topic, key=key, value=envelope.to_bytes(), headers=envelope.headers())
    assert producer.flush(10) == 0
