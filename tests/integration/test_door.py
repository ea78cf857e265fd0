"""The API's door on a real PostgreSQL: bounded bodies and texts, rate limits shared through the
database, idempotency without secrets, safe voice uploads and paid script help."""

from __future__ import annotations

import itertools
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from adapters.settings import Settings
from api import voice_routes
from api.app import create_app
from api.idempotency import request_hash
from domain.project import MAX_SCRIPT_BYTES
from filmstudio.bootstrap import api_services
from tests.support.openai_server import LocalOpenAIServer

PASSWORD = "correct horse battery"
SCRIPT = "INT. TEMPLE COURTYARD - DAWN\n\nA single oil lamp flickers.\n"
LIMITED_IP = ("203.0.113.7", 40000)  # the register limit is tested from its own address
ADDRESSES = itertools.count(1)  # each creator registers from its own


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def door_settings(isolated_settings: Callable[[], Settings], llm: LocalOpenAIServer) -> Settings:
    return isolated_settings().model_copy(
        update={
            "register_per_ip": 3,
            "token_failures_per_email": 2,
            "llm_base_url": llm.base_url,
            "script_help_credits": 1,
        }
    )


@pytest.fixture(scope="module")
def app(door_settings: Settings):
    return create_app(door_settings, api_services)


@pytest.fixture(scope="module")
def api(app) -> Iterator[TestClient]:
    with TestClient(app) as client:
        yield client


def elsewhere(api: TestClient) -> TestClient:
    """The same app, called from another address (the app's services are already running)."""
    return TestClient(api.app, client=(f"198.51.100.{next(ADDRESSES)}", 40000))


def creator(api: TestClient) -> dict[str, str]:
    email = f"door-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": "Door"}
    assert elsewhere(api).post("/v1/auth/register", json=body).status_code == 201
    token = api.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def project(api: TestClient, headers: dict[str, str]) -> str:
    created = api.post("/v1/projects", json={"title": "The Lamp"}, headers=headers)
    assert created.status_code == 201, created.text
    return created.json()["project_id"]


def wav(seconds: float = 4.0) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi",
         "-i", f"sine=frequency=180:sample_rate=24000:duration={seconds}", "-f", "wav", "pipe:1"],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


# Bodies and texts


def test_a_json_body_over_the_default_limit_is_413(api, door_settings):
    headers = creator(api)
    body = b'{"title": "' + b"x" * door_settings.max_body_bytes + b'"}'
    response = api.post("/v1/projects", content=body, headers=headers)
    assert response.status_code == 413, response.text
    assert "limit" in response.json()["detail"]


def test_a_script_over_the_byte_limit_is_413_and_one_at_it_is_kept(api):
    headers = creator(api)
    project_id = project(api, headers)
    path = f"/v1/projects/{project_id}/script"
    at_limit = SCRIPT + "क" * ((MAX_SCRIPT_BYTES - len(SCRIPT)) // 3)
    kept = api.put(path, json={"format": "plain", "text": at_limit}, headers=headers)
    assert kept.status_code == 200, kept.text[:500]
    over = api.put(path, json={"format": "plain", "text": at_limit + "कक"}, headers=headers)
    assert over.status_code == 413, over.text[:500]
    assert f"at most {MAX_SCRIPT_BYTES} bytes" in over.json()["detail"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/projects", {"title": "The\x00Lamp"}),
        ("put", "/v1/projects/{project}/script", {"format": "plain", "text": SCRIPT + "\x00"}),
        ("patch", "/v1/me", {"display_name": "bell\x07"}),
        ("post", "/v1/projects/{project}/productions", {"voices": {"MEERA\x00": "espeak:hi/1"}}),
    ],
)
def test_nul_and_control_characters_are_refused_with_422(api, method, path, body):
    headers = creator(api)
    project_id = project(api, headers)
    api.put(
        f"/v1/projects/{project_id}/script",
        json={"format": "fountain", "text": SCRIPT},
        headers=headers,
    )
    response = api.request(method, path.format(project=project_id), json=body, headers=headers)
    assert response.status_code == 422, response.text
    assert "control character" in response.text


# Rate limits


def test_registering_too_often_from_one_address_is_429_with_retry_after(app, door_settings):
    other = TestClient(app, client=LIMITED_IP)
    answers = [
        other.post(
            "/v1/auth/register",
            json={
                "email": f"r{i}-{uuid.uuid4().hex[:6]}@example.com",
                "password": PASSWORD,
                "display_name": "R",
            },
        )  # fmt: skip
        for i in range(door_settings.register_per_ip + 1)
    ]
    assert [a.status_code for a in answers] == [201] * door_settings.register_per_ip + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert "too many sign-ups" in answers[-1].json()["detail"]


def test_failed_sign_ins_to_one_account_are_limited(api, door_settings):
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": "V"}
    assert elsewhere(api).post("/v1/auth/register", json=body).status_code == 201
    wrong = {"username": email, "password": "not the password"}
    for _ in range(door_settings.token_failures_per_email):
        assert api.post("/v1/auth/token", data=wrong).status_code == 401
    locked = api.post("/v1/auth/token", data={"username": email, "password": PASSWORD})
    assert locked.status_code == 429, locked.text
    assert "Retry-After" in locked.headers
    other = creator(api)  # other accounts are not affected
    assert other["Authorization"].startswith("Bearer ")


# Idempotency


def test_register_idempotency_never_fingerprints_the_password(api, door_settings):
    email = f"idem-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": PASSWORD, "display_name": "I"}
    key = {"Idempotency-Key": uuid.uuid4().hex}
    api = elsewhere(api)
    first = api.post("/v1/auth/register", json=body, headers=key)
    again = api.post(
        "/v1/auth/register", json={**body, "password": "another password"}, headers=key
    )
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    services = api.app.state.services  # type: ignore[attr-defined]
    with services.pool.connection() as conn:
        stored = conn.execute(
            "SELECT request_hash FROM idempotency_keys WHERE key = %s", (key["Idempotency-Key"],)
        ).fetchone()[0]
    assert stored == request_hash("register", {"email": email, "display_name": "I"})


# Voice uploads


def test_a_voice_upload_is_authenticated_before_its_body_is_read(api):
    route = next(r for r in voice_routes.router.routes if isinstance(r, APIRoute)
                 and r.path == "/v1/voices" and "POST" in r.methods)  # fmt: skip
    assert not route.dependant.body_params, "FastAPI would read the form before authenticating"
    read: list[int] = []

    def body() -> Iterator[bytes]:
        for _ in range(4):
            read.append(1)
            yield b"x" * 1024

    response = api.post(
        "/v1/voices",
        content=body(),
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status_code == 401, response.text
    assert not read, "the upload was read before the caller was authenticated"


def test_a_playlist_shaped_upload_is_refused_and_a_wav_is_kept(api, tmp_path):
    headers = creator(api)
    local = tmp_path / "local.wav"
    local.write_bytes(wav())
    playlist = f"#EXTM3U\n#EXTINF:4,\nfile:{local}\n#EXT-X-ENDLIST\n".encode()
    refused = api.post(
        "/v1/voices",
        data={"name": "sneaky"},
        files={"sample": ("voice.m3u8", playlist, "audio/x-mpegurl")},
        headers=headers,
    )
    assert refused.status_code == 415, refused.text
    kept = api.post(
        "/v1/voices",
        data={"name": "Asha"},
        files={"sample": ("voice.wav", wav(), "audio/wav")},
        headers=headers,
    )
    assert kept.status_code == 201, kept.text
    assert 3.9 <= kept.json()["seconds"] <= 4.1
    named = api.post(
        "/v1/voices",
        data={"name": "A\x00sha"},
        files={"sample": ("voice.wav", wav(), "audio/wav")},
        headers=headers,
    )
    assert named.status_code == 422 and "control character" in named.text


# Paid script help


def test_script_help_costs_a_credit_and_is_402_without_one(api, door_settings):
    headers = creator(api)
    project_id = project(api, headers)
    api.put(
        f"/v1/projects/{project_id}/script",
        json={"format": "fountain", "text": SCRIPT},
        headers=headers,
    )
    response = api.post(
        f"/v1/projects/{project_id}/script/help",
        json={"action": "tighten", "scene": 1},
        headers=headers,
    )
    assert response.status_code == 402, response.text
    assert "needs 1 credits and the balance is 0" in response.json()["detail"]
