"""Errors as RFC 9457 problem details (`application/problem+json`), and their OpenAPI documentation.

Every error the API answers has the same shape, `Problem`: `status` and its `title`, a `detail`
that says the reason in words, the request path as `instance`, and for a request that does not
validate, `errors` with each field's location and message. `install` registers the handlers;
`problems(401, 404, ...)` is the `responses` of a route decorator documenting the codes it answers.
"""

from __future__ import annotations

import re
from functools import lru_cache
from http import HTTPStatus
from typing import Any

import psycopg
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from adapters.llm import LLMBadAnswer, LLMUnavailable
from adapters.s3_media import MediaStoreError
from domain.errors import Conflict, DomainError, InsufficientCredits, Invalid, NotFound

MEDIA_TYPE = "application/problem+json"
SCHEMA_REF = "#/components/schemas/Problem"
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
STATUS_OF = {InsufficientCredits: 402, NotFound: 404, Conflict: 409, Invalid: 422}


class FieldError(BaseModel):
    """One reason a request did not validate."""

    loc: list[str | int] = Field(description="where: body, query, path or header, then the field")
    msg: str
    type: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str = Field(default="about:blank", description="`about:blank`: the status says it all")
    title: str = Field(description="the status code's phrase")
    status: int
    detail: str = Field(description="the reason, for a person")
    instance: str | None = Field(default=None, description="the request's path")
    errors: list[FieldError] | None = Field(
        default=None, description="a request that did not validate: each field's problem"
    )


class ProblemResponse(JSONResponse):
    media_type = MEDIA_TYPE


def title(status: int) -> str:
    """The status code's reason phrase (RFC 9110), or just the code when it has none."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


def problem(
    request: Request,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
) -> ProblemResponse:
    """The problem response of `status` for `request`."""
    body = Problem(
        title=title(status),
        status=status,
        detail=detail,
        instance=request.url.path,
        errors=errors,
    )
    return ProblemResponse(
        body.model_dump(mode="json", exclude_none=True), status_code=status, headers=headers
    )


def problem_json(status: int, detail: str, instance: str | None = None) -> bytes:
    """A problem's body, for code that answers without FastAPI (ASGI middleware)."""
    body = Problem(title=title(status), status=status, detail=detail, instance=instance)
    return body.model_dump_json(exclude_none=True).encode()


def _field_errors(error: RequestValidationError) -> list[FieldError]:
    return [
        FieldError(
            loc=[part if isinstance(part, int) else str(part) for part in item.get("loc", ())],
            msg=str(item.get("msg", "")),
            type=str(item.get("type", "")),
        )
        for item in error.errors()
    ]


def _validation_detail(errors: list[FieldError]) -> str:
    reasons = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors[:10])
    more = f" (and {len(errors) - 10} more)" if len(errors) > 10 else ""
    return f"the request is not valid: {reasons}{more}"


@lru_cache(maxsize=256)
def _path_regex(template: str) -> re.Pattern[str]:
    return compile_path(template)[0]


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for the request's path (Starlette names one)."""
    path = request.scope["path"]
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        if _path_regex(template).match(path):
            methods |= {method.upper() for method in operations if method in HTTP_METHODS}
    return sorted(methods)


def install(app: FastAPI) -> None:
    """Answer every error of `app` as a problem."""

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> ProblemResponse:
        detail = error.detail if isinstance(error.detail, str) else title(error.status_code)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return problem(request, error.status_code, detail, headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> ProblemResponse:
        errors = _field_errors(error)
        return problem(request, 422, _validation_detail(errors), errors=errors)

    @app.exception_handler(DomainError)
    async def refused(request: Request, error: DomainError) -> ProblemResponse:
        status = next((s for kind, s in STATUS_OF.items() if isinstance(error, kind)), 422)
        return problem(request, status, str(error))

    @app.exception_handler(IntegrityError)
    async def contended(request: Request, error: IntegrityError) -> ProblemResponse:
        detail = "too many concurrent changes to the same thing; retry"
        return problem(request, 409, detail, {"Retry-After": "1"})

    @app.exception_handler(psycopg.OperationalError)
    async def unavailable(request: Request, error: psycopg.OperationalError) -> ProblemResponse:
        detail = "the database is unavailable; retry shortly"
        return problem(request, 503, detail, {"Retry-After": "2"})

    @app.exception_handler(MediaStoreError)
    async def no_media_store(request: Request, error: MediaStoreError) -> ProblemResponse:
        return problem(request, 503, f"the media store failed: {error}", {"Retry-After": "5"})

    @app.exception_handler(LLMUnavailable)
    async def no_language_model(request: Request, error: LLMUnavailable) -> ProblemResponse:
        return problem(request, 503, str(error), {"Retry-After": "30"})

    @app.exception_handler(LLMBadAnswer)
    async def bad_language_model(request: Request, error: LLMBadAnswer) -> ProblemResponse:
        return problem(request, 502, str(error))

    @app.exception_handler(Exception)
    async def crashed(request: Request, error: Exception) -> ProblemResponse:
        """A bug: logged with its traceback by the server; the client learns nothing inside."""
        return problem(request, 500, "an unexpected error; it has been logged")


# The documentation of each status code, in the `responses` of the routes.

DESCRIPTIONS = {
    400: "the request is malformed",
    401: "no valid bearer token",
    402: "the balance does not cover the cost",
    403: "not allowed for this caller",
    404: "no such thing (or not yours)",
    409: "the current state forbids it, or a concurrent change won; retry",
    413: "the request (or an event it would record) is too large",
    415: "the media type of the upload is not accepted",
    416: "the range starts past the end",
    422: "the request is not valid: `errors` says which field and why",
    429: "too many requests; retry after `Retry-After` seconds",
    502: "the language model's answer was unusable",
    503: "not available now (database, read model or language model); retry shortly",
}
RETRY_AFTER = {
    "description": "seconds to wait before retrying",
    "schema": {"type": "string"},
}
HEADERS = {
    401: {"WWW-Authenticate": {"description": "`Bearer`", "schema": {"type": "string"}}},
    409: {"Retry-After": RETRY_AFTER},
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses` of a route decorator documenting these error codes as problems."""
    return {code: problem_response(code) for code in codes}


def problem_response(code: int, description: str | None = None) -> dict[str, Any]:
    """One error code's documentation: the problem schema, and the headers it may carry."""
    response: dict[str, Any] = {
        "description": description or DESCRIPTIONS.get(code) or title(code),
        "content": {MEDIA_TYPE: {"schema": {"$ref": SCHEMA_REF}}},
    }
    if code in HEADERS:
        response["headers"] = HEADERS[code]
    return response


def merge(*parts: dict[int | str, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """Several `responses` dicts as one (later ones win)."""
    merged: dict[int | str, dict[str, Any]] = {}
    for part in parts:
        merged.update(part)
    return merged


def component_schemas() -> dict[str, Any]:
    """`Problem` and `FieldError` for the OpenAPI document's `components.schemas`."""
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {"Problem": schema, **defs}
