"""A local HTTPS fake of the Salesforce REST API endpoints the sync uses, written from
Salesforce's REST API, Bulk API 2.0 and OAuth 2.0 documentation (no static spec of Salesforce's
API exists: its OpenAPI description is generated per org):

- ``POST /services/oauth2/token``: the client credentials grant and the JWT bearer grant (RS256
  assertion checked against the connected app's registered public key: ``iss`` the client id,
  ``sub`` a pre-authorized user, ``aud`` the login URL, ``exp`` at most a few minutes ahead);
  errors as ``{error, error_description}`` (``invalid_client``, ``invalid_client_id``,
  ``invalid_grant``, ``unsupported_grant_type``).
- ``PATCH /services/data/vXX.X/composite/sobjects/{S}/{ExternalIdField}``: sObject Collections
  upsert (at most 200 records; per record ``{id, success, created, errors}``).
- ``GET .../query?q=SELECT f, ... FROM S [WHERE F IN ('a', ...)]`` (that SOQL form only).
- ``DELETE .../composite/sobjects?ids=...&allOrNone=false``; lookups to a deleted record are set
  to null (``deleteConstraint`` SetNull).
- Bulk API 2.0 ingest jobs (upsert, CSV): create, upload, ``UploadComplete`` (processed at
  once), job info, ``successfulResults``, ``failedResults``, ``unprocessedrecords``, abort, delete.
- Salesforce's error shapes: a JSON list of ``{message, errorCode[, fields]}``;
  ``INVALID_SESSION_ID`` 401, ``REQUEST_LIMIT_EXCEEDED`` 403, 5xx; per record
  ``REQUIRED_FIELD_MISSING``, ``INVALID_FIELD`` (unknown foreign external id),
  ``STRING_TOO_LONG``, ``NUMBER_OUTSIDE_VALID_RANGE``, ``INVALID_EMAIL_ADDRESS``,
  ``FIELD_CUSTOM_VALIDATION_EXCEPTION``.

The fake knows the custom objects by reading deploy/salesforce's metadata XML (fields, types,
lengths, precision, lookups, external ids, validation rules: tests/support/salesforce_metadata.py),
so the metadata is tested with it. It evaluates the validation-rule form the metadata uses
(``A < PRIORVALUE(A)`` and the other comparisons) and refuses to load a formula it cannot
evaluate; a test adds its own rule with `SalesforceFake.reject_when`. Test controls:
`expire_sessions`, `fail_next` (``limit``, ``server_error``, ``unavailable``, ``token_down``),
`records`, `calls` (requests per endpoint) and `changes` (records created or changed per object).
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import shutil
import ssl
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from tests.support.salesforce_metadata import METADATA_DIR, FieldSpec, load_metadata

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
COLLECTION_LIMIT = 200
JWT_MAX_AHEAD_SECONDS = 300
BULK_NULL = "#N/A"
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SOQL = re.compile(
    r"^\s*SELECT\s+(?P<fields>[\w\s,]+?)\s+FROM\s+(?P<object>\w+)"
    r"(?:\s+WHERE\s+(?P<field>\w+)\s+IN\s*\((?P<values>.*)\))?\s*$",
    re.IGNORECASE | re.DOTALL,
)
SOQL_STRING = re.compile(r"'((?:[^'\\]|\\.)*)'")
DATA_PATH = re.compile(r"^/services/data/v\d+\.\d+/(?P<rest>.*)$")
FAILURES: dict[str, tuple[int, str, str]] = {
    "limit": (403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
    "server_error": (500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include "
                     "this ErrorId if you contact support: 1234567-89 (-1234567)"),
    "unavailable": (503, "SERVER_UNAVAILABLE", "Server temporarily unavailable."),
    "token_down": (503, "", "Service Unavailable"),
}  # fmt: skip


# -- records -----------------------------------------------------------------------------------


class RecordFailure(Exception):
    """Salesforce's refusal of one record."""

    def __init__(self, code: str, message: str, fields: tuple[str, ...] = ()) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.fields = fields

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.code, "message": self.message, "fields": list(self.fields)}

    def as_bulk(self) -> str:
        return f"{self.code}:{self.message}:{','.join(self.fields)} --"


class RequestFailure(Exception):
    """Salesforce's refusal of a whole request."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    def body(self) -> list[dict[str, Any]]:
        return [{"message": self.message, "errorCode": self.code}]


@dataclass(frozen=True)
class Reference:
    """A parent named by one of its external id fields (``"User__r": {"External_Id__c": x}``)."""

    field: str
    key: str
    value: str


@dataclass
class Rejection:
    """A test's own validation rule."""

    predicate: Callable[[Mapping[str, Any], Mapping[str, Any] | None], bool]
    message: str


@dataclass
class BulkJob:
    """A Bulk API 2.0 ingest job."""

    id: str
    sobject: str
    external_id_field: str
    line_ending: str
    delimiter: str
    api_version: str
    state: str = "Open"
    data: bytearray = field(default_factory=bytearray)
    successful: list[list[str]] = field(default_factory=list)
    failed: list[list[str]] = field(default_factory=list)
    unprocessed: list[list[str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    error_message: str | None = None
    created: str = field(default_factory=lambda: _now())


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _datetime(value: str) -> str:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+0000"


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that does not trust the certificate hangs up: no traceback for that."""
        if not isinstance(sys.exc_info()[1], ssl.SSLError | ConnectionError):
            super().handle_error(request, client_address)


class SalesforceFake:
    """The fake on a free 127.0.0.1 port over TLS (a trustme CA, ``ca_path``), in a background
    thread; ``base_url`` serves as both the login URL and the instance URL."""

    def __init__(
        self,
        metadata: Path = METADATA_DIR,
        client_id: str = "3MVG9fake.consumer.key",
        client_secret: str = "fake-consumer-secret",
        username: str = "integration@filmstudio.example.com",
    ) -> None:
        self.objects = load_metadata(metadata)
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.RLock()
        self.data: dict[str, dict[str, dict[str, Any]]] = {o: {} for o in self.objects}
        self.index: dict[tuple[str, str, str], str] = {}  # (object, field, lower value) -> Id
        self.tokens: set[str] = set()
        self.expire_in: int | None = None  # data requests until the sessions expire
        self.failures: list[str] = []
        self.rejections: dict[str, list[Rejection]] = {}
        self.jobs: dict[str, BulkJob] = {}
        self.calls: Counter[str] = Counter()
        self.changes: Counter[str] = Counter()
        self.token_grants: list[str] = []
        self.jwt_users: set[str] = {username}
        self.username = username
        self._ids = 0
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")
        self.public_key_pem = (
            key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode("ascii")
        )
        self._dir = Path(tempfile.mkdtemp(prefix="salesforce-fake-"))
        self.ca = trustme.CA()
        self.ca_path = self._dir / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._server = _TLSServer(("127.0.0.1", 0), self._handler())
        self._server.socket = context.wrap_socket(
            self._server.socket, server_side=True, do_handshake_on_connect=False
        )
        self.port = self._server.server_address[1]
        self.base_url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> SalesforceFake:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- what tests tell it --------------------------------------------------------------------

    def expire_sessions(self, after: int = 0) -> None:
        """Every access token stops working, now or after `after` more authorized data
        requests (401 ``INVALID_SESSION_ID``, as when a session times out)."""
        with self.lock:
            if after:
                self.expire_in = after
            else:
                self.tokens.clear()

    def fail_next(self, kind: str, times: int = 1) -> None:
        """Answer the next `times` data requests (``token_down``: token requests) with failure
        `kind`: ``limit`` (403 REQUEST_LIMIT_EXCEEDED), ``server_error`` (500),
        ``unavailable`` (503 SERVER_UNAVAILABLE), ``token_down`` (503)."""
        if kind not in FAILURES:
            raise ValueError(f"unknown failure {kind!r}")
        with self.lock:
            self.failures.extend([kind] * times)

    def reject_when(
        self,
        sobject: str,
        predicate: Callable[[Mapping[str, Any], Mapping[str, Any] | None], bool],
        message: str,
    ) -> None:
        """A validation rule of the test's: records of `sobject` for which ``predicate(new,
        old)`` holds (old: None on insert) fail with FIELD_CUSTOM_VALIDATION_EXCEPTION."""
        with self.lock:
            self.rejections.setdefault(sobject, []).append(Rejection(predicate, message))

    def clear_faults(self) -> None:
        """No pending failures, expiries or test rules (the records stay)."""
        with self.lock:
            self.failures.clear()
            self.rejections.clear()
            self.expire_in = None

    def records(self, sobject: str) -> dict[str, dict[str, Any]]:
        """The records of `sobject` by external id (``External_Id__c``), each with its ``Id``
        and fields; a lookup holds its parent's external id (None when empty)."""
        spec = self.objects[sobject]
        with self.lock:
            out = {}
            for record in self.data[sobject].values():
                resolved = dict(record)
                for f in spec.fields.values():
                    if f.type == "Lookup" and resolved.get(f.name) is not None:
                        parent = self.data[f.reference_to or ""].get(resolved[f.name])
                        resolved[f.name] = parent.get("External_Id__c") if parent else None
                out[record["External_Id__c"]] = resolved
            return out

    # -- records -------------------------------------------------------------------------------

    def _new_id(self, sobject: str) -> str:
        self._ids += 1
        prefix = f"a0{list(self.objects).index(sobject)}"
        return f"{prefix}{self._ids:012d}AAA"

    def _value(self, spec: FieldSpec, value: Any, from_csv: bool) -> Any:
        """A field's value as stored, or a RecordFailure (types, lengths, ranges)."""
        if from_csv and value == BULK_NULL:
            value = None
        if spec.type == "Checkbox":
            if from_csv:
                return str(value).lower() in ("true", "1", "yes")
            if value is not None and not isinstance(value, bool):
                raise self._wrong_type(spec, value)
            return bool(value)
        if value is None or value == "":
            return None
        if spec.type in ("Text", "Email", "Url"):
            if not isinstance(value, str):
                raise self._wrong_type(spec, value)
            limit = 80 if spec.type == "Email" else (spec.length or 255)
            if len(value) > limit:
                raise RecordFailure(
                    "STRING_TOO_LONG",
                    f"{spec.label}: data value too large: {value[:40]} (max length={limit})",
                    (spec.name,),
                )
            if spec.type == "Email" and not EMAIL.match(value):
                raise RecordFailure(
                    "INVALID_EMAIL_ADDRESS",
                    f"{spec.label}: invalid email address: {value}",
                    (spec.name,),
                )
            return value
        if spec.type == "Number":
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise self._wrong_type(spec, value)
            try:
                number = Decimal(str(value))
            except InvalidOperation:
                raise self._wrong_type(spec, value) from None
            scale = spec.scale or 0
            number = number.quantize(Decimal(1).scaleb(-scale), rounding=ROUND_HALF_UP)
            if abs(number) >= Decimal(10) ** ((spec.precision or 18) - scale):
                raise RecordFailure(
                    "NUMBER_OUTSIDE_VALID_RANGE",
                    f"{spec.label}: value outside of valid range on numeric field: {value}",
                    (spec.name,),
                )
            return int(number) if scale == 0 else float(number)
        if spec.type == "DateTime":
            try:
                return _datetime(str(value))
            except ValueError:
                raise self._wrong_type(spec, value) from None
        if spec.type == "Lookup":
            if not isinstance(value, str) or value not in self.data[spec.reference_to or ""]:
                raise RecordFailure(
                    "FIELD_INTEGRITY_EXCEPTION",
                    f"{spec.label}: id value of incorrect type: {value}",
                    (spec.name,),
                )
            return value
        raise ValueError(f"the fake does not know field type {spec.type}")

    @staticmethod
    def _wrong_type(spec: FieldSpec, value: Any) -> RecordFailure:
        return RecordFailure(
            "INVALID_TYPE_ON_FIELD_IN_RECORD",
            f"{spec.label}: value not of required type: {value}",
            (spec.name,),
        )

    def _resolve(self, sobject: str, reference: Reference) -> str:
        spec = self.objects[sobject].relationships[reference.field]
        parent = spec.reference_to or ""
        key_spec = self.objects[parent].fields.get(reference.key)
        if key_spec is None or not key_spec.external_id:
            raise RequestFailure(
                400, "INVALID_FIELD", f"Invalid field: {reference.key} on entity {parent}"
            )
        found = self.index.get((parent, reference.key, reference.value.lower()))
        if found is None:
            raise RecordFailure(
                "INVALID_FIELD",
                f"Foreign key external ID: {reference.value} not found for field "
                f"{reference.key} in entity {parent}",
            )
        return found

    def _upsert(
        self, sobject: str, key_field: str, values: Mapping[str, Any], from_csv: bool
    ) -> tuple[str, bool]:
        """Insert or update one record by `key_field`; its Id and whether it was created."""
        spec = self.objects[sobject]
        key = values.get(key_field)
        if key in (None, "", BULK_NULL):
            raise RecordFailure("MISSING_ARGUMENT", f"{key_field} not specified", (key_field,))
        key = str(key)
        existing_id = self.index.get((sobject, key_field, key.lower()))
        old = self.data[sobject].get(existing_id) if existing_id else None
        new: dict[str, Any] = dict(old) if old else {key_field: key}
        for name, raw in values.items():
            if isinstance(raw, Reference):
                new[spec.relationships[raw.field].name] = self._resolve(sobject, raw)
            elif from_csv and raw == "":
                continue  # an empty cell leaves the field as it is
            else:
                new[name] = self._value(spec.fields[name], raw, from_csv)
        if old is None:
            for f in spec.fields.values():
                if f.type == "Checkbox":
                    new.setdefault(f.name, False)
        missing = [
            f.name for f in spec.fields.values() if f.required and new.get(f.name) in (None, "")
        ]
        if missing:
            raise RecordFailure(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                tuple(missing),
            )
        for f in spec.fields.values():
            if f.unique and new.get(f.name) is not None and f.name != key_field:
                owner = self.index.get((sobject, f.name, str(new[f.name]).lower()))
                if owner is not None and owner != existing_id:
                    raise RecordFailure(
                        "DUPLICATE_VALUE",
                        f"duplicate value found: {f.name} duplicates value on record with id: "
                        f"{owner}",
                        (f.name,),
                    )
        for rule in spec.rules:
            if rule.fires(new, old):
                fields = (rule.display_field,) if rule.display_field else ()
                raise RecordFailure("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.message, fields)
        for rejection in self.rejections.get(sobject, []):
            if rejection.predicate(new, old):
                raise RecordFailure("FIELD_CUSTOM_VALIDATION_EXCEPTION", rejection.message)
        record_id = existing_id or self._new_id(sobject)
        new["Id"] = record_id
        if new != old:
            self.changes[sobject] += 1
        if old:
            for f in spec.fields.values():
                if f.external_id and old.get(f.name) is not None:
                    self.index.pop((sobject, f.name, str(old[f.name]).lower()), None)
        self.data[sobject][record_id] = new
        for f in spec.fields.values():
            if f.external_id and new.get(f.name) is not None:
                self.index[(sobject, f.name, str(new[f.name]).lower())] = record_id
        return record_id, existing_id is None

    def _delete(self, record_id: str) -> None:
        for sobject, records in self.data.items():
            record = records.pop(record_id, None)
            if record is None:
                continue
            for f in self.objects[sobject].fields.values():
                if f.external_id and record.get(f.name) is not None:
                    self.index.pop((sobject, f.name, str(record[f.name]).lower()), None)
            for child, spec in self.objects.items():
                lookups = [f.name for f in spec.fields.values() if f.reference_to == sobject]
                for row in self.data[child].values():
                    for name in lookups:
                        if row.get(name) == record_id:
                            row[name] = None  # deleteConstraint SetNull
            return
        raise RecordFailure("ENTITY_IS_DELETED", "entity is deleted")

    # -- endpoints -----------------------------------------------------------------------------

    def _check_object(self, sobject: str) -> None:
        if sobject not in self.objects:
            raise RequestFailure(
                404, "NOT_FOUND", f"The requested resource does not exist: sObject {sobject}"
            )

    def _check_key_field(self, sobject: str, key_field: str) -> None:
        spec = self.objects[sobject].fields.get(key_field)
        if spec is None or not spec.external_id:
            raise RequestFailure(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {key_field}",
            )

    def _collection_upsert(self, sobject: str, key_field: str, body: Any) -> Any:
        self._check_object(sobject)
        self._check_key_field(sobject, key_field)
        if not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise RequestFailure(400, "JSON_PARSER_ERROR", "records: expected a list")
        if body.get("allOrNone"):
            raise RequestFailure(400, "INVALID_INPUT", "the fake supports allOrNone=false only")
        records = body["records"]
        if len(records) > COLLECTION_LIMIT:
            raise RequestFailure(
                400,
                "EXCEEDED_ID_LIMIT",
                "record limit reached. cannot submit more than 200 records into this call",
            )
        spec = self.objects[sobject]
        parsed: list[dict[str, Any]] = []
        for record in records:
            values: dict[str, Any] = {}
            for name, value in record.items():
                if name in ("attributes", "Id"):
                    continue
                if name in spec.relationships:
                    if not isinstance(value, dict) or len(value) != 1:
                        raise RequestFailure(
                            400, "JSON_PARSER_ERROR", f"{name}: expected one external id field"
                        )
                    ((key, ref),) = value.items()
                    values[name] = Reference(name, key, str(ref))
                elif name in spec.fields:
                    values[name] = value
                else:
                    raise RequestFailure(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on sobject of type {sobject}",
                    )
            parsed.append(values)
        results: list[dict[str, Any]] = []
        seen = Counter(str(v.get(key_field, "")).lower() for v in parsed)
        for values in parsed:
            try:
                if seen[str(values.get(key_field, "")).lower()] > 1:
                    raise RecordFailure(
                        "DUPLICATE_VALUE",
                        f"Duplicate external id specified: {values.get(key_field)}",
                        (key_field,),
                    )
                record_id, created = self._upsert(sobject, key_field, values, from_csv=False)
                results.append({"id": record_id, "success": True, "errors": [], "created": created})
            except RecordFailure as failure:
                results.append({"success": False, "errors": [failure.as_json()]})
        return results

    def _query(self, soql: str) -> Any:
        match = SOQL.match(soql)
        if not match:
            raise RequestFailure(400, "MALFORMED_QUERY", f"unexpected token in: {soql[:80]}")
        sobject = match["object"]
        if sobject not in self.objects:
            raise RequestFailure(
                400,
                "INVALID_TYPE",
                f"sObject type '{sobject}' is not supported.",
            )
        spec = self.objects[sobject]
        wanted = [f.strip() for f in match["fields"].split(",")]
        for name in [*wanted, *([match["field"]] if match["field"] else [])]:
            if name != "Id" and name not in spec.fields:
                raise RequestFailure(
                    400, "INVALID_FIELD", f"No such column '{name}' on entity '{sobject}'."
                )
        rows = list(self.data[sobject].values())
        if match["field"]:
            values = {
                re.sub(r"\\(.)", r"\1", v).lower() for v in SOQL_STRING.findall(match["values"])
            }
            rows = [r for r in rows if str(r.get(match["field"], "")).lower() in values]
        records = [
            {
                "attributes": {
                    "type": sobject,
                    "url": f"/services/data/v62.0/sobjects/{sobject}/{r['Id']}",
                },
                **{name: r.get(name) for name in wanted},
            }
            for r in rows
        ]
        return {"totalSize": len(records), "done": True, "records": records}

    def _collection_delete(self, query: Mapping[str, str]) -> Any:
        if query.get("allOrNone", "false").lower() != "false":
            raise RequestFailure(400, "INVALID_INPUT", "the fake supports allOrNone=false only")
        ids = [i for i in query.get("ids", "").split(",") if i]
        if not ids or len(ids) > COLLECTION_LIMIT:
            raise RequestFailure(400, "INVALID_INPUT", "ids: between 1 and 200 ids")
        results: list[dict[str, Any]] = []
        for record_id in ids:
            try:
                self._delete(record_id)
                results.append({"id": record_id, "success": True, "errors": []})
            except RecordFailure as failure:
                results.append({"id": record_id, "success": False, "errors": [failure.as_json()]})
        return results

    def _job_info(self, job: BulkJob) -> dict[str, Any]:
        info: dict[str, Any] = {
            "id": job.id,
            "operation": "upsert",
            "object": job.sobject,
            "createdById": "005000000000001AAA",
            "createdDate": job.created,
            "systemModstamp": _now(),
            "state": job.state,
            "externalIdFieldName": job.external_id_field,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(job.api_version),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{job.api_version}/jobs/ingest/{job.id}/batches",
            "lineEnding": job.line_ending,
            "columnDelimiter": job.delimiter,
        }
        if job.state in ("JobComplete", "Failed"):
            info["numberRecordsProcessed"] = len(job.successful) + len(job.failed)
            info["numberRecordsFailed"] = len(job.failed)
            info["retries"] = 0
            info["totalProcessingTime"] = 1
        if job.error_message:
            info["errorMessage"] = job.error_message
        return info

    def _create_job(self, body: Any, api_version: str) -> Any:
        if not isinstance(body, dict) or body.get("operation") != "upsert":
            raise RequestFailure(400, "INVALIDJOB", "InvalidJob : the fake knows upsert jobs only")
        sobject = str(body.get("object", ""))
        if sobject not in self.objects:
            raise RequestFailure(
                400, "INVALIDJOB", f"InvalidJob : Unable to find object: {sobject}"
            )
        key_field = str(body.get("externalIdFieldName", ""))
        if not (spec := self.objects[sobject].fields.get(key_field)) or not spec.external_id:
            raise RequestFailure(
                400, "INVALIDJOB", f"InvalidJob : Field name not found : {key_field}"
            )
        if body.get("contentType", "CSV") != "CSV" or body.get("columnDelimiter", "COMMA") != (
            "COMMA"
        ):
            raise RequestFailure(400, "INVALIDJOB", "InvalidJob : the fake knows CSV, COMMA only")
        job = BulkJob(
            id=f"750{secrets.token_hex(6).upper()}AAA",
            sobject=sobject,
            external_id_field=key_field,
            line_ending=str(body.get("lineEnding", "LF")),
            delimiter="COMMA",
            api_version=api_version,
        )
        self.jobs[job.id] = job
        return self._job_info(job)

    def _job(self, job_id: str) -> BulkJob:
        job = self.jobs.get(job_id)
        if job is None:
            raise RequestFailure(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def _process(self, job: BulkJob) -> None:
        """Load an uploaded job's CSV, record by record (all at once, at UploadComplete)."""
        spec = self.objects[job.sobject]
        text = job.data.decode("utf-8")
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
        except StopIteration:
            job.state, job.error_message = "Failed", "InvalidBatch : Empty CSV"
            return
        for column in header:
            base, dot, key = column.partition(".")
            known = (dot and base in spec.relationships) or (not dot and column in spec.fields)
            if not known:
                job.state = "Failed"
                job.error_message = f"InvalidBatch : Field name not found : {column}"
                return
        job.columns = header
        for row in reader:
            values: dict[str, Any] = {}
            for column, cell in zip(header, row, strict=False):
                base, dot, key = column.partition(".")
                if dot and cell not in ("", BULK_NULL):
                    values[base] = Reference(base, key, cell)
                elif dot and cell == BULK_NULL:
                    values[spec.relationships[base].name] = BULK_NULL
                elif not dot:
                    values[column] = cell
            try:
                record_id, created = self._upsert(
                    job.sobject, job.external_id_field, values, from_csv=True
                )
                job.successful.append([record_id, "true" if created else "false", *row])
            except RecordFailure as failure:
                job.failed.append(["", failure.as_bulk(), *row])
        job.state = "JobComplete"

    def _results_csv(self, job: BulkJob, kind: str) -> str:
        heads = {
            "successfulResults": (["sf__Id", "sf__Created"], job.successful),
            "failedResults": (["sf__Id", "sf__Error"], job.failed),
            "unprocessedrecords": ([], job.unprocessed),
        }
        if kind not in heads:
            raise RequestFailure(404, "NOT_FOUND", "The requested resource does not exist")
        head, rows = heads[kind]
        out = io.StringIO()
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow([*head, *job.columns])
        writer.writerows(rows)
        return out.getvalue()

    def _token(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        grant = form.get("grant_type", "")
        self.token_grants.append(grant)
        if grant == "client_credentials":
            if form.get("client_id") != self.client_id:
                return 400, _oauth_error("invalid_client_id", "client identifier invalid")
            if form.get("client_secret") != self.client_secret:
                return 400, _oauth_error("invalid_client", "invalid client credentials")
        elif grant == JWT_GRANT:
            try:
                claims = jwt.decode(
                    form.get("assertion", ""),
                    self.public_key_pem,
                    algorithms=["RS256"],
                    audience=self.base_url,
                    options={"require": ["iss", "sub", "aud", "exp"]},
                )
            except jwt.ExpiredSignatureError:
                return 400, _oauth_error("invalid_grant", "expired authorization code")
            except jwt.InvalidAudienceError:
                return 400, _oauth_error("invalid_grant", "audience is invalid")
            except jwt.PyJWTError:
                return 400, _oauth_error("invalid_grant", "invalid assertion")
            if claims["iss"] != self.client_id:
                return 400, _oauth_error("invalid_client_id", "client identifier invalid")
            if claims["exp"] > time.time() + JWT_MAX_AHEAD_SECONDS:
                return 400, _oauth_error("invalid_grant", "invalid assertion")
            if claims["sub"] not in self.jwt_users:
                return 400, _oauth_error("invalid_grant", "user hasn't approved this consumer")
        else:
            return 400, _oauth_error("unsupported_grant_type", "grant type not supported")
        token = f"00DFAKE000000001!{secrets.token_urlsafe(24)}"
        self.tokens.add(token)
        return 200, {
            "access_token": token,
            "instance_url": self.base_url,
            "id": f"{self.base_url}/id/00DFAKE000000001AAA/005000000000001AAA",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "signature": secrets.token_urlsafe(32),
            "scope": "api",
        }

    def _authorized(self, authorization: str | None) -> bool:
        token = (authorization or "").removeprefix("Bearer ").strip()
        if token not in self.tokens:
            return False
        if self.expire_in is not None:
            self.expire_in -= 1
            if self.expire_in <= 0:
                self.expire_in = None
                self.tokens.clear()
        return True

    def _pop_failure(self, token_endpoint: bool) -> RequestFailure | None:
        for i, kind in enumerate(self.failures):
            if (kind == "token_down") == token_endpoint:
                del self.failures[i]
                status, code, message = FAILURES[kind]
                return RequestFailure(status, code, message)
        return None

    def _data(
        self, method: str, rest: str, query: Mapping[str, str], body: bytes, api_version: str
    ) -> tuple[int, Any, str]:
        """A data API request (authorized): (status, body, content type)."""
        parts = rest.rstrip("/").split("/")

        def payload() -> Any:
            return json.loads(body or b"null")

        match method, parts:
            case "PATCH", ["composite", "sobjects", sobject, key_field]:
                self.calls["upsert"] += 1
                return 200, self._collection_upsert(sobject, key_field, payload()), "json"
            case "DELETE", ["composite", "sobjects"]:
                self.calls["delete"] += 1
                return 200, self._collection_delete(query), "json"
            case "GET", ["query"]:
                self.calls["query"] += 1
                return 200, self._query(query.get("q", "")), "json"
            case "POST", ["jobs", "ingest"]:
                self.calls["bulk_create"] += 1
                return 200, self._create_job(payload(), api_version), "json"
            case "PUT", ["jobs", "ingest", job_id, "batches"]:
                self.calls["bulk_upload"] += 1
                job = self._job(job_id)
                if job.state != "Open":
                    raise RequestFailure(409, "INVALIDJOBSTATE", f"Job is {job.state}")
                job.data.extend(body)
                return 201, None, "json"
            case "PATCH", ["jobs", "ingest", job_id]:
                self.calls["bulk_state"] += 1
                job = self._job(job_id)
                state = (payload() or {}).get("state")
                if state == "UploadComplete" and job.state == "Open":
                    job.state = "UploadComplete"
                    self._process(job)
                elif state == "Aborted" and job.state in ("Open", "UploadComplete"):
                    job.state = "Aborted"
                else:
                    raise RequestFailure(400, "INVALIDJOBSTATE", f"{job.state} -> {state}")
                return 200, self._job_info(job), "json"
            case "GET", ["jobs", "ingest", job_id]:
                self.calls["bulk_status"] += 1
                return 200, self._job_info(self._job(job_id)), "json"
            case "GET", ["jobs", "ingest", job_id, kind]:
                self.calls["bulk_results"] += 1
                return 200, self._results_csv(self._job(job_id), kind), "csv"
            case "DELETE", ["jobs", "ingest", job_id]:
                self.calls["bulk_delete"] += 1
                self._job(job_id)
                del self.jobs[job_id]
                return 204, None, "json"
        raise RequestFailure(404, "NOT_FOUND", "The requested resource does not exist")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _send(self, status: int, body: Any, kind: str = "json") -> None:
                if body is None:
                    data = b""
                elif kind == "csv":
                    data = body.encode("utf-8")
                else:
                    data = json.dumps(body).encode("utf-8")
                self.send_response(status)
                if data:
                    content_type = "text/csv" if kind == "csv" else "application/json"
                    self.send_header("Content-Type", f"{content_type};charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Sforce-Limit-Info", f"api-usage={fake.calls.total()}/15000")
                self.end_headers()
                if data:
                    self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                target = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(target.query).items()}
                with fake.lock:
                    if target.path == "/services/oauth2/token" and self.command == "POST":
                        fake.calls["token"] += 1
                        if failure := fake._pop_failure(token_endpoint=True):
                            self._send(failure.status, {"error": "unavailable"})
                            return
                        form = {k: v[-1] for k, v in parse_qs(body.decode("utf-8")).items()}
                        self._send(*fake._token(form))
                        return
                    match = DATA_PATH.match(target.path)
                    if match is None:
                        self._send(404, RequestFailure(404, "NOT_FOUND", "Not found").body())
                        return
                    if not fake._authorized(self.headers.get("Authorization")):
                        fake.calls["unauthorized"] += 1
                        failure = RequestFailure(
                            401, "INVALID_SESSION_ID", "Session expired or invalid"
                        )
                        self._send(401, failure.body())
                        return
                    if failure := fake._pop_failure(token_endpoint=False):
                        self._send(failure.status, failure.body())
                        return
                    version = target.path.split("/")[3][1:]
                    try:
                        self._send(*fake._data(self.command, match["rest"], query, body, version))
                    except RequestFailure as failure:
                        self._send(failure.status, failure.body())
                    except json.JSONDecodeError as exc:
                        self._send(400, RequestFailure(400, "JSON_PARSER_ERROR", str(exc)).body())

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        return Handler


def _oauth_error(error: str, description: str) -> dict[str, Any]:
    return {"error": error, "error_description": description}


def settings_for(fake: SalesforceFake, flow: str = "client_credentials") -> dict[str, Any]:
    """The ``salesforce_*`` settings that point the adapter at `fake`, authenticating with
    `flow` (``client_credentials`` or ``jwt``), for ``Settings.model_copy(update=...)``."""
    values: dict[str, Any] = {
        "salesforce_instance_url": fake.base_url,
        "salesforce_login_url": fake.base_url,
        "salesforce_client_id": fake.client_id,
        "salesforce_ca_bundle": fake.ca_path,
    }
    if flow == "jwt":
        values["salesforce_username"] = fake.username
        values["salesforce_private_key"] = SecretStr(fake.private_key_pem)
    else:
        values["salesforce_client_secret"] = SecretStr(fake.client_secret)
    return values


@pytest.fixture(scope="session")
def salesforce_fake() -> Iterator[SalesforceFake]:
    """The Salesforce fake, running for this test session (records kept across tests; each test
    uses its own external ids)."""
    with SalesforceFake() as fake:
        yield fake
