"""What a creator sees of a production: stages and progress, the live stream, the film and its
subtitles. The pipeline's events are issued through the real write side (`Pipeline`), with
artifacts made here in the media store the API serves from."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from adapters import kafka
from adapters.eventstore import EventStore
from adapters.kafka import partition_for
from adapters.media import LocalMediaStore, artifact_key
from adapters.settings import Settings
from commands.pipeline import Pipeline
from domain.stages import STAGES
from schemas.work import ProgressTick
from tests.integration.apiflow import SCRIPT, grant, project_with_script, register
from tests.integration.conftest import studio_env

UNITS = {
    "script_analysis": ["script"],
    "image_generation": ["shot-1", "shot-2", "shot-10"],
    "voice_synthesis": ["line-1", "line-2"],
    "music": ["scene-1"],
    "lip_sync": [],  # nobody speaks on screen: the stage completes with no units
    "subtitles": ["en"],
    "composition": ["film"],
}
DURATION = 2.0


@pytest.fixture(scope="module")
def api(studio: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=studio, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def pipeline(studio_settings: Settings) -> Iterator[Pipeline]:
    store = EventStore(studio_settings)
    yield Pipeline(studio_settings, store)
    store.close()


@pytest.fixture(scope="module")
def media(studio_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Artifacts as the pipeline leaves them: a real (tiny) film, its thumbnail and subtitles."""
    store = LocalMediaStore(studio_settings.media_root)
    salt = uuid.uuid4().hex
    keys = {
        name: artifact_key(name, "test", "1", salt) for name in ("film", "subtitles.en", "board")
    }
    with store.writing(keys["film"]) as folder:
        ffmpeg = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"]
        subprocess.run(
            [*ffmpeg, "-i", f"testsrc=size=160x90:rate=10:duration={DURATION}", "-f", "lavfi"]
            + ["-i", f"sine=frequency=440:duration={DURATION}", "-c:v", "libx264"]
            + ["-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart"]
            + [str(folder / "film.mp4")],
            check=True,
        )
        subprocess.run(
            [*ffmpeg, "-i", "color=c=orange:size=160x90", "-frames:v", "1"]
            + [str(folder / "thumbnail.jpg")],
            check=True,
        )
        (folder / "film.json").write_text(json.dumps({"duration_seconds": DURATION}))
    with store.writing(keys["subtitles.en"]) as folder:
        (folder / "subtitles.srt").write_text(
            "1\n00:00:00,000 --> 00:00:01,500\nLight it again, before the bells.\n"
        )
        (folder / "subtitles.vtt").write_text(
            "WEBVTT\n\n00:00.000 --> 00:01.500\nLight it again, before the bells.\n"
        )
    return keys


def requested_production(api: httpx.Client, settings: Settings, user: dict) -> str:
    """A production requested through the API by `user` (credits granted by the admin),
    once the read model shows it."""
    admin = api.post(
        "/v1/auth/token",
        data={"username": settings.admin_email, "password": settings.secret("admin_password")},
    ).json()["access_token"]
    grant(api, {"Authorization": f"Bearer {admin}"}, user["user_id"], 100)
    project_id, _ = project_with_script(api, user)
    production = api.post(
        f"/v1/projects/{project_id}/productions",
        json={"quality": "draft", "languages": ["en"]},
        headers={**user["headers"], "Idempotency-Key": str(uuid.uuid4())},
    )
    assert production.status_code == 202, production.text
    production_id = production.json()["production_id"]
    view(api, user, production_id, production.json()["position"])
    return production_id


def start(pipeline: Pipeline, production_id: str, stage: str, max_attempts: int = 3) -> int:
    outcome = pipeline.start_stage(
        uuid.UUID(production_id), stage, UNITS[stage], time.time(), 600, max_attempts
    )
    assert outcome.what == "started", outcome
    return outcome.position


def finish_unit(pipeline: Pipeline, production_id: str, stage: str, unit: str, key: str) -> int:
    outcome = pipeline.record_result(
        uuid.UUID(production_id), stage, unit, 1, True, key, "", time.time()
    )
    assert outcome.what == "completed", outcome
    return outcome.position


def complete(pipeline: Pipeline, production_id: str, media: dict[str, str]) -> int:
    """Run every stage to its end and complete the production with the test's artifacts."""
    keys = {("composition", "film"): media["film"], ("subtitles", "en"): media["subtitles.en"]}
    for stage in STAGES:
        pipeline.start_stage(uuid.UUID(production_id), stage, UNITS[stage], time.time(), 600, 3)
        for unit in UNITS[stage]:
            key = keys.get((stage, unit), artifact_key(stage, "test", "1", [production_id, unit]))
            finish_unit(pipeline, production_id, stage, unit, key)
    artifacts = {
        "film": media["film"],
        "storyboard": media["board"],
        "subtitles.en": media["subtitles.en"],
    }
    outcome = pipeline.complete(uuid.UUID(production_id), artifacts, DURATION)
    assert outcome.what == "completed", outcome
    return outcome.position


def view(api: httpx.Client, user: dict, production_id: str, position: int | None = None) -> dict:
    params = {} if position is None else {"min_position": position}
    response = api.get(f"/v1/productions/{production_id}", headers=user["headers"], params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def completed(api, studio_settings, pipeline, media) -> tuple[dict, str]:
    """(owner, production id) of a completed production."""
    user = register(api, "Owner")
    production_id = requested_production(api, studio_settings, user)
    view(api, user, production_id, complete(pipeline, production_id, media))
    return user, production_id


def test_stages_units_and_progress_follow_the_pipeline(api, studio_settings, pipeline):
    user = register(api)
    production_id = requested_production(api, studio_settings, user)
    fresh = view(api, user, production_id)
    assert [s["stage"] for s in fresh["stages"]] == list(STAGES)
    assert {s["status"] for s in fresh["stages"]} == {"pending"}
    assert fresh["progress"] == 0.0
    assert (fresh["failure"], fresh["duration_seconds"], fresh["links"]) == ("", None, None)

    start(pipeline, production_id, "script_analysis")
    finish_unit(pipeline, production_id, "script_analysis", "script", "a" * 64)
    for stage in ("image_generation", "voice_synthesis", "music"):
        start(pipeline, production_id, stage)
    finish_unit(pipeline, production_id, "image_generation", "shot-1", "b" * 64)
    retried = pipeline.record_result(
        uuid.UUID(production_id), "image_generation", "shot-2", 1, False, "", "boom", time.time()
    )
    assert retried.what == "retried"

    seen = view(api, user, production_id, retried.position)
    stages = {s["stage"]: s for s in seen["stages"]}
    assert seen["status"] == "running"
    assert (stages["script_analysis"]["status"], stages["script_analysis"]["done"]) == (
        "completed",
        1,
    )
    images = stages["image_generation"]
    assert (images["status"], images["done"], images["total"]) == ("running", 1, 3)
    assert [u["unit"] for u in images["units"]] == ["shot-1", "shot-2", "shot-10"]
    assert images["units"][1] == {
        "unit": "shot-2",
        "attempt": 2,
        "status": "running",
        "error": "boom",
    }
    assert (stages["voice_synthesis"]["status"], stages["voice_synthesis"]["total"]) == (
        "running",
        2,
    )
    assert [stages[s]["status"] for s in ("lip_sync", "subtitles", "composition")] == [
        "pending"
    ] * 3
    # the mean of the stages' fractions: script analysis done, images 1 of 3, the rest 0
    assert seen["progress"] == round((1 + 1 / 3) / len(STAGES), 4)


def test_a_failed_production_shows_why(api, studio_settings, pipeline):
    user = register(api)
    production_id = requested_production(api, studio_settings, user)
    start(pipeline, production_id, "script_analysis", max_attempts=1)
    failed = pipeline.record_result(
        uuid.UUID(production_id), "script_analysis", "script", 1, False, "", "parser broke", 0.0
    )
    assert failed.what == "failed"
    seen = view(api, user, production_id, failed.position)
    assert seen["status"] == "failed"
    assert "parser broke" in seen["failure"]
    assert seen["stages"][0]["status"] == "failed"
    assert seen["stages"][0]["units"][0]["error"] == "parser broke"
    film = api.get(f"/v1/productions/{production_id}/film", headers=user["headers"])
    assert film.status_code == 409
    with api.stream(
        "GET", f"/v1/productions/{production_id}/events", headers=user["headers"]
    ) as stream:
        events = list(sse_events(stream))
    assert [e for e, _ in events] == ["snapshot", "end"]
    assert json.loads(events[1][1]) == {"status": "failed"}


def sse_events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    """(event, data) of each event, and ("comment", text) of each comment line."""
    event, data = "message", []
    for line in response.iter_lines():
        if line.startswith(":"):
            yield "comment", line[1:].strip()
        elif line.startswith("event:"):
            event = line.partition(":")[2].strip()
        elif line.startswith("data:"):
            data.append(line.partition(":")[2].strip())
        elif not line and data:
            yield event, "\n".join(data)
            event, data = "message", []


def tick(production_id: str, stage: str, unit: str, status: str) -> bytes:
    return ProgressTick(
        production_id=uuid.UUID(production_id),
        stage=stage,
        unit=unit,
        status=status,
        at="2026-01-01T00:00:00Z",
    ).to_bytes()


def test_live_stream_sends_a_snapshot_ticks_and_ends_with_the_production(
    api, studio_settings, pipeline, media
):
    user = register(api)
    production_id = requested_production(api, studio_settings, user)
    view(api, user, production_id, start(pipeline, production_id, "script_analysis"))
    producer = kafka.producer(studio_settings)
    topic = studio_settings.topics.progress
    received: list[tuple[str, str]] = []
    with api.stream(
        "GET",
        f"/v1/productions/{production_id}/events",
        headers=user["headers"],
        params={"heartbeat": 0.5},
    ) as stream:
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        for event, data in sse_events(stream):
            received.append((event, data))
            kinds = [e for e, _ in received]
            if kinds == ["snapshot"]:
                assert json.loads(data)["status"] == "running"
            elif event == "comment" and "tick" not in kinds and kinds.count("comment") == 2:
                # another production's tick first: it must not show up in this stream
                producer.produce(
                    topic, key=str(uuid.uuid4()), value=tick(production_id, "x", "y", "z")
                )
                producer.produce(
                    topic,
                    key=production_id,
                    value=tick(production_id, "script_analysis", "script", "started"),
                )
                producer.flush(10)
            elif event == "tick" and kinds.count("tick") == 1:
                complete(pipeline, production_id, media)
                producer.produce(
                    topic, key=production_id, value=tick(production_id, "", "", "completed")
                )
                producer.flush(10)
    events = [(e, d) for e, d in received if e != "comment"]
    assert [e for e, _ in events][:2] == ["snapshot", "tick"]
    first_tick = json.loads(events[1][1])
    assert (first_tick["stage"], first_tick["unit"], first_tick["status"]) == (
        "script_analysis",
        "script",
        "started",
    )
    assert events[-1] == ("end", json.dumps({"status": "completed"}))
    last = json.loads(events[-2][1])
    assert events[-2][0] == "snapshot"
    assert (last["status"], last["progress"]) == ("completed", 1.0)
    assert last["links"]["film"] == f"/v1/productions/{production_id}/film"
    assert any(e == "comment" and d == "heartbeat" for e, d in received)


def test_completed_view_links_to_the_media(api, completed):
    user, production_id = completed
    seen = view(api, user, production_id)
    assert seen["status"] == "completed"
    assert seen["progress"] == 1.0
    assert seen["duration_seconds"] == DURATION
    assert {s["status"] for s in seen["stages"]} == {"completed"}
    base = f"/v1/productions/{production_id}"
    assert seen["links"] == {
        "film": f"{base}/film",
        "thumbnail": f"{base}/thumbnail.jpg",
        "subtitles": {"en": {"vtt": f"{base}/subtitles/en.vtt", "srt": f"{base}/subtitles/en.srt"}},
    }


def test_film_is_served_whole_and_by_range(api, completed, studio_settings, media):
    user, production_id = completed
    data = Path(
        LocalMediaStore(studio_settings.media_root).path(media["film"], "film.mp4")
    ).read_bytes()
    size = len(data)
    url = f"/v1/productions/{production_id}/film"

    def get(range_header: str | None = None, **headers: str) -> httpx.Response:
        extra = {} if range_header is None else {"Range": range_header}
        return api.get(url, headers={**user["headers"], **extra, **headers})

    whole = get()
    assert whole.status_code == 200
    assert whole.headers["content-type"] == "video/mp4"
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.content == data
    assert whole.content[4:8] == b"ftyp"

    first = get("bytes=0-99")
    assert first.status_code == 206
    assert first.content == data[:100]
    assert first.headers["content-range"] == f"bytes 0-99/{size}"
    assert first.headers["content-length"] == "100"
    middle = get("bytes=1000-1999")
    assert (middle.status_code, middle.content) == (206, data[1000:2000])
    tail = get("bytes=-50")
    assert (tail.content, tail.headers["content-range"]) == (
        data[-50:],
        f"bytes {size - 50}-{size - 1}/{size}",
    )
    rest = get(f"bytes={size - 10}-")
    assert (rest.status_code, rest.content) == (206, data[-10:])
    clamped = get(f"bytes={size - 5}-{size + 500}")
    assert (clamped.status_code, clamped.content) == (206, data[-5:])

    beyond = get(f"bytes={size}-")
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{size}"
    assert get("bytes=-0").status_code == 416
    assert get("bytes=oops").status_code == 200  # a malformed range is ignored
    stale = get("bytes=0-9", **{"If-Range": '"another-version"'})
    assert (stale.status_code, len(stale.content)) == (200, size)
    fresh = get("bytes=0-9", **{"If-Range": whole.headers["etag"]})
    assert fresh.status_code == 206

    head = api.head(url, headers={**user["headers"], "Range": "bytes=10-19"})
    assert head.status_code == 206
    assert head.headers["content-length"] == "10"
    assert head.content == b""


def test_subtitles_and_thumbnail(api, completed):
    user, production_id = completed
    base = f"/v1/productions/{production_id}"
    vtt = api.get(f"{base}/subtitles/en.vtt", headers=user["headers"])
    assert vtt.status_code == 200
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT")
    srt = api.get(f"{base}/subtitles/en.srt", headers=user["headers"])
    assert srt.status_code == 200
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert "00:00:00,000 --> 00:00:01,500" in srt.text
    missing = api.get(f"{base}/subtitles/hi.vtt", headers=user["headers"])
    assert missing.status_code == 404
    assert "'hi'" in missing.json()["detail"] and "en" in missing.json()["detail"]
    assert api.get(f"{base}/subtitles/en.txt", headers=user["headers"]).status_code == 404
    thumb = api.get(f"{base}/thumbnail.jpg", headers=user["headers"])
    assert thumb.status_code == 200
    assert thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content[:3] == b"\xff\xd8\xff"


def test_the_film_link_of_the_local_store_is_the_apis_film_url_signed_for_it(api, completed):
    user, production_id = completed
    link = api.get(f"/v1/productions/{production_id}/film/link", headers=user["headers"])
    assert link.status_code == 200, link.text
    assert link.json()["expires_at"] is not None
    url = httpx.URL(link.json()["url"])
    assert url.copy_with(query=None) == f"{api.base_url}/v1/productions/{production_id}/film"
    assert url.params["token"]
    film = api.get(url)  # no header: the link's token is enough, like a presigned S3 link
    assert film.status_code == 200 and film.headers["content-type"] == "video/mp4"
    part = api.get(url, headers={"Range": "bytes=0-99"})
    assert part.status_code == 206 and len(part.content) == 100


def test_another_creator_sees_none_of_it(api, completed):
    _, production_id = completed
    stranger = register(api, "Stranger")
    base = f"/v1/productions/{production_id}"
    for path in (
        "",
        "/events",
        "/film",
        "/film/link",
        "/thumbnail.jpg",
        "/subtitles/en.vtt",
        "/subtitles/en.srt",
    ):
        response = api.get(f"{base}{path}", headers=stranger["headers"])
        assert response.status_code == 404, path
        assert response.json()["detail"] == "no such production", path
    assert api.get(f"{base}/film").status_code == 401


def test_media_of_a_production_not_rendered_yet(api, studio_settings):
    user = register(api)
    production_id = requested_production(api, studio_settings, user)
    base = f"/v1/productions/{production_id}"
    for path in ("/film", "/film/link", "/thumbnail.jpg", "/subtitles/en.vtt"):
        response = api.get(f"{base}{path}", headers=user["headers"])
        assert response.status_code == 409, path
        assert "not rendered yet" in response.json()["detail"]
    unknown = api.get(f"/v1/productions/{uuid.uuid4()}/film", headers=user["headers"])
    assert unknown.status_code == 404
    assert api.get("/v1/productions/not-a-uuid/film", headers=user["headers"]).status_code == 422


def test_progress_partition_is_the_producers_murmur2_partition(studio_settings):
    producer = kafka.producer(studio_settings)
    topic = studio_settings.topics.progress
    partitions = len(producer.list_topics(topic, timeout=10).topics[topic].partitions)
    delivered: dict[str, int] = {}
    keys = [str(uuid.uuid4()) for _ in range(24)]
    for key in keys:
        producer.produce(
            topic,
            key=key,
            value=b"{}",
            on_delivery=lambda error, message: delivered.__setitem__(
                message.key().decode(), message.partition()
            ),
        )
    assert producer.flush(10) == 0
    assert delivered == {key: partition_for(key.encode(), partitions) for key in keys}


def render_process(
    studio_settings: Settings, tmp_path: Path, *args: str
) -> tuple[subprocess.Popen[str], queue.Queue[str]]:
    """`filmstudio render` (as registered in the CLI) on the test studio; its lines in a queue."""
    script = tmp_path / "the-lamp.fountain"
    script.write_text(SCRIPT)
    process = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from filmstudio.render import render; render()",
            str(script),
            *args,
        ],
        env=studio_env(studio_settings),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return process, lines


def production_of(process: subprocess.Popen[str], lines: queue.Queue[str], seen: list[str]) -> str:
    """The production id the CLI prints once it requested one."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if line.startswith("production "):
            return line.split()[1]
    pytest.fail(f"render requested no production:\n{''.join(seen)}")


def drain(lines: queue.Queue[str], seen: list[str]) -> None:
    """The rest of an ended process's output (its reader thread may still be catching up)."""
    while True:
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            return


def test_render_cli_follows_the_production_and_downloads_the_film(
    studio, studio_settings, pipeline, media, tmp_path
):
    process, lines = render_process(studio_settings, tmp_path, "-o", "out/lamp.mp4")
    (tmp_path / "out").mkdir()
    seen: list[str] = []
    try:
        production_id = production_of(process, lines, seen)
        complete(pipeline, production_id, media)
        returncode = process.wait(timeout=60)
    finally:
        process.kill()
    drain(lines, seen)
    output = "".join(seen)
    assert returncode == 0, output
    film = LocalMediaStore(studio_settings.media_root).path(media["film"], "film.mp4")
    assert (tmp_path / "out" / "lamp.mp4").read_bytes() == film.read_bytes(), output
    assert (tmp_path / "out" / "lamp.en.vtt").read_text().startswith("WEBVTT")
    assert "-->" in (tmp_path / "out" / "lamp.en.srt").read_text()
    assert "composition" in output and "completed" in output


def test_render_cli_exits_non_zero_with_the_failure(studio, studio_settings, pipeline, tmp_path):
    process, lines = render_process(studio_settings, tmp_path)
    seen: list[str] = []
    try:
        production_id = production_of(process, lines, seen)
        start(pipeline, production_id, "script_analysis", max_attempts=1)
        pipeline.record_result(
            uuid.UUID(production_id), "script_analysis", "script", 1, False, "", "bad scene", 0.0
        )
        assert process.wait(timeout=60) == 1
    finally:
        process.kill()
    drain(lines, seen)
    assert "the production failed" in "".join(seen) and "bad scene" in "".join(seen)
    assert not (tmp_path / "the-lamp.mp4").exists()
