"""The admin area's reads: every production, newest first, and the latest dead letters."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from adapters import kafka
from adapters.dead_letters import letter
from adapters.settings import Settings
from tests.integration.apiflow import grant, project_with_script, register


@pytest.fixture(scope="module")
def api(studio: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=studio, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def admin(api: httpx.Client, studio_settings: Settings) -> dict:
    token = api.post(
        "/v1/auth/token",
        data={
            "username": studio_settings.admin_email,
            "password": studio_settings.secret("admin_password"),
        },
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def _production(api: httpx.Client, admin: dict, user: dict) -> tuple[str, int]:
    project_id, _ = project_with_script(api, user)
    started = api.post(
        f"/v1/projects/{project_id}/productions",
        json={"quality": "draft", "languages": ["en"]},
        headers={**user["headers"], "Idempotency-Key": str(uuid.uuid4())},
    )
    assert started.status_code == 202, started.text
    return started.json()["production_id"], started.json()["position"]


def test_creators_may_not_read_the_admin_lists(api):
    creator = register(api)
    for path in ("/v1/admin/productions", "/v1/admin/dead-letters"):
        answer = api.get(path, headers=creator["headers"])
        assert answer.status_code == 403, path
        assert answer.json()["detail"] == "this route is for admins"
        assert api.get(path).status_code == 401, path


def test_every_owners_productions_newest_first_with_a_status_filter(api, admin):
    first, second = register(api, "First"), register(api, "Second")
    grant(api, admin, first["user_id"], 100)
    grant(api, admin, second["user_id"], 100)
    older, _ = _production(api, admin, first)
    newer, position = _production(api, admin, second)
    page = api.get("/v1/admin/productions", params={"min_position": position}, headers=admin)
    assert page.status_code == 200, page.text
    ids = [row["production_id"] for row in page.json()]
    assert ids.index(newer) < ids.index(older)
    row = page.json()[ids.index(newer)]
    assert row["owner_id"] == second["user_id"] and row["owner_email"] == second["email"]
    assert row["status"] == "requested" and row["progress"] == 0.0
    assert row["requested_at"] <= row["updated_at"]
    one = api.get("/v1/admin/productions", params={"limit": 1}, headers=admin).json()
    assert [r["production_id"] for r in one] == [newer]
    requested = api.get("/v1/admin/productions", params={"status": "requested"}, headers=admin)
    assert {r["status"] for r in requested.json()} == {"requested"}
    assert newer in [r["production_id"] for r in requested.json()]
    none = api.get("/v1/admin/productions", params={"status": "completed"}, headers=admin)
    assert newer not in [r["production_id"] for r in none.json()]
    bad = api.get("/v1/admin/productions", params={"status": "lost"}, headers=admin)
    assert bad.status_code == 422


def test_the_latest_dead_letters_newest_first(api, admin, studio_settings):
    group = f"test-{uuid.uuid4().hex[:8]}"
    producer = kafka.producer(studio_settings)
    topic = studio_settings.topics.dead_letters()
    now = datetime.now(UTC) + timedelta(days=1)  # newer than any other test's
    for n in range(3):
        dead = letter(group, "studio.work", n, 10 + n, f"key-{n}", b"{}", "ValueError", f"bad {n}")
        dead = dead.model_copy(update={"at": now + timedelta(seconds=n)})
        kafka.send(producer, topic, group, dead.to_bytes())
    answer = api.get("/v1/admin/dead-letters", params={"limit": 2}, headers=admin)
    assert answer.status_code == 200, answer.text
    assert [(d["group"], d["error"]) for d in answer.json()] == [(group, "bad 2"), (group, "bad 1")]
    newest = answer.json()[0]
    assert (newest["topic"], newest["partition"], newest["offset"], newest["key"]) == (
        "studio.work",
        2,
        12,
        "key-2",
    )
    assert newest["error_type"] == "ValueError" and "value_base64" not in newest
    every = api.get("/v1/admin/dead-letters", params={"limit": 500}, headers=admin).json()
    assert [d["error"] for d in every if d["group"] == group] == ["bad 2", "bad 1", "bad 0"]
