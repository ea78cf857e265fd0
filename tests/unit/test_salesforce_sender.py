"""What the Salesforce sender makes of a row (sealed values opened, erased owners left out) and
of Salesforce's per-record answers (synced, stale, waiting for a parent, rejected)."""

from __future__ import annotations

from uuid import uuid4

from adapters.keystore import KeyStore
from adapters.salesforce import RecordError, RecordResult
from adapters.settings import Settings
from projections.salesforce_sender import Due, SalesforceSender, missing_parent, stale


def sender(keys: KeyStore, tmp_path) -> SalesforceSender:
    settings = Settings(state_dir=tmp_path)

    def no_client():  # never called: these tests send nothing
        raise AssertionError("no Salesforce here")

    return SalesforceSender(settings, None, keys, no_client, no_client)  # type: ignore[arg-type]


def row(owner, fields) -> Due:
    return Due("AI_User__c", str(owner), owner, fields, 42, 0, False)


def test_sealed_values_are_opened_and_the_position_rides_along(tmp_path):
    keys = KeyStore.in_memory("master")
    owner = uuid4()
    keys.create_key(owner)
    fields = {
        "Name": {"$cipher": keys.encrypt(owner, "Meera")},
        "Email__c": {"$cipher": keys.encrypt(owner, "meera@example.com")},
        "Title__c": keys.seal_text(owner, "The Lamp"),
        "Role__c": "creator",
    }
    assert sender(keys, tmp_path).record(row(owner, fields)) == {
        "Name": "Meera",
        "Email__c": "meera@example.com",
        "Title__c": "The Lamp",
        "Role__c": "creator",
        "External_Id__c": str(owner),
        "Last_Event_Position__c": 42,
    }


def test_a_record_of_an_erased_owner_is_not_sent(tmp_path):
    keys = KeyStore.in_memory("master")
    owner = uuid4()
    keys.create_key(owner)
    fields = {"Name": {"$cipher": keys.encrypt(owner, "Meera")}}
    keys.destroy_key(owner)
    assert sender(keys, tmp_path).record(row(owner, fields)) is None


def result(*errors: tuple[str, str]) -> RecordResult:
    return RecordResult("x", False, False, tuple(RecordError(c, m, ()) for c, m in errors))


def test_salesforces_answers_are_told_apart():
    ahead = result(("FIELD_CUSTOM_VALIDATION_EXCEPTION", "STALE_EVENT: Salesforce has newer"))
    orphan = result(
        ("INVALID_FIELD", "Foreign key external ID: 1 not found for field External_Id__c")
    )
    refused = result(("FIELD_CUSTOM_VALIDATION_EXCEPTION", "No project may be Forbidden"))
    assert stale(ahead) and not missing_parent(ahead)
    assert missing_parent(orphan) and not stale(orphan)
    assert not stale(refused) and not missing_parent(refused)
    assert not stale(RecordResult("x", True, True, ()))
