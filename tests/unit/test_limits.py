"""Limits at the door: body sizes (declared or streamed) and text every store can hold."""

import re
from collections.abc import Iterator
from uuid import uuid4

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from pydantic import ValidationError

from api import models
from api.limits import BodyLimits, RouteLimit
from domain.errors import Invalid
from domain.project import MAX_SCRIPT_BYTES, Project, check_title
from domain.text import TooLarge, check_text


@pytest.fixture
def client() -> TestClient:
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    @app.post("/json")
    def parsed(body: models.CancelProduction) -> dict[str, str]:
        return {"reason": body.reason}

    @app.post("/big")
    async def big(request: Request) -> dict[str, int]:
        return {"received": len(await request.body())}

    app.add_middleware(
        BodyLimits, default_bytes=1000, routes=[RouteLimit("POST", re.compile("^/big$"), 5000)]
    )
    return TestClient(app)


def chunks(count: int, size: int) -> Iterator[bytes]:
    for _ in range(count):
        yield b"x" * size


def test_a_body_within_the_limit_passes(client):
    response = client.post("/echo", content=b"x" * 1000)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1000}


def test_a_declared_body_over_the_limit_is_refused_before_it_is_read(client):
    response = client.post("/echo", content=b"x" * 1001)
    assert response.status_code == 413, response.text
    assert "limit of 1000 bytes" in response.json()["detail"]


def test_a_streamed_body_is_counted_and_stopped_at_the_limit(client):
    response = client.post("/echo", content=chunks(20, 100))  # chunked: no Content-Length
    assert response.status_code == 413, response.text
    assert "limit of 1000 bytes" in response.json()["detail"]


def test_a_streamed_json_body_over_the_limit_is_413_not_a_parse_error(client):
    response = client.post(
        "/json", content=chunks(20, 100), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413, response.text


def test_a_route_has_its_own_limit(client):
    assert client.post("/big", content=b"x" * 5000).status_code == 200
    assert client.post("/big", content=chunks(51, 100)).status_code == 413


def test_a_content_length_that_is_no_number_is_refused(client):
    response = client.post("/echo", content=b"xx", headers={"Content-Length": "2x"})
    assert response.status_code == 400, response.text


@pytest.mark.parametrize("bad", ["a\x00b", "bell\x07", "esc\x1b[0m", "del\x1f"])
def test_api_text_refuses_control_characters(bad):
    with pytest.raises(ValidationError, match="control character"):
        models.CreateProject(title=bad)


@pytest.mark.parametrize("fine", ["tab\tand\nnewline\r\n", "दीपक", "emoji 🎬"])
def test_api_text_keeps_tab_newline_and_any_script(fine):
    assert models.CancelProduction(reason=fine).reason == fine


def test_the_domain_refuses_control_characters_in_a_title():
    with pytest.raises(Invalid, match="U\\+0000"):
        check_title("The\x00Lamp")
    with pytest.raises(Invalid, match="U\\+0000"):
        Project.create(uuid4(), "a\x00", "en", "16:9")


def test_the_domain_refuses_unpaired_surrogates():
    with pytest.raises(Invalid, match="unpaired surrogate U\\+D800"):
        check_text("a script", "lone \ud800")


def test_script_size_is_counted_in_utf8_bytes():
    devanagari = "क" * (MAX_SCRIPT_BYTES // 3)  # 3 bytes each: exactly at the limit
    assert check_text("a script", devanagari, MAX_SCRIPT_BYTES) == devanagari
    with pytest.raises(TooLarge, match=f"at most {MAX_SCRIPT_BYTES} bytes"):
        check_text("a script", devanagari + "क", MAX_SCRIPT_BYTES)


def test_accepting_a_suggestion_cannot_grow_the_script_past_its_limit(memory):
    owner, _ = memory.studio.register("meera@example.com", "lamp-light-42", "Meera")
    project_id, _ = memory.studio.create_project(owner, "The Lamp", "en", "16:9")
    scene = "INT. HOUSE - DAY\n\nMeera lights a lamp.\n"
    near_limit = scene + "क" * ((MAX_SCRIPT_BYTES - len(scene) - 10) // 3)
    memory.studio.revise_script(owner, project_id, "plain", near_limit)
    project = memory.store.load(project_id)
    suggestion_id = uuid4()
    project.suggest(suggestion_id, 1, "expand", scene + "The lamp burns on.\n" * 10, "model")
    memory.store.save_all(project)
    before = memory.store.last_position()
    with pytest.raises(TooLarge, match=f"at most {MAX_SCRIPT_BYTES} bytes"):
        memory.studio.accept_suggestion(owner, project_id, suggestion_id)
    assert memory.store.last_position() == before, "an oversized revision was recorded"


def test_a_suggestion_holding_a_control_character_is_not_recorded(memory):
    owner, _ = memory.studio.register("meera@example.com", "lamp-light-42", "Meera")
    project_id, _ = memory.studio.create_project(owner, "The Lamp", "en", "16:9")
    memory.studio.revise_script(owner, project_id, "plain", "INT. HOUSE - DAY\n\nA lamp.\n")
    project = memory.store.load(project_id)
    with pytest.raises(Invalid, match="U\\+0000"):
        project.suggest(uuid4(), 1, "expand", "INT. HOUSE\x00", "model")
