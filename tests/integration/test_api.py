"""The v1 API end to end: real API process, event store, relay, Kafka and projections."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from adapters.settings import Settings
from domain.credits import credit_account_id
from tests.integration.apiflow import SCRIPT, grant, project_with_script, register


@pytest.fixture()
def api(studio: str) -> httpx.Client:
    with httpx.Client(base_url=studio, timeout=30) as client:
        yield client


@pytest.fixture()
def admin_headers(api: httpx.Client, studio_settings: Settings) -> dict[str, str]:
    token = api.post(
        "/v1/auth/token",
        data={
            "username": studio_settings.admin_email,
            "password": studio_settings.secret("admin_password"),
        },
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def test_register_token_and_me(api):
    user = register(api, "Asha")
    me = api.get("/v1/me", headers=user["headers"], params={"min_position": user["position"]})
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["email"] == user["email"]
    assert body["display_name"] == "Asha"
    assert body["credits"] == {"balance": 0, "reserved": 0, "owed": 0}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"email": "not-an-email", "password": "long enough pw", "display_name": "x"}, "email"),
        ({"email": "a@example.com", "password": "short", "display_name": "x"}, "password"),
        ({"email": "a@example.com", "password": "long enough pw"}, "display_name"),
    ],
)
def test_bad_registration_is_422_with_reason(api, body, reason):
    response = api.post("/v1/auth/register", json=body)
    assert response.status_code == 422
    assert reason in response.text


def test_duplicate_email_is_409_and_wrong_password_401(api):
    user = register(api)
    again = api.post(
        "/v1/auth/register",
        json={"email": user["email"].upper(), "password": "another password", "display_name": "B"},
    )
    assert again.status_code == 409
    assert "already registered" in again.json()["detail"]
    wrong = api.post("/v1/auth/token", data={"username": user["email"], "password": "nope nope"})
    assert wrong.status_code == 401


def test_requests_without_a_valid_token_are_401(api):
    assert api.get("/v1/me").status_code == 401
    assert api.get("/v1/me", headers={"Authorization": "Bearer forged"}).status_code == 401


def test_project_script_revisions_and_estimate(api):
    user = register(api)
    project_id, position = project_with_script(api, user)
    detail = api.get(
        f"/v1/projects/{project_id}", headers=user["headers"], params={"min_position": position}
    )
    assert detail.status_code == 200, detail.text
    assert detail.json()["revision"] == 1
    assert detail.json()["script"] == {"format": "fountain", "text": SCRIPT}
    listed = api.get("/v1/projects", headers=user["headers"]).json()
    assert [p["project_id"] for p in listed] == [project_id]
    estimate = api.get(f"/v1/projects/{project_id}/estimate", headers=user["headers"])
    assert estimate.status_code == 200
    assert estimate.json()["credits"] == 10 and estimate.json()["seconds"] > 5


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/v1/projects", {"title": "x", "language": "klingon"}),
        ("post", "/v1/projects", {"title": ""}),
        ("post", "/v1/projects", {"title": "x", "unknown": 1}),
        ("get", "/v1/projects/not-a-uuid", None),
        ("get", "/v1/me?min_position=-1", None),
    ],
)
def test_malformed_input_is_a_4xx_never_a_500(api, method, path, body):
    user = register(api)
    response = api.request(method, path, json=body, headers=user["headers"])
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


def test_broken_json_is_422(api):
    user = register(api)
    response = api.post(
        "/v1/projects",
        content=b"{not json",
        headers={**user["headers"], "Content-Type": "application/json"},
    )
    assert response.status_code == 422


def test_min_position_beyond_the_log_is_422(api):
    user = register(api)
    response = api.get("/v1/projects", headers=user["headers"], params={"min_position": 10**12})
    assert response.status_code == 422
    assert "beyond" in response.json()["detail"]


def test_another_users_project_and_production_are_invisible(api, admin_headers):
    owner, intruder = register(api, "Owner"), register(api, "Intruder")
    grant(api, admin_headers, owner["user_id"], 100)
    project_id, _ = project_with_script(api, owner)
    production = api.post(f"/v1/projects/{project_id}/productions", headers=owner["headers"])
    assert production.status_code == 202, production.text
    production_id = production.json()["production_id"]
    position = production.json()["position"]
    h, p = intruder["headers"], {"min_position": position}
    assert api.get(f"/v1/projects/{project_id}", headers=h, params=p).status_code == 404
    assert api.get(f"/v1/projects/{project_id}/estimate", headers=h).status_code == 404
    script = {"format": "plain", "text": "mine now"}
    assert api.put(f"/v1/projects/{project_id}/script", json=script, headers=h).status_code == 404
    assert api.post(f"/v1/projects/{project_id}/productions", headers=h).status_code == 404
    assert api.get(f"/v1/productions/{production_id}", headers=h, params=p).status_code == 404
    assert api.post(f"/v1/productions/{production_id}/cancel", headers=h).status_code == 404
    assert api.get("/v1/projects", headers=h, params=p).json() == []
    own = api.get(f"/v1/productions/{production_id}", headers=owner["headers"], params=p)
    assert own.status_code == 200 and own.json()["status"] == "requested"


def test_admin_routes_refuse_creators(api):
    user = register(api)
    response = api.post(
        f"/v1/admin/users/{user['user_id']}/credits",
        json={"amount": 5, "reason": "free money"},
        headers=user["headers"],
    )
    assert response.status_code == 403


def test_short_balance_is_402_with_reason_and_changes_nothing(api, admin_headers):
    user = register(api)
    position = grant(api, admin_headers, user["user_id"], 5)
    project_id, _ = project_with_script(api, user)
    response = api.post(f"/v1/projects/{project_id}/productions", headers=user["headers"])
    assert response.status_code == 402
    assert "needs 10 credits and the balance is 5" in response.json()["detail"]
    credits = api.get("/v1/credits", headers=user["headers"], params={"min_position": position})
    assert (credits.json()["balance"], credits.json()["reserved"]) == (5, 0)


def test_idempotent_production_request_reserves_once_and_cancel_releases(api, admin_headers):
    user = register(api)
    grant(api, admin_headers, user["user_id"], 25)
    project_id, _ = project_with_script(api, user)
    headers = {**user["headers"], "Idempotency-Key": "produce-1"}
    first = api.post(f"/v1/projects/{project_id}/productions", headers=headers)
    second = api.post(f"/v1/projects/{project_id}/productions", headers=headers)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    credits = api.get(
        "/v1/credits", headers=user["headers"], params={"min_position": first.json()["position"]}
    ).json()
    assert (credits["balance"], credits["reserved"]) == (15, 10)
    assert [e["kind"] for e in credits["ledger"]].count("reserved") == 1

    other_body = api.post(
        f"/v1/projects/{project_id}/productions", json={"quality": "final"}, headers=headers
    )
    assert other_body.status_code == 422 and "different request" in other_body.text

    production_id = first.json()["production_id"]
    cancelled = api.post(f"/v1/productions/{production_id}/cancel", headers=user["headers"])
    assert cancelled.status_code == 200
    after = {"min_position": cancelled.json()["position"]}
    credits = api.get("/v1/credits", headers=user["headers"], params=after).json()
    assert (credits["balance"], credits["reserved"]) == (25, 0)
    production = api.get(f"/v1/productions/{production_id}", headers=user["headers"], params=after)
    assert production.json()["status"] == "cancelled"
    listed = api.get(
        f"/v1/projects/{project_id}/productions", headers=user["headers"], params=after
    )
    assert [(p["production_id"], p["status"]) for p in listed.json()] == [
        (production_id, "cancelled")
    ], "the project's productions are not listed"
    stranger = register(api)
    other = api.get(f"/v1/projects/{project_id}/productions", headers=stranger["headers"])
    assert other.status_code == 404, "another creator's project's productions are listed"


def test_draft_subtitles_in_another_language_are_refused(api, admin_headers):
    user = register(api)
    grant(api, admin_headers, user["user_id"], 50)
    project_id, _ = project_with_script(api, user)
    response = api.post(
        f"/v1/projects/{project_id}/productions",
        json={"quality": "draft", "languages": ["hi"]},
        headers=user["headers"],
    )
    assert response.status_code == 422
    assert "final" in response.json()["detail"]


def reserved_events_on_kafka(settings: Settings, account_id: uuid.UUID) -> list[dict]:
    """Every credits.Reserved event of one account, read back from Kafka (read_committed)."""
    topic = settings.topics.events("credits")
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions])
    found, at_end = [], set()
    while len(at_end) < len(metadata.partitions):  # transaction markers hide the last offsets
        message = consumer.poll(10)
        assert message is not None, "Kafka stopped delivering before the end of the topic"
        if message.error():
            assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
            at_end.add(message.partition())
            continue
        envelope = json.loads(message.value())
        mine = envelope["aggregate"]["id"] == str(account_id)
        if mine and envelope["type"] == "credits.Reserved":
            found.append(envelope)
    consumer.close()
    return found


def test_concurrent_requests_never_overspend(api, admin_headers, studio_settings):
    user = register(api)
    grant(api, admin_headers, user["user_id"], 30)  # covers exactly 3 productions of 10
    project_id, _ = project_with_script(api, user)

    def request(_: int) -> httpx.Response:
        with httpx.Client(base_url=str(api.base_url), timeout=60) as client:
            return client.post(f"/v1/projects/{project_id}/productions", headers=user["headers"])

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(request, range(20)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [202] * 3 + [402] * 17, [r.text for r in responses if r.status_code >= 500]
    last = max(r.json()["position"] for r in responses if r.status_code == 202)
    credits = api.get("/v1/credits", headers=user["headers"], params={"min_position": last}).json()
    assert (credits["balance"], credits["reserved"]) == (0, 30)
    account_id = credit_account_id(uuid.UUID(user["user_id"]))
    reserved = reserved_events_on_kafka(studio_settings, account_id)
    accepted = {r.json()["production_id"] for r in responses if r.status_code == 202}
    assert len(reserved) == 3
    assert {e["payload"]["production_id"] for e in reserved} == accepted


def test_ops_endpoints(api):
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"ready": True}
    assert "studio_http_requests" in api.get("/metrics").text
    spec = api.get("/openapi.json").json()
    assert "/v1/projects/{project_id}/productions" in spec["paths"]
    assert api.get("/docs").status_code == 200


def test_a_retried_grant_with_the_same_key_pays_once(api, admin_headers):
    user = register(api)
    headers = {**admin_headers, "Idempotency-Key": f"grant-{uuid.uuid4()}"}
    body = {"amount": 40, "reason": "bundle purchase"}
    path = f"/v1/admin/users/{user['user_id']}/credits"
    first, second = (
        api.post(path, json=body, headers=headers),
        api.post(path, json=body, headers=headers),
    )
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    credits = api.get(
        "/v1/credits", headers=user["headers"], params={"min_position": first.json()["position"]}
    ).json()
    assert credits["balance"] == 40
    assert [e["kind"] for e in credits["ledger"]] == ["granted"]


def test_grant_to_an_unknown_user_is_404(api, admin_headers):
    response = api.post(
        f"/v1/admin/users/{uuid.uuid4()}/credits",
        json={"amount": 1, "reason": "x"},
        headers=admin_headers,
    )
    assert response.status_code == 404


def test_final_quality_is_refused_without_model_backends(api, admin_headers):
    user = register(api)
    grant(api, admin_headers, user["user_id"], 100)
    project_id, _ = project_with_script(api, user)
    response = api.post(
        f"/v1/projects/{project_id}/productions", json={"quality": "final"}, headers=user["headers"]
    )
    assert response.status_code == 422
    assert "model backends" in response.json()["detail"]


def test_script_help_without_a_language_model_is_503_with_the_reason(api):
    user = register(api)
    project_id, _ = project_with_script(api, user)
    response = api.post(
        f"/v1/projects/{project_id}/script/help",
        json={"action": "tighten", "scene": 1},
        headers=user["headers"],
    )
    assert response.status_code == 503
    assert "FILMSTUDIO_LLM_BASE_URL" in response.json()["detail"]
    unknown = api.post(
        f"/v1/projects/{project_id}/script/help",
        json={"action": "rewrite", "scene": 1},
        headers=user["headers"],
    )
    assert unknown.status_code == 422


def test_direct_uploads_need_the_s3_media_store(api):
    user = register(api)
    wanted = {"purpose": "voice-sample", "content_type": "audio/wav"}
    refused = api.post("/v1/uploads", json=wanted, headers=user["headers"])
    assert refused.status_code == 409 and "S3" in refused.json()["detail"], refused.text
    take = f"/v1/uploads/{uuid.uuid4()}/voice-sample"
    assert api.post(take, json={"name": "mine"}, headers=user["headers"]).status_code == 409


def test_a_voice_sample_that_is_not_audio_is_422_and_stores_nothing(api):
    user = register(api)
    response = api.post(
        "/v1/voices",
        data={"name": "mine"},
        files={"sample": ("a.wav", b"RIFF....WAVEfmt nonsense", "audio/wav")},
        headers=user["headers"],
    )
    assert response.status_code == 422 and "FFmpeg" in response.json()["detail"]
    assert api.get("/v1/voices", headers=user["headers"]).json() == []
    missing_file = api.post("/v1/voices", data={"name": "mine"}, headers=user["headers"])
    assert missing_file.status_code == 422
