"""Errors as RFC 9457 problems, the OpenAPI document that says so, and the local docs pages."""

from __future__ import annotations

import re

import psycopg
import pytest
from eventsourcing.persistence import IntegrityError
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from pydantic import BaseModel

from adapters.llm import LLMBadAnswer, LLMUnavailable
from adapters.settings import Settings
from api import problems
from api.app import create_app
from domain.errors import Conflict, InsufficientCredits, Invalid, NotFound
from domain.fountain import scene_spans

PROBLEM = "application/problem+json"
RAISED = {
    "/http": HTTPException(401, "invalid or expired token", {"WWW-Authenticate": "Bearer"}),
    "/credits": InsufficientCredits("needs 10 credits and the balance is 5"),
    "/missing": NotFound("no such project"),
    "/conflict": Conflict("this project is archived"),
    "/invalid": Invalid("a title has 1 to 200 characters"),
    "/contended": IntegrityError("duplicate position"),
    "/database": psycopg.OperationalError("connection refused"),
    "/no-llm": LLMUnavailable("no language model: set FILMSTUDIO_LLM_BASE_URL"),
    "/bad-llm": LLMBadAnswer("the answer lost the scene heading"),
    "/bug": ZeroDivisionError("division by zero"),
}


class Thing(BaseModel):
    name: str
    size: int


def _raiser(error: Exception):
    def fail() -> None:
        raise error

    return fail


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    problems.install(app)
    for path, error in RAISED.items():
        app.get(path)(_raiser(error))

    @app.post("/things")
    def add(thing: Thing) -> Thing:
        return thing

    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def studio() -> TestClient:
    """The studio's app without its services: enough for routing, errors and the documents."""
    return TestClient(create_app(Settings(), lambda settings: None))


@pytest.fixture(scope="module")
def openapi(studio: TestClient) -> dict:
    response = studio.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


@pytest.mark.parametrize(
    ("path", "status", "detail", "headers"),
    [
        ("/http", 401, "invalid or expired token", {"www-authenticate": "Bearer"}),
        ("/credits", 402, "needs 10 credits and the balance is 5", {}),
        ("/missing", 404, "no such project", {}),
        ("/conflict", 409, "this project is archived", {}),
        ("/invalid", 422, "a title has 1 to 200 characters", {}),
        ("/contended", 409, "too many concurrent changes", {"retry-after": "1"}),
        ("/database", 503, "the database is unavailable", {"retry-after": "2"}),
        ("/no-llm", 503, "FILMSTUDIO_LLM_BASE_URL", {"retry-after": "30"}),
        ("/bad-llm", 502, "lost the scene heading", {}),
        ("/bug", 500, "an unexpected error", {}),
    ],
)
def test_each_error_is_a_problem_with_its_status_reason_and_headers(
    client, path, status, detail, headers
):
    response = client.get(path)
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["instance"] == path
    assert detail in body["detail"]
    assert "division" not in body["detail"]  # nothing from inside leaks out
    for name, value in headers.items():
        assert response.headers.get(name) == value, name


def test_a_request_that_does_not_validate_lists_each_field(client):
    response = client.post("/things", json={"size": "big"})
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    by_field = {tuple(error["loc"]): error for error in body["errors"]}
    assert set(by_field) == {("body", "name"), ("body", "size")}
    assert by_field[("body", "size")]["type"] == "int_parsing"
    assert "body.name" in body["detail"] and "body.size" in body["detail"]


def test_broken_json_is_a_422_problem(client):
    response = client.post(
        "/things", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == "json_invalid"


def test_unknown_paths_and_methods_are_problems_and_405_allows_every_method(studio, openapi):
    missing = studio.get("/v1/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    wrong = studio.put("/v1/me")
    assert wrong.status_code == 405
    assert wrong.headers["content-type"] == PROBLEM
    documented = sorted(method.upper() for method in openapi["paths"]["/v1/me"])
    assert len(documented) > 1
    assert wrong.headers["allow"] == ", ".join(documented)  # Starlette alone names one route's
    assert studio.put("/v1/productions/x/film").headers["allow"] == "GET, HEAD"


def _operations(openapi: dict):
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            yield f"{method.upper()} {path}", operation


def test_every_error_response_is_documented_as_a_problem(openapi):
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    assert openapi["components"]["schemas"]["Problem"]["required"] == ["title", "status", "detail"]
    for name, operation in _operations(openapi):
        for status, response in operation["responses"].items():
            if int(status) >= 400 and not name.endswith("/readyz"):
                assert list(response["content"]) == [PROBLEM], (name, status)
                schema = response["content"][PROBLEM]["schema"]
                assert schema == {"$ref": "#/components/schemas/Problem"}, (name, status)


def test_every_route_documents_the_codes_it_can_answer(openapi):
    for name, operation in _operations(openapi):
        codes = set(operation["responses"])
        if operation.get("security"):
            assert {"401", "503"} <= codes, name
        if any(p["name"] == "min_position" for p in operation.get("parameters", [])):
            assert {"422", "503"} <= codes, name
        if "requestBody" in operation:
            assert {"400", "413", "422"} <= codes, name
        if name.startswith(("POST /v1/admin", "GET /v1/admin")):
            assert "403" in codes, name
    auth = dict(_operations(openapi))
    assert "429" in auth["POST /v1/auth/token"]["responses"]
    assert "429" in auth["POST /v1/auth/register"]["responses"]
    assert "402" in auth["POST /v1/projects/{project_id}/script/help"]["responses"]
    assert set(auth["POST /v1/voices"]["responses"]) >= {"413", "415", "422"}
    assert "Retry-After" in auth["GET /v1/me"]["responses"]["503"]["headers"]


def test_media_routes_document_their_real_media_types(openapi):
    operations = dict(_operations(openapi))
    production = "/v1/productions/{production_id}"
    expected = {
        f"GET {production}/film": "video/mp4",
        f"GET {production}/thumbnail.jpg": "image/jpeg",
        f"GET {production}/subtitles/{{lang}}.vtt": "text/vtt",
        f"GET {production}/subtitles/{{lang}}.srt": "application/x-subrip",
        f"GET {production}/events": "text/event-stream",
    }
    for name, media_type in expected.items():
        assert list(operations[name]["responses"]["200"]["content"]) == [media_type], name
    assert "206" in operations[f"GET {production}/film"]["responses"]
    upload = operations["POST /v1/voices"]["requestBody"]["content"]
    assert list(upload) == ["multipart/form-data"]


def test_links_lead_from_what_is_created_to_the_operations_on_it(openapi):
    operation_ids = {op["operationId"] for _, op in _operations(openapi)}
    operations = dict(_operations(openapi))
    created = operations["POST /v1/projects"]["responses"]["201"]["links"]
    assert created["GetProject"]["parameters"] == {"project_id": "$response.body#/project_id"}
    accepted = operations["POST /v1/projects/{project_id}/productions"]["responses"]["202"]
    assert {"GetProduction", "CancelProduction", "Film"} <= set(accepted["links"])
    for name, operation in _operations(openapi):
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                assert link["operationId"] in operation_ids, name


def test_docs_pages_load_only_local_assets_and_they_are_served(studio):
    for page in ("/docs", "/redoc"):
        response = studio.get(page)
        assert response.status_code == 200
        urls = re.findall(r'(?:src|href)="([^"]+)"', response.text)
        assert urls, page
        for url in urls:
            assert url.startswith("/"), (page, url)  # nothing from a CDN
            assert studio.get(url).status_code == 200, (page, url)
        assert "openapi.json" in response.text


def test_a_script_without_scenes_has_no_spans():
    """Found by the contract run: script help on a script with no scene heading was a 500."""
    assert scene_spans("fountain", "Title: Nothing yet\n\nJust a note.") == []
    assert scene_spans("plain", "") == []
    assert scene_spans("plain", "one\n\ntwo") == [(0, 2), (2, 3)]


def test_a_body_refused_at_the_door_is_a_problem_too(studio):
    too_large = b"x" * (Settings().max_body_bytes + 1)
    response = studio.post(
        "/v1/auth/register", content=too_large, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 413 and "limit" in response.json()["detail"]


def test_a_query_parameter_given_twice_is_refused_not_guessed(studio):
    """Found by the contract run: `?min_position=5&min_position=0` was read as 0."""
    response = studio.get("/v1/projects", params=[("min_position", "5"), ("min_position", "0")])
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"loc": ["query", "min_position"], "msg": "given more than once", "type": "repeated"}
    ]


def test_an_error_without_a_text_reason_gets_its_status_phrase():
    assert problems.title(404) == "Not Found" and problems.title(599) == "599"
    app = FastAPI()
    problems.install(app)
    app.get("/odd")(_raiser(HTTPException(404, {"code": 7})))
    response = TestClient(app).get("/odd")
    assert response.status_code == 404 and response.json()["detail"] == "Not Found"
