"""Links without headers: the event stream's token and the local store's signed media links,
each good for one production of its owner only, and only while the owner's account stands."""

from __future__ import annotations

import httpx

from tests.integration import test_production_views as views
from tests.integration.apiflow import register

# The completed production of the media routes' tests, with its fixtures.
api, completed, media, pipeline = views.api, views.completed, views.media, views.pipeline
complete, requested_production = views.complete, views.requested_production


def _admin(api: httpx.Client, settings) -> dict:  # type: ignore[no-untyped-def]
    token = api.post(
        "/v1/auth/token",
        data={"username": settings.admin_email, "password": settings.secret("admin_password")},
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def _link(api: httpx.Client, user: dict, production_id: str, path: str) -> httpx.URL:
    answer = api.get(f"/v1/productions/{production_id}{path}/link", headers=user["headers"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["expires_at"] is not None
    return httpx.URL(answer.json()["url"])


def test_the_stream_token_opens_the_event_stream_without_a_header(api, completed):
    user, production_id = completed
    issued = api.post(f"/v1/productions/{production_id}/stream-token", headers=user["headers"])
    assert issued.status_code == 200, issued.text
    token = issued.json()["token"]
    with api.stream(
        "GET", f"/v1/productions/{production_id}/events", params={"token": token}
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = stream.read().decode()
    assert body.startswith("event: snapshot") and "event: end" in body
    assert api.get(f"/v1/productions/{production_id}/events").status_code == 401
    assert api.get("/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    film = api.get(f"/v1/productions/{production_id}/film", params={"token": token})
    assert film.status_code == 401 and "not for this production" in film.json()["detail"]


def test_subtitle_links_serve_without_a_header(api, completed):
    user, production_id = completed
    vtt = api.get(_link(api, user, production_id, "/subtitles/en.vtt"))
    assert vtt.status_code == 200 and vtt.text.startswith("WEBVTT")
    srt = api.get(_link(api, user, production_id, "/subtitles/en.srt"))
    assert srt.status_code == 200 and "00:00:00,000 --> 00:00:01,500" in srt.text
    thumb = api.get(
        f"/v1/productions/{production_id}/thumbnail.jpg",
        params={"token": _link(api, user, production_id, "/film").params["token"]},
    )
    assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    missing = api.get(
        f"/v1/productions/{production_id}/subtitles/hi.srt/link", headers=user["headers"]
    )
    assert missing.status_code == 404


def test_a_token_is_for_its_production_and_its_owner_only(api, completed, studio_settings):
    user, production_id = completed
    token = _link(api, user, production_id, "/film").params["token"]
    other = requested_production(api, studio_settings, user)
    refused = api.get(f"/v1/productions/{other}/film", params={"token": token})
    assert refused.status_code == 401, refused.text
    stream = api.get(f"/v1/productions/{other}/events", params={"token": token})
    assert stream.status_code == 401
    stranger = register(api, "Stranger")
    base = f"/v1/productions/{production_id}"
    assert api.post(f"{base}/stream-token", headers=stranger["headers"]).status_code == 404
    for path in ("/film/link", "/subtitles/en.vtt/link", "/subtitles/en.srt/link"):
        answer = api.get(f"{base}{path}", headers=stranger["headers"])
        assert answer.status_code == 404, path


def test_an_erased_owners_links_stop_working(api, studio_settings, pipeline, media):
    owner = register(api, "Leaving")
    production_id = requested_production(api, studio_settings, owner)
    views.view(api, owner, production_id, complete(pipeline, production_id, media))
    film = _link(api, owner, production_id, "/film")
    assert api.get(film).status_code == 200
    erased = api.post(
        f"/v1/admin/users/{owner['user_id']}/erase", headers=_admin(api, studio_settings)
    )
    assert erased.status_code == 200, erased.text
    gone = api.get(film)
    assert gone.status_code == 401 and "no longer exists" in gone.json()["detail"]
