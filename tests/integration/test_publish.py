"""Publishing to YouTube through the API, on the YouTube and Google OAuth fake: connecting a
channel (consent URL -> code -> callback), publishing a completed film (once, unless asked to
republish), its publications from the read model, and the token revoked on disconnect and on
erasure. The production is completed by hand through the real write side."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest
from pydantic import SecretStr

from adapters.eventstore import EventStore
from adapters.media import LocalMediaStore, artifact_key
from adapters.settings import Settings
from commands.pipeline import Pipeline
from tests.integration.apiflow import register
from tests.integration.conftest import cli_process, free_port, start_studio
from tests.integration.eventflow import consume_events
from tests.integration.test_production_views import (  # noqa: F401 - media: a fixture
    complete,
    media,
    requested_production,
    view,
)
from tests.support.youtube_fake import YouTubeFake

CHUNK = 256 * 1024  # the smallest chunk YouTube takes: the film goes in many
NOISE = "nullsrc=size=320x180:rate=25:duration=2,geq=random(1)*255:128:128"  # ~3 MB lossless


@pytest.fixture(scope="module")
def studio_settings(
    isolated_settings: Callable[[], Settings], youtube_fake: YouTubeFake
) -> Settings:
    return isolated_settings().model_copy(
        update={
            "api_port": free_port(),
            "youtube_client_id": youtube_fake.client_id,
            "youtube_client_secret": SecretStr(youtube_fake.client_secret),
            "google_oauth_base": youtube_fake.base_url,
            "youtube_api_base": youtube_fake.base_url,
            "youtube_chunk_bytes": CHUNK,
        }
    )


@pytest.fixture(scope="module")
def studio(studio_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url, processes = start_studio(studio_settings, tmp_path_factory.mktemp("publish-logs"))
    yield url
    for process in reversed(processes):
        process.stop()


@pytest.fixture(scope="module")
def api(studio: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=studio, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def pipeline(studio_settings: Settings) -> Iterator[Pipeline]:
    store = EventStore(studio_settings)
    yield Pipeline(studio_settings, store)
    store.close()


def connect(api: httpx.Client, fake: YouTubeFake, user: dict) -> str:
    """Connect the user's channel; returns the refresh token the fake granted."""
    before = set(fake.refresh_tokens)
    consent = api.get("/v1/youtube/connect", headers=user["headers"])
    assert consent.status_code == 200, consent.text
    code, state = fake.consent_code(consent.json()["url"])
    called = api.get("/v1/youtube/callback", params={"code": code, "state": state})
    assert called.status_code == 200, called.text
    again = api.get("/v1/youtube/callback", params={"code": code, "state": state})
    assert again.status_code == 400, "a state was accepted twice"
    granted = set(fake.refresh_tokens) - before
    assert len(granted) == 1, granted
    return granted.pop()


def completed_production(api, studio_settings, pipeline, media) -> tuple[dict, str]:  # noqa: F811
    user = register(api, "Publisher")
    production_id = requested_production(api, studio_settings, user)
    view(api, user, production_id, complete(pipeline, production_id, media))
    return user, production_id


PUBLISH = {"title": "The Lamp", "description": "A short film.", "tags": ["short"]}


def publish(api: httpx.Client, user: dict, production_id: str, **extra: object) -> httpx.Response:
    return api.post(
        f"/v1/productions/{production_id}/publish",
        json={**PUBLISH, **extra},
        headers={**user["headers"], "Idempotency-Key": str(uuid.uuid4())},
    )


def test_connect_publish_once_and_disconnect_revokes(
    api,
    studio_settings,
    pipeline,
    media,  # noqa: F811 - the imported fixture
    youtube_fake,
):
    user, production_id = completed_production(api, studio_settings, pipeline, media)
    refused = publish(api, user, production_id)
    assert refused.status_code == 409 and "connect" in refused.text, refused.text

    refresh_token = connect(api, youtube_fake, user)
    assert api.get("/v1/youtube/connection", headers=user["headers"]).json() == {"connected": True}
    accepted = publish(api, user, production_id)
    assert accepted.status_code == 202, accepted.text
    first = accepted.json()
    twice = publish(api, user, production_id)
    assert twice.status_code == 409 and "republish" in twice.text, twice.text
    again = publish(api, user, production_id, republish=True, privacy="unlisted")
    assert again.status_code == 202, again.text
    assert again.json()["publication_id"] != first["publication_id"]

    listed = api.get(
        f"/v1/productions/{production_id}/publications",
        params={"min_position": again.json()["position"]},
        headers=user["headers"],
    )
    assert listed.status_code == 200, listed.text
    rows = {row["publication_id"]: row for row in listed.json()}
    assert set(rows) == {first["publication_id"], again.json()["publication_id"]}
    assert rows[first["publication_id"]]["title"] == "The Lamp"  # opened from its sealed form
    assert rows[again.json()["publication_id"]]["privacy"] == "unlisted"

    stranger = register(api, "Stranger")
    assert publish(api, stranger, production_id).status_code == 404
    assert (
        api.get(f"/v1/productions/{production_id}/publications", headers=stranger["headers"]).json()
        == []
    )

    assert refresh_token not in youtube_fake.revoked
    gone = api.delete("/v1/youtube/connection", headers=user["headers"])
    assert gone.status_code == 200, gone.text
    assert refresh_token in youtube_fake.revoked, "disconnecting did not revoke the token"
    assert api.get("/v1/youtube/connection", headers=user["headers"]).json() == {"connected": False}


def test_an_unfinished_film_is_not_published(api, studio_settings, youtube_fake):
    user = register(api, "Impatient")
    production_id = requested_production(api, studio_settings, user)
    connect(api, youtube_fake, user)
    refused = publish(api, user, production_id)
    assert refused.status_code == 409 and "completed" in refused.text, refused.text


def test_erasure_revokes_the_token(api, youtube_fake):
    user = register(api, "Leaving")
    refresh_token = connect(api, youtube_fake, user)
    erased = api.delete("/v1/me", headers=user["headers"])
    assert erased.status_code == 202, erased.text
    assert refresh_token in youtube_fake.revoked, "erasure did not revoke the YouTube token"


@pytest.fixture(scope="module")
def big_media(studio_settings: Settings) -> dict[str, str]:
    """A film of many chunks (lossless noise, so large), its thumbnail and English subtitles."""
    store = LocalMediaStore(studio_settings.media_root)
    salt = uuid.uuid4().hex
    keys = {n: artifact_key(n, "test", "1", salt) for n in ("film", "subtitles.en", "board")}
    ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
    with store.writing(keys["film"]) as folder:
        subprocess.run(
            [*ffmpeg, "-i", NOISE, "-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv444p"]
            + [str(folder / "film.mp4")],
            check=True,
        )
        subprocess.run(
            [*ffmpeg, "-i", "color=c=orange:size=160x90", "-frames:v", "1"]
            + [str(folder / "thumbnail.jpg")],
            check=True,
        )
        (folder / "film.json").write_text(json.dumps({"duration_seconds": 2.0}))
    with store.writing(keys["subtitles.en"]) as folder:
        (folder / "subtitles.srt").write_text("1\n00:00:00,000 --> 00:00:01,500\nLight it.\n")
        (folder / "subtitles.vtt").write_text("WEBVTT\n\n00:00.000 --> 00:01.500\nLight it.\n")
    return keys


def wait_for(what: str, done: Callable[[], object], seconds: float = 120) -> object:
    """Poll `done` until it answers something true; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while not (answer := done()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {seconds} s")
        time.sleep(0.2)
    return answer


def test_a_killed_upload_resumes_and_the_video_is_published(
    api, studio_settings, pipeline, big_media, youtube_fake, tmp_path
):
    user, production_id = completed_production(api, studio_settings, pipeline, big_media)
    connect(api, youtube_fake, user)
    film = LocalMediaStore(studio_settings.media_root).path(big_media["film"], "film.mp4")
    size = film.stat().st_size
    assert size > 8 * CHUNK, f"the test film has only {size} bytes"
    youtube_fake.hold_after(size // 2)
    youtube_fake.fail_next("server_error", on="thumbnail")  # after the captions: tried again
    publisher = cli_process("publisher", studio_settings, tmp_path).start()
    try:
        accepted = publish(api, user, production_id)
        assert accepted.status_code == 202, accepted.text
        publication_id = accepted.json()["publication_id"]
        assert youtube_fake.holding.wait(120), "the upload never reached the middle of the film"
        publisher.kill()  # SIGKILL mid-upload
        youtube_fake.release()
        publisher.start()

        def uploaded() -> dict | None:
            rows = api.get(
                f"/v1/productions/{production_id}/publications", headers=user["headers"]
            ).json()
            row = next(r for r in rows if r["publication_id"] == publication_id)
            assert row["state"] != "failed", row
            return row if row["state"] == "uploaded" else None

        row = wait_for("the upload's completion", uploaded)
    finally:
        publisher.stop()
    video_id = row["video_id"]
    assert row["url"] == f"https://www.youtube.com/watch?v={video_id}"
    assert row["attempts"] == 3, "the resumed attempt and the retry are not both recorded"
    assert bytes(youtube_fake.video_bytes[video_id]) == film.read_bytes()
    sessions = [
        upload_id
        for upload_id, session in youtube_fake.sessions.items()
        if session.kind == "video" and session.resource and session.resource["id"] == video_id
    ]
    assert len(sessions) == 1, "the upload started over instead of resuming"
    sent = youtube_fake.received[sessions[0]]
    assert sent < 1.5 * size, f"{sent} bytes sent for a film of {size}"
    captions = [language for language, _ in youtube_fake.captions[video_id]]
    assert captions == ["en"], f"captions added again by the retried attempt: {captions}"
    assert youtube_fake.thumbnails[video_id]

    events = [
        e
        for *_, e in consume_events(studio_settings)
        if e.aggregate.id == uuid.UUID(publication_id)
    ]
    assert [e.type for e in events] == [
        "publication.Requested",
        "publication.Uploading",
        "publication.Uploading",
        "publication.Uploading",
        "publication.Uploaded",
    ]
    assert events[-1].payload["video_id"] == video_id
    assert "upload_id" not in json.dumps([e.payload for e in events]), "a session URI leaked"
