"""Publishing to YouTube against the local fake of Google's OAuth and the Data API uploads:
connecting with PKCE, a resumable upload of a real film (and one killed mid-way, resumed from
its session URI), captions, thumbnail, quota and server errors, refresh and revocation."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr

from adapters.settings import PROJECT_ROOT, Settings
from adapters.youtube import (
    CHUNK_UNIT,
    Tokens,
    VideoMetadata,
    YouTubeOAuth,
    YouTubeRefused,
    YouTubeUnavailable,
    YouTubeUploader,
    new_code_verifier,
)
from tests.support.youtube_fake import YouTubeFake

REDIRECT_URI = "http://127.0.0.1:8000/v1/youtube/callback"
METADATA = VideoMetadata(
    title="The Lighthouse Keeper", description="Made with AI Film Studio.", tags=("short",)
)
# An uploader process: it stores the session URI in a file as soon as YouTube gives it.
UPLOADER = """
import sys
from datetime import datetime
from pathlib import Path
from adapters.settings import Settings
from adapters.youtube import CHUNK_UNIT, Tokens, VideoMetadata, YouTubeUploader
film, session_file, access, refresh, expires = sys.argv[1:]
tokens = Tokens(access, refresh, datetime.fromisoformat(expires))
YouTubeUploader(Settings(), tokens, chunk_bytes=CHUNK_UNIT).upload(
    Path(film), VideoMetadata("The Lighthouse Keeper"), on_session=Path(session_file).write_text
)
"""


@pytest.fixture(scope="module")
def settings(youtube_fake: YouTubeFake, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        state_dir=tmp_path_factory.mktemp("state"),
        youtube_client_id=youtube_fake.client_id,
        youtube_client_secret=SecretStr(youtube_fake.client_secret),
        google_oauth_base=youtube_fake.base_url,
        youtube_api_base=youtube_fake.base_url + "/",
    )


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A small real film (H.264/AAC mp4 of several upload chunks), a JPEG frame and an SRT."""
    folder = tmp_path_factory.mktemp("film")
    film, thumbnail, srt = folder / "film.mp4", folder / "thumbnail.jpg", folder / "en.srt"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30",
         "-f", "lavfi", "-i", "sine=frequency=440", "-t", "3", "-c:v", "libx264",
         "-preset", "ultrafast", "-b:v", "3M", "-pix_fmt", "yuv420p", "-c:a", "aac",
         "-shortest", "-movflags", "+faststart", str(film)],
        check=True,
    )  # fmt: skip
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-i", str(film), "-frames:v", "1", str(thumbnail)],
        check=True,
    )
    srt.write_text("1\n00:00:00,000 --> 00:00:02,000\nHello.\n")
    assert film.stat().st_size > 4 * CHUNK_UNIT, "the film should span several upload chunks"
    return {"film": film, "thumbnail": thumbnail, "srt": srt}


def connect(oauth: YouTubeOAuth, verifier: str | None = None) -> Tokens:
    """What the studio's connect and callback routes do, with the user consenting."""
    verifier_sent = new_code_verifier()
    url = oauth.authorization_url("state-123", verifier_sent, REDIRECT_URI)
    consent = httpx.get(url, follow_redirects=False)
    assert consent.status_code == 302, consent.text
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    assert back["state"] == ["state-123"]
    return oauth.exchange(back["code"][0], verifier or verifier_sent, REDIRECT_URI)


@pytest.fixture
def oauth(settings: Settings) -> YouTubeOAuth:
    return YouTubeOAuth(settings)


@pytest.fixture
def uploader(settings: Settings, oauth: YouTubeOAuth) -> YouTubeUploader:
    return YouTubeUploader(settings, connect(oauth), chunk_bytes=CHUNK_UNIT)


def test_connecting_exchanges_the_code_with_its_pkce_verifier(oauth: YouTubeOAuth) -> None:
    tokens = connect(oauth)
    assert tokens.access_token.startswith("ya29.") and tokens.refresh_token
    assert "https://www.googleapis.com/auth/youtube.force-ssl" in tokens.scopes


def test_a_wrong_verifier_is_refused(oauth: YouTubeOAuth) -> None:
    with pytest.raises(YouTubeRefused) as refused:
        connect(oauth, verifier=new_code_verifier())
    assert refused.value.reason == "invalid_grant"


def test_a_film_is_uploaded_in_chunks(
    uploader: YouTubeUploader, youtube_fake: YouTubeFake, media: dict[str, Path]
) -> None:
    sessions: list[tuple[str, int]] = []  # each session URI, and the bytes sent when it came
    progress: list[int] = []
    video = uploader.upload(
        media["film"], METADATA,
        on_session=lambda uri: sessions.append((uri, youtube_fake.received_for(uri))),
        on_progress=lambda sent, total: progress.append(sent),
    )  # fmt: skip
    assert youtube_fake.video_bytes[video.id] == media["film"].read_bytes()
    assert video.resource["snippet"]["title"] == METADATA.title
    assert video.resource["status"]["privacyStatus"] == "private"
    assert len(sessions) == 1 and sessions[0][1] == 0, "the session URI must come before bytes"
    assert progress == sorted(progress) and len(progress) >= 4
    assert video.url == f"https://www.youtube.com/watch?v={video.id}"


def test_a_killed_upload_resumes_from_its_session_uri(
    settings: Settings, oauth: YouTubeOAuth, youtube_fake: YouTubeFake, media: dict[str, Path]
) -> None:
    size = media["film"].stat().st_size
    tokens = connect(oauth)
    sessions: list[str] = []
    youtube_fake.cut_after(size * 6 // 10)
    try:
        with pytest.raises(YouTubeUnavailable):
            YouTubeUploader(settings, tokens, chunk_bytes=CHUNK_UNIT).upload(
                media["film"], METADATA, on_session=sessions.append
            )
    finally:
        youtube_fake.cut_at = None
    assert youtube_fake.cuts >= 1 and len(sessions) == 1
    # A new process: only the persisted session URI is left of the first upload.
    again: list[str] = []
    video = YouTubeUploader(settings, tokens, chunk_bytes=CHUNK_UNIT).upload(
        media["film"], METADATA, session_uri=sessions[0], on_session=again.append
    )
    assert youtube_fake.video_bytes[video.id] == media["film"].read_bytes()
    assert again == [], "the resumed upload must not start a new session"
    assert (youtube_fake.resource_of(sessions[0]) or {}).get("id") == video.id
    assert youtube_fake.received_for(sessions[0]) < 1.5 * size


def test_an_uploader_process_killed_mid_film_resumes_from_its_session_uri(
    settings: Settings,
    oauth: YouTubeOAuth,
    youtube_fake: YouTubeFake,
    media: dict[str, Path],
    tmp_path: Path,
) -> None:
    film, size, tokens = media["film"], media["film"].stat().st_size, connect(oauth)
    session_file = tmp_path / "session-uri"
    env = {
        **os.environ,
        "FILMSTUDIO_YOUTUBE_CLIENT_ID": youtube_fake.client_id,
        "FILMSTUDIO_YOUTUBE_CLIENT_SECRET": youtube_fake.client_secret,
        "FILMSTUDIO_GOOGLE_OAUTH_BASE": youtube_fake.base_url,
        "FILMSTUDIO_YOUTUBE_API_BASE": youtube_fake.base_url + "/",
    }
    argv = [str(film), str(session_file), tokens.access_token, tokens.refresh_token,
            tokens.expires_at.isoformat()]  # fmt: skip
    youtube_fake.hold_after(size // 2)
    child = subprocess.Popen([sys.executable, "-c", UPLOADER, *argv], cwd=PROJECT_ROOT, env=env)
    try:
        reached = youtube_fake.holding.wait(timeout=60)
    finally:
        child.kill()  # SIGKILL mid-film: no chance to clean up
        child.wait()
        youtube_fake.release()
    assert reached, f"the uploader process never sent half the film (exit {child.returncode})"
    uri = session_file.read_text()
    assert size // 2 <= youtube_fake.received_for(uri) < size

    video = YouTubeUploader(settings, tokens, chunk_bytes=CHUNK_UNIT).upload(
        film, METADATA, session_uri=uri
    )
    assert youtube_fake.video_bytes[video.id] == film.read_bytes()
    assert (youtube_fake.resource_of(uri) or {}).get("id") == video.id, "not the killed upload"
    assert youtube_fake.received_for(uri) < 1.5 * size, "the upload started over"


def test_resuming_a_finished_upload_returns_its_video(
    uploader: YouTubeUploader, youtube_fake: YouTubeFake, media: dict[str, Path]
) -> None:
    sessions: list[str] = []
    video = uploader.upload(media["film"], METADATA, on_session=sessions.append)
    again = uploader.upload(media["film"], METADATA, session_uri=sessions[0])
    assert again.id == video.id
    assert youtube_fake.received_for(sessions[0]) == media["film"].stat().st_size


def test_captions_and_thumbnail_are_set(
    uploader: YouTubeUploader, youtube_fake: YouTubeFake, media: dict[str, Path]
) -> None:
    video = uploader.upload(media["film"], METADATA)
    assert uploader.caption_languages(video.id) == set()
    caption = uploader.set_captions(video.id, "en", media["srt"], name="English")
    uploader.set_captions(video.id, "hi", media["srt"])
    assert uploader.caption_languages(video.id) == {"en", "hi"}
    thumbnail = uploader.set_thumbnail(video.id, media["thumbnail"])
    assert caption["snippet"]["language"] == "en" and caption["kind"] == "youtube#caption"
    assert youtube_fake.captions[video.id] == [
        ("en", media["srt"].read_bytes()),
        ("hi", media["srt"].read_bytes()),
    ]
    assert youtube_fake.thumbnails[video.id] == media["thumbnail"].read_bytes()
    assert thumbnail["items"][0]["default"]["url"]


def test_captions_for_an_unknown_video_are_refused(
    uploader: YouTubeUploader, media: dict[str, Path]
) -> None:
    with pytest.raises(YouTubeRefused) as refused:
        uploader.set_captions("no-such-vid", "en", media["srt"])
    assert refused.value.reason == "videoNotFound" and refused.value.status == 404


@pytest.mark.parametrize("failure", ["quota", "server_error"])
def test_quota_exhaustion_and_server_errors_are_unavailable(
    failure: str, uploader: YouTubeUploader, youtube_fake: YouTubeFake, media: dict[str, Path]
) -> None:
    youtube_fake.fail_next(failure)
    with pytest.raises(YouTubeUnavailable):
        uploader.upload(media["film"], METADATA)
    assert uploader.upload(media["film"], METADATA).id in youtube_fake.videos


def test_expired_access_is_refreshed_and_revoked_access_refused(
    settings: Settings, oauth: YouTubeOAuth, youtube_fake: YouTubeFake, media: dict[str, Path]
) -> None:
    tokens = connect(oauth)
    refreshed = oauth.refresh(tokens.refresh_token)
    assert refreshed.access_token != tokens.access_token
    assert refreshed.refresh_token == tokens.refresh_token

    youtube_fake.expire_access_tokens()  # YouTube answers 401; the uploader refreshes, retries
    uploader = YouTubeUploader(settings, refreshed, chunk_bytes=CHUNK_UNIT)
    uploader.upload(media["film"], METADATA)
    assert uploader.tokens.access_token not in (tokens.access_token, refreshed.access_token)

    assert oauth.revoke(tokens.refresh_token) is True
    assert oauth.revoke(tokens.refresh_token) is False  # already revoked: nothing left to do
    with pytest.raises(YouTubeRefused) as refused:
        oauth.refresh(tokens.refresh_token)
    assert refused.value.reason == "invalid_grant"
    with pytest.raises(YouTubeRefused):
        YouTubeUploader(settings, uploader.tokens, chunk_bytes=CHUNK_UNIT).upload(
            media["film"], METADATA
        )
