"""The OpenAPI document as served: FastAPI's, with the problem schema in place of FastAPI's
validation error, and links from what a command creates to the operations on it."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.problems import component_schemas
from schemas.work import ProgressTick

FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
PROJECT = "/v1/projects/{project_id}"
PRODUCTION = "/v1/productions/{production_id}"

Link = tuple[str, str, dict[str, str]]  # target path, method, {parameter: runtime expression}


def _from_body(path: str, method: str, *fields: str) -> Link:
    return path, method, {field: f"$response.body#/{field}" for field in fields}


def _from_path(path: str, method: str, *parameters: str) -> Link:
    return path, method, {name: f"$request.path.{name}" for name in parameters}


# (path, method, status) of a response -> {link name: the operation it leads to, and how}
LINKS: dict[tuple[str, str, str], dict[str, Link]] = {
    ("/v1/auth/register", "post", "201"): {
        "GrantCredits": _from_body("/v1/admin/users/{user_id}/credits", "post", "user_id"),
        "EraseUser": _from_body("/v1/admin/users/{user_id}/erase", "post", "user_id"),
    },
    ("/v1/projects", "post", "201"): {
        "GetProject": _from_body(PROJECT, "get", "project_id"),
        "ChangeProjectSettings": _from_body(PROJECT, "patch", "project_id"),
        "ReviseScript": _from_body(f"{PROJECT}/script", "put", "project_id"),
        "ScriptHelp": _from_body(f"{PROJECT}/script/help", "post", "project_id"),
        "Estimate": _from_body(f"{PROJECT}/estimate", "get", "project_id"),
        "RequestProduction": _from_body(f"{PROJECT}/productions", "post", "project_id"),
        "ArchiveProject": _from_body(f"{PROJECT}/archive", "post", "project_id"),
    },
    (f"{PROJECT}/script", "put", "200"): {
        "ScriptHelp": _from_path(f"{PROJECT}/script/help", "post", "project_id"),
        "Estimate": _from_path(f"{PROJECT}/estimate", "get", "project_id"),
        "RequestProduction": _from_path(f"{PROJECT}/productions", "post", "project_id"),
    },
    (f"{PROJECT}/script/help", "post", "201"): {
        "AcceptSuggestion": (
            f"{PROJECT}/script/suggestions/{{suggestion_id}}/accept",
            "post",
            {
                "project_id": "$request.path.project_id",
                "suggestion_id": "$response.body#/suggestion_id",
            },
        ),
    },
    (f"{PROJECT}/productions", "post", "202"): {
        "GetProduction": _from_body(PRODUCTION, "get", "production_id"),
        "CancelProduction": _from_body(f"{PRODUCTION}/cancel", "post", "production_id"),
        "ProductionEvents": _from_body(f"{PRODUCTION}/events", "get", "production_id"),
        "Film": _from_body(f"{PRODUCTION}/film", "get", "production_id"),
        "FilmHead": _from_body(f"{PRODUCTION}/film", "head", "production_id"),
        "Thumbnail": _from_body(f"{PRODUCTION}/thumbnail.jpg", "get", "production_id"),
    },
    ("/v1/voices", "post", "201"): {
        "RemoveVoiceSample": _from_body("/v1/voices/{sample_id}", "delete", "sample_id"),
    },
}


def add_links(paths: dict[str, Any]) -> None:
    """Put `LINKS` into the responses of `paths` (operations absent from `paths` are skipped)."""
    for (path, method, status), links in LINKS.items():
        response = paths.get(path, {}).get(method, {}).get("responses", {}).get(status)
        if response is None:
            continue
        for name, (target, target_method, parameters) in links.items():
            operation = paths.get(target, {}).get(target_method)
            if operation is not None:
                response.setdefault("links", {})[name] = {
                    "operationId": operation["operationId"],
                    "parameters": parameters,
                }


def _uses(document: Any, ref: str) -> bool:
    if isinstance(document, dict):
        return document.get("$ref") == ref or any(_uses(v, ref) for v in document.values())
    if isinstance(document, list):
        return any(_uses(v, ref) for v in document)
    return False


def studio_openapi(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document, built once."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(component_schemas())
        schemas["ProgressTick"] = ProgressTick.model_json_schema(mode="serialization")  # SSE
        for name in FASTAPI_VALIDATION_SCHEMAS:
            if not _uses(schema["paths"], f"#/components/schemas/{name}"):
                schemas.pop(name, None)
        add_links(schema["paths"])
        app.openapi_schema = schema
    return app.openapi_schema
