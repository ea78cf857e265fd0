"""The Salesforce adapter against the local HTTPS fake (tests/support/salesforce_fake.py): upserts
by external id, lookups, the metadata's validation rule, session expiry, outages, Bulk API 2.0,
deletion and TLS verification."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from adapters.salesforce import SalesforceClient, SalesforceRefused, SalesforceUnavailable
from adapters.settings import Settings
from tests.support.salesforce_fake import SalesforceFake, settings_for

USER, PROJECT, JOB = "AI_User__c", "AI_Project__c", "AI_Job__c"


def new_id() -> str:
    return str(uuid.uuid4())


def sf_settings(fake: SalesforceFake, flow: str = "client_credentials", **extra: Any) -> Settings:
    return Settings().model_copy(update={**settings_for(fake, flow), **extra})


@pytest.fixture
def fake(salesforce_fake: SalesforceFake) -> Iterator[SalesforceFake]:
    salesforce_fake.clear_faults()
    yield salesforce_fake
    salesforce_fake.clear_faults()


@pytest.fixture
def client(fake: SalesforceFake) -> Iterator[SalesforceClient]:
    client = SalesforceClient(sf_settings(fake))
    yield client
    client.close()


def user(external_id: str, position: int = 1, **fields: Any) -> dict[str, Any]:
    return {
        "External_Id__c": external_id,
        "Name": "Asha",
        "Email__c": "asha@example.com",
        "Last_Event_Position__c": position,
        **fields,
    }


def test_upsert_creates_then_updates(client: SalesforceClient, fake: SalesforceFake) -> None:
    u = new_id()
    (created,) = client.upsert(USER, [user(u, 1, Credit_Balance__c=10)])
    assert created.success and created.created, created
    (updated,) = client.upsert(USER, [user(u, 2, Credit_Balance__c=110, Verified__c=True)])
    assert updated.success and not updated.created, updated
    record = fake.records(USER)[u]
    assert (record["Credit_Balance__c"], record["Verified__c"], record["Name"]) == (
        110,
        True,
        "Asha",
    )


def test_a_second_identical_upsert_changes_nothing(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    u, p = new_id(), new_id()
    batch = [{"External_Id__c": p, "Name": "Dawn", "User__r": {"External_Id__c": u}}]
    client.upsert(USER, [user(u)])
    client.upsert(PROJECT, batch)
    before, changes = fake.records(PROJECT)[p], fake.changes[PROJECT]
    (again,) = client.upsert(PROJECT, batch)
    assert again.success and not again.created
    assert fake.records(PROJECT)[p] == before
    assert fake.changes[PROJECT] == changes
    assert before["User__c"] == u  # the lookup names the parent


def test_a_missing_parent_fails_only_its_record(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    u, good, orphan = new_id(), new_id(), new_id()
    client.upsert(USER, [user(u)])
    results = client.upsert(
        PROJECT,
        [
            {"External_Id__c": good, "Name": "A", "User__r": {"External_Id__c": u}},
            {"External_Id__c": orphan, "Name": "B", "User__r": {"External_Id__c": "no-such"}},
        ],
    )
    assert [r.external_id for r in results] == [good, orphan]
    assert results[0].success
    (error,) = results[1].errors
    assert error.status_code == "INVALID_FIELD"
    assert "Foreign key external ID: no-such not found" in error.message
    assert good in fake.records(PROJECT) and orphan not in fake.records(PROJECT)


def test_a_stale_position_is_refused_by_the_metadata_rule(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    u = new_id()
    client.upsert(USER, [user(u, 7, Credit_Balance__c=50)])
    (stale,) = client.upsert(USER, [user(u, 6, Credit_Balance__c=0)])
    assert not stale.success and not stale.transient
    (error,) = stale.errors
    assert error.status_code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert error.message.startswith("STALE_EVENT") and error.fields == ("Last_Event_Position__c",)
    assert fake.records(USER)[u]["Credit_Balance__c"] == 50
    (same,) = client.upsert(USER, [user(u, 7, Credit_Balance__c=50)])  # a redelivery
    assert same.success


def test_record_errors_come_back_per_record(client: SalesforceClient) -> None:
    results = client.upsert(
        USER,
        [
            {"External_Id__c": new_id(), "Email__c": "x@example.com"},
            user(new_id(), Role__c="r" * 21),
            user(new_id(), Email__c="not an address"),
            user(new_id(), Credits_Owed__c=10**18),
            user(new_id()),
        ],
    )
    codes = [[e.status_code for e in r.errors] for r in results]
    assert codes == [
        ["REQUIRED_FIELD_MISSING"],
        ["STRING_TOO_LONG"],
        ["INVALID_EMAIL_ADDRESS"],
        ["NUMBER_OUTSIDE_VALID_RANGE"],
        [],
    ]


def test_an_expired_session_mid_sequence_is_renewed(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    client.upsert(USER, [user(new_id())])  # logged in
    tokens, refusals = fake.calls["token"], fake.calls["unauthorized"]
    fake.expire_sessions(after=1)  # the second of three requests meets an expired session
    ids = [new_id() for _ in range(450)]
    results = client.upsert(USER, [user(i) for i in ids])
    assert all(r.success and r.created for r in results)
    assert [r.external_id for r in results] == ids
    assert fake.calls["unauthorized"] == refusals + 1
    assert fake.calls["token"] == tokens + 1


@pytest.mark.parametrize("kind", ["limit", "server_error", "unavailable"])
def test_limits_and_server_errors_mean_try_later(
    client: SalesforceClient, fake: SalesforceFake, kind: str
) -> None:
    u = new_id()
    client.upsert(USER, [user(u)])
    fake.fail_next(kind)
    with pytest.raises(SalesforceUnavailable):
        client.upsert(USER, [user(u, 2)])
    (result,) = client.upsert(USER, [user(u, 2)])  # later
    assert result.success


def test_a_token_endpoint_down_means_try_later(fake: SalesforceFake) -> None:
    fake.fail_next("token_down")
    client = SalesforceClient(sf_settings(fake))
    with pytest.raises(SalesforceUnavailable):
        client.upsert(USER, [user(new_id())])
    assert client.upsert(USER, [user(new_id())])[0].success
    client.close()


def test_bad_credentials_unknown_objects_and_fields_are_refused(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    wrong = SalesforceClient(sf_settings(fake, salesforce_client_secret=SecretStr("wrong")))
    with pytest.raises(SalesforceRefused, match="invalid_client"):
        wrong.upsert(USER, [user(new_id())])
    with pytest.raises(SalesforceRefused, match="NOT_FOUND"):
        client.upsert("Nope__c", [user(new_id())])
    with pytest.raises(SalesforceRefused, match="INVALID_FIELD"):
        client.upsert(USER, [user(new_id(), Shoe_Size__c=44)])


def test_the_jwt_bearer_flow(fake: SalesforceFake) -> None:
    client = SalesforceClient(sf_settings(fake, "jwt"))
    assert client.upsert(USER, [user(new_id())])[0].success
    assert fake.token_grants[-1] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()  # a key the connected app does not know
    stranger = SalesforceClient(sf_settings(fake, "jwt", salesforce_private_key=SecretStr(pem)))
    with pytest.raises(SalesforceRefused, match="invalid_grant"):
        stranger.upsert(USER, [user(new_id())])
    not_rsa = trustme.CA().private_key_pem.bytes().decode()  # an EC key
    broken = SalesforceClient(sf_settings(fake, "jwt", salesforce_private_key=SecretStr(not_rsa)))
    with pytest.raises(SalesforceRefused, match="not an RSA key"):
        broken.upsert(USER, [user(new_id())])
    client.close()


def test_bulk_upsert_of_5000_records(client: SalesforceClient, fake: SalesforceFake) -> None:
    u = new_id()
    client.upsert(USER, [user(u)])
    tricky = 'Act "One", the\nreturn'
    records: list[dict[str, Any]] = [
        {
            "External_Id__c": new_id(),
            "Name": tricky if i == 0 else f"Project {i}",
            "User__r": {"External_Id__c": u},
            "Archived__c": i % 2 == 0,
            "Created_At__c": "2026-12-01T09:00:00Z",
            "Last_Event_Position__c": 3,
        }
        for i in range(5000)
    ]
    records.append({"External_Id__c": new_id(), "Name": "x", "User__r": {"External_Id__c": "?"}})
    jobs = fake.calls["bulk_create"]
    results = client.bulk_upsert(PROJECT, records)
    assert fake.calls["bulk_create"] == jobs + 1
    assert [r.external_id for r in results] == [r["External_Id__c"] for r in records]
    assert all(r.success and r.created for r in results[:5000])
    assert not results[5000].success
    assert results[5000].errors[0].status_code == "INVALID_FIELD"
    stored = fake.records(PROJECT)
    first = stored[records[0]["External_Id__c"]]
    assert (first["Name"], first["User__c"], first["Archived__c"]) == (tricky, u, True)
    # Again, with one record going backwards and one field cleared (None: #N/A).
    records[1] = {**records[1], "Last_Event_Position__c": 2}
    records[2] = {**records[2], "Created_At__c": None, "Last_Event_Position__c": 4}
    again = client.bulk_upsert(PROJECT, records[:5000])
    assert not any(r.created for r in again)
    assert again[1].errors[0].message.startswith("STALE_EVENT")
    assert sum(r.success for r in again) == 4999
    assert fake.records(PROJECT)[records[2]["External_Id__c"]]["Created_At__c"] is None


def test_an_expired_session_during_a_bulk_job_is_renewed(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    client.upsert(USER, [user(new_id())])  # logged in
    tokens = fake.calls["token"]
    fake.expire_sessions(after=2)  # the job is created and uploaded, then the session expires
    ids = [new_id() for _ in range(300)]
    results = client.bulk_upsert(USER, [user(i) for i in ids])
    assert [r.external_id for r in results] == ids
    assert all(r.success for r in results)
    assert fake.calls["token"] == tokens + 1
    assert all(i in fake.records(USER) for i in ids)


def test_a_rule_of_the_tests_own_rejects_records(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    fake.reject_when(USER, lambda new, old: new.get("Role__c") == "banned", "NO_BANNED: not here")
    results = client.upsert(
        USER, [user(new_id(), Role__c="banned"), user(new_id(), Role__c="user")]
    )
    assert [r.success for r in results] == [False, True]
    assert results[0].errors[0].message == "NO_BANNED: not here"


def test_delete_by_external_id_including_ids_already_gone(
    client: SalesforceClient, fake: SalesforceFake
) -> None:
    users = [new_id() for _ in range(250)]  # two queries, two deletes
    p = new_id()
    client.bulk_upsert(USER, [user(i) for i in users])
    client.upsert(
        PROJECT, [{"External_Id__c": p, "Name": "P", "User__r": {"External_Id__c": users[0]}}]
    )
    gone = new_id()
    results = client.delete(USER, [*users, gone])
    assert [r.external_id for r in results] == [*users, gone]
    assert all(r.success for r in results), [r for r in results if not r.success]
    stored = fake.records(USER)
    assert not any(i in stored for i in users)
    assert fake.records(PROJECT)[p]["User__c"] is None  # the lookup was SetNull
    again = client.delete(USER, users[:3])
    assert all(r.success for r in again)


def test_a_wrong_ca_is_refused_and_the_right_one_wins_over_the_environment(
    fake: SalesforceFake, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    right = SalesforceClient(sf_settings(fake))
    assert right.upsert(USER, [user(new_id())])[0].success
    right.close()
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    wrong = SalesforceClient(sf_settings(fake, salesforce_ca_bundle=other))
    with pytest.raises(SalesforceRefused, match="TLS"):
        wrong.upsert(USER, [user(new_id())])


def test_tokens_and_values_are_never_logged(
    fake: SalesforceFake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = SalesforceClient(sf_settings(fake))
    client.upsert(USER, [user(new_id(), Name="Zelda Quartermain", Email__c="zq@example.com")])
    client.bulk_upsert(USER, [user(new_id(), Name="Yusuf Bellweather")])
    client.close()
    text = caplog.text
    assert "salesforce: upserted 1 AI_User__c" in text
    for secret in ("Zelda Quartermain", "zq@example.com", "Yusuf Bellweather", *fake.tokens):
        assert secret not in text
