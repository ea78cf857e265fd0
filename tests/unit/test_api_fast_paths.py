"""The API's per-request shortcuts keep their guarantees: a verified token is remembered but still
expires and a bad one is refused every time; the trace middleware (pure ASGI) tags the request's
events with the caller and answers the correlation id; an ownership check in a request whose
caller was just found live does not read the account again, and does without that mark; the
API's process line runs the configured number of workers."""

from __future__ import annotations

import time
from contextvars import copy_context
from types import SimpleNamespace
from uuid import uuid4

import jwt
import pytest
from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import CollectorRegistry, Counter, Histogram

from adapters.metadata import current_meta
from api import auth
from api.auth import Tokens
from api.trace import Trace
from commands.handlers import LIVE_USER, Identity
from domain.errors import NotFound
from filmstudio.bootstrap import InMemoryStudio
from filmstudio.processes import studio_processes

SECRET = "unit-test-jwt-secret-of-thirty-two-bytes"


def test_a_verified_token_is_decoded_once_and_still_expires(monkeypatch):
    tokens = Tokens(SECRET, 60)
    identity = Identity(uuid4(), "creator", 3)
    token = tokens.issue(identity)
    decoded = []
    real_decode = jwt.decode
    monkeypatch.setattr(
        auth.jwt, "decode", lambda *a, **k: decoded.append(1) or real_decode(*a, **k)
    )
    assert tokens.identity(token) == identity
    assert tokens.identity(token) == identity
    assert len(decoded) == 1, "a verified token's signature was checked again"
    later = time.time() + 61
    monkeypatch.setattr(auth.time, "time", lambda: later)
    with pytest.raises(HTTPException) as expired:
        tokens.identity(token)
    assert expired.value.status_code == 401


def test_a_bad_token_is_refused_every_time():
    tokens = Tokens(SECRET, 60)
    token = tokens.issue(Identity(uuid4(), "creator"))
    foreign = Tokens("another-secret-of-at-least-thirty-two-b", 60).issue(
        Identity(uuid4(), "admin")
    )
    for bad in (token[:-3] + "AAA", foreign, "not-a-jwt"):
        for _ in range(2):
            with pytest.raises(HTTPException) as refused:
                tokens.identity(bad)
            assert refused.value.status_code == 401


@pytest.fixture
def traced() -> tuple[TestClient, Tokens, Counter]:
    registry = CollectorRegistry()
    requests = Counter("requests", "", ["method", "route", "status"], registry=registry)
    latency = Histogram("latency", "", ["method", "route"], registry=registry)
    tokens = Tokens(SECRET, 60)
    app = FastAPI()
    app.state.services = SimpleNamespace(tokens=tokens)
    app.add_middleware(Trace, requests=requests, latency=latency)

    @app.get("/meta/{name}")
    def meta(name: str) -> dict[str, str]:
        if name == "missing":
            raise HTTPException(404, "no such thing")
        return current_meta().as_dict()

    return TestClient(app), tokens, requests


def test_the_trace_tags_events_with_the_caller_and_answers_the_correlation_id(traced):
    client, tokens, requests = traced
    user = Identity(uuid4(), "creator")
    answer = client.get(
        "/meta/x",
        headers={"Authorization": f"Bearer {tokens.issue(user)}", "X-Correlation-ID": "c-1"},
    )
    assert answer.json()["actor"] == f"creator:{user.user_id}"
    assert answer.json()["correlation_id"] == "c-1"
    assert answer.headers["X-Correlation-ID"] == "c-1"
    anonymous = client.get("/meta/x", headers={"Authorization": "Bearer nonsense"})
    assert anonymous.json()["actor"] == "anonymous"
    assert anonymous.headers["X-Correlation-ID"] == anonymous.json()["correlation_id"]
    missing = client.get("/meta/missing")
    assert missing.status_code == 404 and missing.headers["X-Correlation-ID"]
    counted = requests.labels("GET", "/meta/{name}", "404")._value.get()
    assert counted == 1, "the trace did not count the answer by route template and status"


def test_an_owner_marked_live_is_not_read_again_and_unmarked_is(
    memory: InMemoryStudio, monkeypatch
):
    owner, _ = memory.studio.register("meera@example.com", "lamp-light-42", "Meera")
    project_id, _ = memory.studio.create_project(owner, "The Lamp", "en", "16:9")
    reads = []
    real_user = memory.studio.user
    monkeypatch.setattr(memory.studio, "user", lambda uid: reads.append(uid) or real_user(uid))

    def as_request() -> None:
        LIVE_USER.set(owner)
        memory.studio.change_project_settings(owner, project_id, "Lamp II", None, None)

    copy_context().run(as_request)
    assert reads == [], "the request's live caller was read again"
    memory.studio.change_project_settings(owner, project_id, "Lamp III", None, None)
    assert reads == [owner], "without the mark the owner was not checked"
    memory.studio.erase_user(owner)
    with pytest.raises(NotFound):
        memory.studio.change_project_settings(owner, project_id, "Lamp IV", None, None)


def test_the_api_process_line_runs_the_configured_workers(unit_settings):
    def api_line(workers: int) -> list[str]:
        settings = unit_settings.model_copy(update={"api_workers": workers})
        return next(p.argv for p in studio_processes(settings) if p.name == "api")

    assert "--workers" not in api_line(1)
    line = api_line(3)
    assert line[line.index("--workers") + 1] == "3"
