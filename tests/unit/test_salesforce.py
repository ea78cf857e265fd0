"""The Salesforce adapter's pure parts (token requests, results, Bulk API 2.0 rows, error
classes) and the DX metadata under deploy/salesforce, read the way the fake reads it."""

from __future__ import annotations

import csv
import io
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr
from simple_salesforce.exceptions import (
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from adapters.salesforce import (
    JWT_GRANT,
    RecordError,
    RecordResult,
    SalesforceRefused,
    SalesforceUnavailable,
    bulk_error,
    bulk_row,
    classify,
    jwt_assertion,
    record_results,
    token_request,
)
from adapters.settings import Settings
from tests.support.salesforce_metadata import METADATA_DIR, load_metadata, load_permission_set

LOGIN = "https://login.example.com"
OBJECTS = ("AI_User__c", "AI_Project__c", "AI_Job__c", "AI_Credit__c")
# The design's fields (besides Name, External_Id__c and Last_Event_Position__c): type, and the
# length, (precision, scale) or lookup target.
FIELDS: dict[str, dict[str, tuple[str, Any]]] = {
    "AI_User__c": {
        "Email__c": ("Email", None), "Role__c": ("Text", 20), "Verified__c": ("Checkbox", None),
        "Registered_At__c": ("DateTime", None), "Credit_Balance__c": ("Number", (18, 0)),
        "Credits_Reserved__c": ("Number", (18, 0)), "Credits_Owed__c": ("Number", (18, 0)),
        "Erasure_Requested__c": ("Checkbox", None),
    },
    "AI_Project__c": {
        "User__c": ("Lookup", "AI_User__c"), "Language__c": ("Text", 10),
        "Aspect_Ratio__c": ("Text", 10), "Script_Revision__c": ("Number", (18, 0)),
        "Archived__c": ("Checkbox", None), "Created_At__c": ("DateTime", None),
    },
    "AI_Job__c": {
        "Project__c": ("Lookup", "AI_Project__c"), "User__c": ("Lookup", "AI_User__c"),
        "Status__c": ("Text", 20), "Quality__c": ("Text", 10),
        "Stages_Done__c": ("Number", (18, 0)), "Credits_Reserved__c": ("Number", (18, 0)),
        "Credits_Captured__c": ("Number", (18, 0)), "Film_Seconds__c": ("Number", (10, 2)),
        "Requested_At__c": ("DateTime", None), "Finished_At__c": ("DateTime", None),
        "Failure__c": ("Text", 255), "YouTube_Video_Id__c": ("Text", 20),
        "YouTube_URL__c": ("Url", None),
    },
    "AI_Credit__c": {
        "User__c": ("Lookup", "AI_User__c"), "Job__c": ("Lookup", "AI_Job__c"),
        "Kind__c": ("Text", 20), "Amount__c": ("Number", (18, 0)),
        "Reference__c": ("Text", 255), "Occurred_At__c": ("DateTime", None),
    },
}  # fmt: skip


def settings(**values: Any) -> Settings:
    return Settings().model_copy(
        update={"salesforce_login_url": LOGIN, "salesforce_client_id": "app-key", **values}
    )


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


# -- token requests ----------------------------------------------------------------------------


def test_client_credentials_without_a_username_and_key() -> None:
    form = token_request(settings(salesforce_client_secret=SecretStr("s3cret")))
    assert form == {
        "grant_type": "client_credentials",
        "client_id": "app-key",
        "client_secret": "s3cret",
    }


def test_jwt_bearer_when_a_username_and_key_are_set() -> None:
    private, public = rsa_pair()
    values = {
        "salesforce_username": "sync@example.com",
        "salesforce_private_key": SecretStr(private),
        "salesforce_client_secret": SecretStr("ignored"),
    }
    form = token_request(settings(**values))
    assert form["grant_type"] == JWT_GRANT and set(form) == {"grant_type", "assertion"}
    assert jwt.get_unverified_header(form["assertion"])["alg"] == "RS256"
    claims = jwt.decode(form["assertion"], public, algorithms=["RS256"], audience=LOGIN)
    assert claims["iss"] == "app-key" and claims["sub"] == "sync@example.com"


def test_the_assertion_lives_three_minutes() -> None:
    private, public = rsa_pair()
    values = {"salesforce_username": "u@example.com", "salesforce_private_key": SecretStr(private)}
    assertion = jwt_assertion(settings(**values), now=1_700_000_000)
    claims = jwt.decode(
        assertion, public, algorithms=["RS256"], audience=LOGIN, options={"verify_exp": False}
    )
    assert claims["exp"] == 1_700_000_180
    assert claims["aud"] == LOGIN


def test_no_credentials_is_refused() -> None:
    with pytest.raises(SalesforceRefused, match="client_secret"):
        token_request(settings())
    with pytest.raises(SalesforceRefused, match="client_id"):
        token_request(settings(salesforce_client_id=None))


# -- results -----------------------------------------------------------------------------------


def test_collection_results_in_the_records_order() -> None:
    answer = [
        {"id": "a01", "success": True, "created": True, "errors": []},
        {"id": "a02", "success": True, "created": False, "errors": []},
        {
            "success": False,
            "errors": [
                {"statusCode": "STRING_TOO_LONG", "message": "Name: too large", "fields": ["Name"]}
            ],
        },
    ]
    too_long = RecordError("STRING_TOO_LONG", "Name: too large", ("Name",))
    assert record_results(["x", "y", "z"], answer) == [
        RecordResult("x", True, True, ()),
        RecordResult("y", True, False, ()),
        RecordResult("z", False, False, (too_long,)),
    ]


def test_an_answer_of_another_length_is_not_trusted() -> None:
    with pytest.raises(SalesforceUnavailable):
        record_results(["x", "y"], [{"success": True}])


def test_a_locked_row_is_transient_a_validation_error_is_not() -> None:
    locked = RecordResult("x", False, False, (RecordError("UNABLE_TO_LOCK_ROW", "locked", ()),))
    stale = RecordResult(
        "x", False, False, (RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "STALE_EVENT", ()),)
    )
    assert locked.transient and not stale.transient
    assert not RecordResult("x", True, True, ()).transient


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --",
            RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ("Name",)),
        ),
        (
            "INVALID_FIELD:Foreign key external ID: 42 not found for field External_Id__c in "
            "entity AI_User__c:--",
            RecordError(
                "INVALID_FIELD",
                "Foreign key external ID: 42 not found for field External_Id__c in entity "
                "AI_User__c",
                (),
            ),
        ),
        ("UNKNOWN_EXCEPTION:boom", RecordError("UNKNOWN_EXCEPTION", "boom", ())),
    ],
)
def test_bulk_errors_are_split_into_code_message_and_fields(
    text: str, expected: RecordError
) -> None:
    assert bulk_error(text) == expected


# -- Bulk API 2.0 rows ---------------------------------------------------------------------------


def test_a_bulk_row_has_relationship_columns_and_bulk_nulls() -> None:
    row = bulk_row(
        {
            "attributes": {"type": "AI_Job__c"},
            "External_Id__c": "j-1",
            "Name": 'Film "One", part\n2',
            "User__r": {"External_Id__c": "u-1"},
            "Project__r": {"External_Id__c": "p-1"},
            "Failure__c": None,
            "Stages_Done__c": 7,
            "Film_Seconds__c": 61.5,
            "Requested_At__c": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        }
    )
    assert row == {
        "External_Id__c": "j-1",
        "Name": 'Film "One", part\n2',
        "User__r.External_Id__c": "u-1",
        "Project__r.External_Id__c": "p-1",
        "Failure__c": "#N/A",
        "Stages_Done__c": "7",
        "Film_Seconds__c": "61.5",
        "Requested_At__c": "2026-12-01T09:00:00+00:00",
    }
    assert bulk_row({"Verified__c": True, "Archived__c": False}) == {
        "Verified__c": "true",
        "Archived__c": "false",
    }


def test_bulk_rows_survive_csv_quoting() -> None:
    rows = [bulk_row({"External_Id__c": "a", "Name": 'say "hi", then\r\nleave'})]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    assert '"say ""hi"", then' in out.getvalue()
    assert list(csv.DictReader(io.StringIO(out.getvalue(), newline=""))) == rows


# -- error classes -------------------------------------------------------------------------------

URL = "https://x.my.salesforce.com/services/data/v62.0/composite/sobjects"


def error(code: str, message: str = "") -> list[dict[str, str]]:
    return [{"errorCode": code, "message": message}]


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (SalesforceRefusedRequest(URL, 403, "upsert", error("REQUEST_LIMIT_EXCEEDED")),
         SalesforceUnavailable),
        (SalesforceGeneralError(URL, 500, "upsert", error("UNKNOWN_EXCEPTION")),
         SalesforceUnavailable),
        (SalesforceGeneralError(URL, 503, "upsert", "<html>down</html>"), SalesforceUnavailable),
        (SalesforceMalformedRequest(URL, 400, "upsert", error("UNABLE_TO_LOCK_ROW")),
         SalesforceUnavailable),
        (SalesforceRefusedRequest(URL, 403, "upsert", error("API_DISABLED_FOR_ORG")),
         SalesforceRefused),
        (SalesforceMalformedRequest(URL, 400, "upsert", error("INVALID_FIELD", "No such column")),
         SalesforceRefused),
        (SalesforceResourceNotFound(URL, 404, "upsert", error("NOT_FOUND")), SalesforceRefused),
    ],
)  # fmt: skip
def test_whole_request_errors_are_classified(exc: Any, kind: type[Exception]) -> None:
    classified = classify(exc)
    assert type(classified) is kind
    assert str(exc.status) in str(classified)


# -- the metadata --------------------------------------------------------------------------------


def test_the_metadata_declares_the_designs_objects_and_fields() -> None:
    objects = load_metadata()
    assert set(objects) == set(OBJECTS)
    for name, expected in FIELDS.items():
        fields = objects[name].fields
        assert set(fields) == {"Name", "External_Id__c", "Last_Event_Position__c", *expected}, name
        for field_name, (kind, detail) in expected.items():
            spec = fields[field_name]
            assert spec.type == kind, f"{name}.{field_name}"
            if kind == "Text":
                assert spec.length == detail, f"{name}.{field_name}"
            if kind == "Number":
                assert (spec.precision, spec.scale) == detail, f"{name}.{field_name}"
            if kind == "Lookup":
                assert spec.reference_to == detail and spec.delete_constraint == "SetNull"
        assert not any(f.required for f in fields.values() if f.name != "Name"), name


def test_every_object_has_an_external_id_a_position_and_the_never_backwards_rule() -> None:
    for name, spec in load_metadata().items():
        key = spec.fields["External_Id__c"]
        assert (key.type, key.length, key.external_id, key.unique) == ("Text", 36, True, True)
        position = spec.fields["Last_Event_Position__c"]
        assert (position.type, position.precision, position.scale) == ("Number", 18, 0)
        (rule,) = spec.rules
        assert (rule.name, rule.field, rule.operator) == (
            "Never_Backwards",
            "Last_Event_Position__c",
            "<",
        ), name
        assert rule.message.startswith("STALE_EVENT")


def test_the_rule_fires_only_for_an_older_position() -> None:
    (rule,) = load_metadata()["AI_User__c"].rules
    assert rule.fires({"Last_Event_Position__c": 4}, {"Last_Event_Position__c": 5})
    assert not rule.fires({"Last_Event_Position__c": 5}, {"Last_Event_Position__c": 5})
    assert not rule.fires({"Last_Event_Position__c": 6}, {"Last_Event_Position__c": 5})
    assert not rule.fires({"Last_Event_Position__c": 1}, None)  # an insert
    assert not rule.fires({"Last_Event_Position__c": None}, {"Last_Event_Position__c": 5})


def test_child_relationship_names_are_unique_per_parent() -> None:
    seen: set[tuple[str, str]] = set()
    for path in sorted((METADATA_DIR / "objects").glob("*/fields/*.field-meta.xml")):
        text = path.read_text()
        if "<type>Lookup</type>" not in text:
            continue
        parent = text.split("<referenceTo>")[1].split("<")[0]
        relationship = text.split("<relationshipName>")[1].split("<")[0]
        assert (parent, relationship) not in seen, path
        seen.add((parent, relationship))


def test_the_permission_set_covers_every_object_and_field() -> None:
    path = METADATA_DIR / "permissionsets" / "FilmStudio_Integration.permissionset-meta.xml"
    objects, fields = load_permission_set(path)
    metadata = load_metadata()
    assert objects == set(metadata)
    assert fields == {
        f"{o}.{f}" for o, spec in metadata.items() for f in spec.fields if f != "Name"
    }


def test_a_formula_the_fake_cannot_evaluate_fails_to_load(tmp_path: Path) -> None:
    copy = tmp_path / "default"
    shutil.copytree(METADATA_DIR, copy)
    rule = copy / "objects/AI_Job__c/validationRules/Never_Backwards.validationRule-meta.xml"
    rule.write_text(rule.read_text().replace("PRIORVALUE(", "ISCHANGED("))
    with pytest.raises(ValueError, match="AI_Job__c: the fake cannot evaluate"):
        load_metadata(copy)
