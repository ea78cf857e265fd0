"""Salesforce: custom-object records upserted and deleted by our external id, through the REST
API (``simple-salesforce``): sObject Collections for batches of up to 200, Bulk API 2.0 ingest
jobs for a backfill, SOQL to find the records to delete.

Authentication is OAuth 2.0 against ``{salesforce_login_url}/services/oauth2/token``: the JWT
bearer flow when a username and private key are set, else client credentials. An expired
session (401 ``INVALID_SESSION_ID``) is renewed once and the call repeated.

Errors: `SalesforceUnavailable` (try again later: the network, 5xx, ``REQUEST_LIMIT_EXCEEDED``, a
token endpoint down) or `SalesforceRefused` (the whole request refused for good: credentials,
an unknown object or field, an untrusted certificate). A record Salesforce rejects is not an
error: its `RecordResult` says why. Tokens and field values are never logged.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import jwt
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
)
from simple_salesforce.format import format_soql

from adapters.settings import Settings

log = logging.getLogger(__name__)

EXTERNAL_ID = "External_Id__c"
COLLECTION_SIZE = 200  # sObject Collections' limit per request
QUERY_IDS = 200  # external ids per SOQL query (keeps the URL well under 16 KB)
TIMEOUT_SECONDS = 30.0
JWT_LIFETIME_SECONDS = 180
BULK_POLL_SECONDS = 1
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
BULK_NULL = "#N/A"  # Bulk API 2.0's null; an empty cell leaves a field as it is
# Error codes that pass with time, for a whole request or a single record.
TRANSIENT_CODES = frozenset(
    {"REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE", "UNABLE_TO_LOCK_ROW", "API_CURRENTLY_DISABLED"}
)
BULK_REFUSALS = ("InvalidBatch", "InvalidJob")  # a job failed for its data: it will again
GONE_CODES = frozenset({"ENTITY_IS_DELETED"})  # a delete of what is already gone
SOBJECT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
T = TypeVar("T")


class SalesforceUnavailable(Exception):
    """Salesforce cannot take this request now; the same request may succeed later."""


class SalesforceRefused(Exception):
    """Salesforce refused the whole request for good (credentials, unknown object or field)."""


@dataclass(frozen=True)
class RecordError:
    """One of Salesforce's reasons for rejecting a record (``statusCode``, ``message``,
    ``fields``)."""

    status_code: str
    message: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class RecordResult:
    """What became of one record: `created` (an upsert that inserted), or the `errors`."""

    external_id: str
    success: bool
    created: bool
    errors: tuple[RecordError, ...]

    @property
    def transient(self) -> bool:
        """Rejected for a reason that passes with time (a locked row): send it again later."""
        return not self.success and any(e.status_code in TRANSIENT_CODES for e in self.errors)


class _SalesforceHTTP(HTTPAdapter):
    """Every request with a timeout and, when set, verified against our own CA bundle; a
    ``REQUESTS_CA_BUNDLE`` in the environment would otherwise override ``Session.verify``."""

    def __init__(self, ca_bundle: str | None, timeout: float) -> None:
        super().__init__()
        self._ca_bundle = ca_bundle
        self._timeout = timeout

    def send(  # type: ignore[override]
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | None = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._timeout if timeout is None else timeout,
            verify=self._ca_bundle or verify,
            cert=cert,
            proxies=proxies,
        )


def http_session(settings: Settings, timeout: float = TIMEOUT_SECONDS) -> requests.Session:
    """A requests session for Salesforce: timeouts, and TLS verified against
    ``salesforce_ca_bundle`` when it is set."""
    session = requests.Session()
    ca = str(settings.salesforce_ca_bundle) if settings.salesforce_ca_bundle else None
    adapter = _SalesforceHTTP(ca, timeout)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def jwt_assertion(settings: Settings, now: float | None = None) -> str:
    """The JWT bearer flow's assertion: RS256, issued by the connected app for the user, for the
    login URL, valid three minutes."""
    if not (settings.salesforce_private_key and settings.salesforce_username):
        raise SalesforceRefused("the JWT bearer flow needs a username and a private key")
    claims = {
        "iss": settings.salesforce_client_id,
        "sub": settings.salesforce_username,
        "aud": settings.salesforce_login_url.rstrip("/"),
        "exp": int(now if now is not None else time.time()) + JWT_LIFETIME_SECONDS,
    }
    key = settings.salesforce_private_key.get_secret_value()
    try:
        return jwt.encode(claims, key, algorithm="RS256")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise SalesforceRefused(f"salesforce_private_key is not an RSA key: {exc}") from None


def token_request(settings: Settings) -> dict[str, str]:
    """The form of the token request: JWT bearer when a username and key are set, else client
    credentials."""
    if not settings.salesforce_client_id:
        raise SalesforceRefused("salesforce_client_id is not set")
    if settings.salesforce_username and settings.salesforce_private_key:
        return {"grant_type": JWT_GRANT, "assertion": jwt_assertion(settings)}
    if settings.salesforce_client_secret is None:
        raise SalesforceRefused("set salesforce_client_secret, or a username and a private key")
    return {
        "grant_type": "client_credentials",
        "client_id": settings.salesforce_client_id,
        "client_secret": settings.salesforce_client_secret.get_secret_value(),
    }


def _error_list(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    if isinstance(content, dict):
        return [content]
    return []


def classify(error: SalesforceError) -> SalesforceUnavailable | SalesforceRefused:
    """Which of our two errors a failed whole request is (from its status and error codes)."""
    errors = _error_list(error.content)
    codes = [str(e.get("errorCode", "")) for e in errors]
    summary = (
        "; ".join(f"{e.get('errorCode')}: {e.get('message')}" for e in errors)
        or str(error.content)[:300]
    )
    text = f"{error.status} {error.resource_name}: {summary}"
    if error.status >= 500 or error.status == 429 or TRANSIENT_CODES.intersection(codes):
        return SalesforceUnavailable(text)
    return SalesforceRefused(text)


def record_results(external_ids: Sequence[str], answer: Any) -> list[RecordResult]:
    """sObject Collections' answer (one ``{id, success, created, errors}`` per record, in the
    request's order) as our results."""
    if not isinstance(answer, list) or len(answer) != len(external_ids):
        raise SalesforceUnavailable(
            f"sObject Collections answered {type(answer).__name__} for {len(external_ids)} records"
        )
    return [
        RecordResult(
            external_id=external_id,
            success=bool(item.get("success")),
            created=bool(item.get("created")),
            errors=tuple(
                RecordError(
                    str(e.get("statusCode", "")),
                    str(e.get("message", "")),
                    tuple(str(f) for f in e.get("fields") or ()),
                )
                for e in item.get("errors") or ()
            ),
        )
        for external_id, item in zip(external_ids, answer, strict=True)
    ]


def bulk_error(text: str) -> RecordError:
    """A Bulk API 2.0 ``sf__Error`` (``CODE:message:fields --``) as a `RecordError`."""
    code, _, rest = text.partition(":")
    message, sep, fields = rest.rpartition(":")
    if not sep:
        message, fields = rest, ""
    names = tuple(f.strip() for f in fields.strip().removesuffix("--").split(",") if f.strip())
    return RecordError(code.strip(), message.strip(), names)


def _cell(value: Any) -> str:
    if value is None:
        return BULK_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def bulk_row(record: Mapping[str, Any]) -> dict[str, str]:
    """One record as a Bulk API 2.0 CSV row: a relationship (``{"User__r": {"External_Id__c":
    x}}``) becomes the column ``User__r.External_Id__c``, None becomes ``#N/A``."""
    row: dict[str, str] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, Mapping):
            for key, inner in value.items():
                row[f"{name}.{key}"] = _cell(inner)
        else:
            row[name] = _cell(value)
    return row


def _json_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_sobject(sobject: str) -> None:
    if not SOBJECT_NAME.match(sobject):
        raise SalesforceRefused(f"not an sObject name: {sobject!r}")


class SalesforceClient:
    """Upserts and deletes custom-object records by ``External_Id__c`` (our UUIDs)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._http = http_session(settings)
        self._sf: Salesforce | None = None

    # -- the session ---------------------------------------------------------------------------

    def _authenticate(self) -> Salesforce:
        url = f"{self._settings.salesforce_login_url.rstrip('/')}/services/oauth2/token"
        try:
            answer = self._http.post(url, data=token_request(self._settings))
        except requests.exceptions.SSLError as exc:
            raise SalesforceRefused(f"TLS verification of {url} failed: {exc}") from exc
        except requests.RequestException as exc:
            raise SalesforceUnavailable(f"token request: {type(exc).__name__}") from exc
        if answer.status_code >= 500 or answer.status_code == 429:
            raise SalesforceUnavailable(f"token endpoint answered {answer.status_code}")
        try:
            body = answer.json()
        except ValueError as exc:
            raise SalesforceUnavailable(f"token endpoint answered {answer.status_code}") from exc
        if answer.status_code != 200 or "access_token" not in body:
            error = body.get("error", "?") if isinstance(body, dict) else "?"
            detail = body.get("error_description", "") if isinstance(body, dict) else ""
            raise SalesforceRefused(f"token request refused: {error}: {detail}")
        log.info("salesforce: authenticated (%s)", token_request_kind(self._settings))
        self._sf = Salesforce(
            instance_url=body["instance_url"],
            session_id=body["access_token"],
            version=self._settings.salesforce_api_version,
            session=self._http,
        )
        return self._sf

    def _call(self, what: str, call: Callable[[Salesforce], T]) -> T:
        """`call` with a session; an expired session renewed and the call repeated once."""
        for attempt in (1, 2):
            sf = self._sf or self._authenticate()
            try:
                return call(sf)
            except SalesforceExpiredSession as exc:
                self._sf = None
                if attempt == 2:
                    raise SalesforceUnavailable(f"{what}: session refused after login") from exc
                log.info("salesforce: session expired during %s, authenticating again", what)
            except SalesforceError as exc:
                raise classify(exc) from exc
            except SalesforceOperationError as exc:  # a Bulk API job that failed or timed out
                if any(reason in str(exc) for reason in BULK_REFUSALS):
                    raise SalesforceRefused(f"{what}: {exc}") from exc
                raise SalesforceUnavailable(f"{what}: {exc}") from exc
            except requests.exceptions.SSLError as exc:
                raise SalesforceRefused(f"{what}: TLS verification failed: {exc}") from exc
            except requests.RequestException as exc:
                raise SalesforceUnavailable(f"{what}: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    # -- records -------------------------------------------------------------------------------

    def upsert(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Upsert by ``External_Id__c`` with sObject Collections (200 a request, not all or
        none); the results in the records' order."""
        _check_sobject(sobject)
        results: list[RecordResult] = []
        for chunk in _chunks(records, COLLECTION_SIZE):
            body = {
                "allOrNone": False,
                "records": [
                    {"attributes": {"type": sobject}, **_json_value(record)} for record in chunk
                ],
            }
            path = f"composite/sobjects/{sobject}/{EXTERNAL_ID}"
            answer = self._call(f"upsert {sobject}", partial(_rest, path, "PATCH", json=body))
            results.extend(record_results([str(r[EXTERNAL_ID]) for r in chunk], answer))
        log.debug("salesforce: upserted %d %s", len(records), sobject)
        return results

    def bulk_upsert(self, sobject: str, records: Sequence[Mapping[str, Any]]) -> list[RecordResult]:
        """Upsert by ``External_Id__c`` with Bulk API 2.0 ingest jobs (CSV); the results in the
        records' order."""
        _check_sobject(sobject)
        if not records:
            return []
        rows = [bulk_row(record) for record in records]

        def load(sf: Salesforce) -> dict[str, RecordResult]:
            bulk = getattr(sf.bulk2, sobject)
            jobs = bulk.upsert(records=rows, external_id_field=EXTERNAL_ID, wait=BULK_POLL_SECONDS)
            outcome: dict[str, RecordResult] = {}
            for job in jobs:
                for row in _csv_rows(bulk.get_successful_records(job["job_id"])):
                    created = row.get("sf__Created", "").lower() == "true"
                    outcome[row[EXTERNAL_ID]] = RecordResult(row[EXTERNAL_ID], True, created, ())
                for row in _csv_rows(bulk.get_failed_records(job["job_id"])):
                    error = bulk_error(row.get("sf__Error", ""))
                    outcome[row[EXTERNAL_ID]] = RecordResult(
                        row[EXTERNAL_ID], False, False, (error,)
                    )
            return outcome

        outcome = self._call(f"bulk upsert {sobject}", load)
        unprocessed = RecordError("UNPROCESSED", "Bulk API 2.0 did not process the record", ())
        log.debug("salesforce: bulk upserted %d %s", len(records), sobject)
        return [
            outcome.get(str(r[EXTERNAL_ID]))
            or RecordResult(str(r[EXTERNAL_ID]), False, False, (unprocessed,))
            for r in records
        ]

    def delete(self, sobject: str, external_ids: Sequence[str]) -> list[RecordResult]:
        """Delete the records with these external ids; one that does not exist is a success
        (already gone). The results in the ids' order."""
        _check_sobject(sobject)
        found: dict[str, str] = {}  # Salesforce Id -> external id
        for chunk in _chunks(external_ids, QUERY_IDS):
            soql = format_soql(
                "SELECT Id, {:literal} FROM {:literal} WHERE {:literal} IN {}",
                EXTERNAL_ID, sobject, EXTERNAL_ID, list(chunk),
            )  # fmt: skip
            answer = self._call(f"query {sobject}", partial(_query, soql=soql))
            found.update({r["Id"]: r[EXTERNAL_ID] for r in answer["records"]})
        outcome: dict[str, RecordResult] = {}
        for ids in _chunks(list(found), COLLECTION_SIZE):
            params = {"ids": ",".join(ids), "allOrNone": "false"}
            call = partial(_rest, "composite/sobjects", "DELETE", params=params)
            answer = self._call(f"delete {sobject}", call)
            for result in record_results([found[i] for i in ids], answer):
                gone = result.errors and all(e.status_code in GONE_CODES for e in result.errors)
                outcome[result.external_id] = (
                    RecordResult(result.external_id, True, False, ()) if gone else result
                )
        log.debug("salesforce: deleted %d of %d %s", len(found), len(external_ids), sobject)
        return [outcome.get(x) or RecordResult(x, True, False, ()) for x in external_ids]

    def close(self) -> None:
        self._sf = None
        self._http.close()


def token_request_kind(settings: Settings) -> str:
    """Which OAuth 2.0 flow these settings use (for logs)."""
    jwt_flow = settings.salesforce_username and settings.salesforce_private_key
    return "JWT bearer" if jwt_flow else "client credentials"


def _csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def _rest(path: str, method: str, sf: Salesforce, **kwargs: Any) -> Any:
    return sf.restful(path, method=method, **kwargs)


def _query(sf: Salesforce, soql: str) -> Any:
    return sf.query_all(soql)
