"""The production pipeline on the real stack: saga, workers, Kafka, Postgres, offline backends.

The film is checked with ffprobe and ffmpeg's ebur128, not with our own code's claims.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from adapters.kafka import producer
from adapters.settings import PROJECT_ROOT, Settings
from bench.filmspec import film_problems
from domain.stages import STAGES
from tests.integration.conftest import cli_process, free_port, start_studio

LAMP = (PROJECT_ROOT / "examples" / "the-lamp.fountain").read_text()
SHORT = """INT. KITCHEN - NIGHT

Asha stirs a pot.

ASHA
Dinner is almost ready.

EXT. STREET - NIGHT

Rain falls on the tin roofs.

RAVI
I can hear the storm coming.
"""
RENDER_TIMEOUT = 420


@pytest.fixture(scope="module")
def full(isolated_settings: Callable[[], Settings], tmp_path_factory) -> Iterator[dict]:
    """A whole studio: API, relay, projections, saga and workers, with its own media store."""
    media = tmp_path_factory.mktemp("media")
    settings = isolated_settings().model_copy(update={"api_port": free_port(), "media_dir": media})
    logs = tmp_path_factory.mktemp("pipeline-logs")
    base_url, processes = start_studio(settings, logs, "saga", "workers")
    client = httpx.Client(base_url=base_url, timeout=30)
    admin = client.post(
        "/v1/auth/token",
        data={"username": settings.admin_email, "password": settings.secret("admin_password")},
    )
    studio = {
        "settings": settings,
        "client": client,
        "admin": {"Authorization": f"Bearer {admin.json()['access_token']}"},
        "processes": processes,
        "logs": logs,
    }
    yield studio
    client.close()
    for process in reversed(processes):
        process.stop()


def creator(full: dict, credits: int = 200) -> dict[str, str]:
    client = full["client"]
    email = f"c-{uuid.uuid4().hex[:8]}@example.com"
    body = {"email": email, "password": "a long password", "display_name": "C"}
    user = client.post("/v1/auth/register", json=body).json()
    token = client.post("/v1/auth/token", data={"username": email, "password": body["password"]})
    grant = {"amount": credits, "reason": "test"}
    client.post(f"/v1/admin/users/{user['user_id']}/credits", json=grant, headers=full["admin"])
    return {"Authorization": f"Bearer {token.json()['access_token']}", "user_id": user["user_id"]}


def produce(full: dict, headers: dict, text: str, options: dict | None = None) -> tuple[str, str]:
    client = full["client"]
    auth = {"Authorization": headers["Authorization"]}
    project = client.post("/v1/projects", json={"title": "Test film"}, headers=auth).json()
    script = {"format": "fountain", "text": text}
    client.put(f"/v1/projects/{project['project_id']}/script", json=script, headers=auth)
    path = f"/v1/projects/{project['project_id']}/productions"
    response = client.post(path, json=options or {}, headers=auth)
    assert response.status_code == 202, response.text
    return project["project_id"], response.json()["production_id"]


def row(full: dict, production_id: str) -> dict:
    with psycopg.connect(full["settings"].pg_conninfo) as conn:
        cursor = conn.execute(
            "SELECT status, failure, artifacts, duration_seconds FROM rm_productions "
            "WHERE production_id = %s",
            (production_id,),
        )
        found = cursor.fetchone() or ("not projected yet", "", {}, None)
    return dict(zip(("status", "failure", "artifacts", "duration_seconds"), found, strict=True))


def wait_for(full: dict, production_id: str, statuses: tuple[str, ...]) -> dict:
    deadline = time.monotonic() + RENDER_TIMEOUT
    while time.monotonic() < deadline:
        current = row(full, production_id)
        if current["status"] in statuses:
            return current
        time.sleep(1)
    logs = "\n".join(p.log.read_text()[-1500:] for p in full["processes"])
    pytest.fail(f"production {production_id} never reached {statuses}: {current}\n{logs}")


def credits(full: dict, headers: dict, min_position: int = 0) -> tuple[int, int]:
    body = full["client"].get(
        "/v1/credits",
        headers={"Authorization": headers["Authorization"]},
        params={"min_position": min_position},
    )
    return body.json()["balance"], body.json()["reserved"]


def artifact(full: dict, key: str, name: str) -> Path:
    path = full["settings"].media_root / key[:2] / key / name
    assert path.is_file(), f"missing {name} in artifact {key}"
    return path


def read_topic(settings: Settings, topic: str) -> list[bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap,
            "group.id": f"test-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
    values, at_end = [], set()
    while len(at_end) < len(partitions):
        message = consumer.poll(10)
        assert message is not None, f"{topic} stopped delivering"
        if message.error():
            assert message.error().code() == KafkaError._PARTITION_EOF
            at_end.add(message.partition())
        else:
            values.append(message.value())
    consumer.close()
    return values


def results_of(settings: Settings, production_id: str) -> list[dict]:
    found = [json.loads(v) for v in read_topic(settings, settings.topics.results)]
    return [r for r in found if r["production_id"] == production_id]


def test_a_script_renders_to_a_film_that_meets_the_spec(full):
    headers = creator(full)
    _, production_id = produce(full, headers, LAMP, {"languages": ["en"]})
    done = wait_for(full, production_id, ("completed", "failed"))
    assert done["status"] == "completed", done["failure"]
    film = artifact(full, done["artifacts"]["film"], "film.mp4")
    assert film_problems(film, done["duration_seconds"]) == []
    artifact(full, done["artifacts"]["film"], "thumbnail.jpg")


def srt_cues(text: str) -> list[tuple[float, float, str]]:
    def seconds(stamp: str) -> float:
        h, m, rest = stamp.split(":")
        s, ms = rest.split(",")
        return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

    cues = []
    for block in text.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = lines[1].split(" --> ")
        cues.append((seconds(start), seconds(end), "\n".join(lines[2:])))
    return cues


def speech_onsets(wav: Path) -> float:
    """Where speech starts in a line's WAV, by ffmpeg's silencedetect."""
    out = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(wav), "-af",
         "silencedetect=noise=-35dB:d=0.05", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    ends = re.findall(r"silence_end: ([\d.]+)", out)
    starts = re.findall(r"silence_start: ([\d.]+)", out)
    return float(ends[0]) if starts and float(starts[0]) < 0.01 and ends else 0.0


def test_one_correlation_follows_a_production_through_the_saga_and_workers(full):
    """Every event and work message a production causes carries the request's correlation id,
    and each causation id names an event that really was recorded."""
    settings, client = full["settings"], full["client"]
    headers = creator(full)
    auth = {"Authorization": headers["Authorization"]}
    project = client.post("/v1/projects", json={"title": "Traced"}, headers=auth).json()
    script = {"format": "fountain", "text": SHORT}
    client.put(f"/v1/projects/{project['project_id']}/script", json=script, headers=auth)
    correlation = f"trace-{uuid.uuid4()}"
    response = client.post(
        f"/v1/projects/{project['project_id']}/productions",
        json={},
        headers={**auth, "X-Correlation-ID": correlation},
    )
    assert response.status_code == 202, response.text
    assert response.headers["X-Correlation-ID"] == correlation
    production_id = response.json()["production_id"]
    assert wait_for(full, production_id, ("completed", "failed"))["status"] == "completed"

    def envelopes(aggregate: str) -> list[dict]:
        return [json.loads(v) for v in read_topic(settings, settings.topics.events(aggregate))]

    production = [e for e in envelopes("production") if e["aggregate"]["id"] == production_id]
    credit = [e for e in envelopes("credits") if e["payload"].get("production_id") == production_id]
    caused = production + credit
    assert {e["type"] for e in credit} == {"credits.Reserved", "credits.Captured"}
    assert {e["correlation_id"] for e in caused} == {correlation}, "one correlation throughout"
    recorded = {e["event_id"] for e in caused}
    requested = next(e for e in production if e["type"] == "production.Requested")
    followers = [e for e in caused if e["causation_id"] != requested["causation_id"]]
    assert len(followers) == len(caused) - 2, "only the request's own two events share its cause"
    for event in followers:
        assert event["causation_id"] in recorded, f"{event['type']} names no recorded cause"
    assert {e["actor"] for e in production if e["type"] == "production.StageStarted"} == {"saga"}

    units = [
        json.loads(v)
        for stage in STAGES
        for v in read_topic(settings, settings.topics.work(stage))
        if json.loads(v)["production_id"] == production_id
    ]
    messages = units + results_of(settings, production_id)
    assert units and {m["correlation_id"] for m in messages} == {correlation}
    assert {m["causation_id"] for m in messages} <= recorded, "work names the event it came from"


def test_subtitles_follow_the_speech(full):
    headers = creator(full)
    _, production_id = produce(full, headers, SHORT, {"languages": ["en"]})
    done = wait_for(full, production_id, ("completed", "failed"))
    assert done["status"] == "completed", done["failure"]
    srt = artifact(full, done["artifacts"]["subtitles.en"], "subtitles.srt").read_text()
    cues = srt_cues(srt)
    assert [c[2].replace("\n", " ") for c in cues] == [
        "Dinner is almost ready.",
        "I can hear the storm coming.",
    ]
    for _, _, text in cues:
        assert all(len(line) <= 42 for line in text.splitlines()) and len(text.splitlines()) <= 2
    voices = {r["unit"]: r["key"] for r in results_of(full["settings"], production_id)
              if r["stage"] == "voice_synthesis"}  # fmt: skip
    spoken = [json.loads(artifact(full, key, "line.json").read_text()) for key in voices.values()]
    for line in spoken:  # the timings the cues use match the audio itself
        onset = speech_onsets(artifact(full, voices[line["line_id"]], "line.wav"))
        assert abs(line["words"][0]["start"] - onset) <= 0.1, (line["text"], onset)
    film = artifact(full, done["artifacts"]["film"], "film.mp4")
    track = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(film), "-map", "0:s:0", "-f", "srt", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert [c[2] for c in srt_cues(track)] == [c[2] for c in cues], "the film carries the track"


def test_editing_one_line_recomputes_only_what_it_touches(full):
    headers = creator(full)
    project_id, first = produce(full, headers, SHORT)
    assert wait_for(full, first, ("completed", "failed"))["status"] == "completed"
    edited = SHORT.replace("I can hear the storm coming.", "The storm is already here.")
    auth = {"Authorization": headers["Authorization"]}
    script = {"format": "fountain", "text": edited}
    full["client"].put(f"/v1/projects/{project_id}/script", json=script, headers=auth)
    second = full["client"].post(f"/v1/projects/{project_id}/productions", headers=auth).json()
    done = wait_for(full, second["production_id"], ("completed", "failed"))
    assert done["status"] == "completed", done["failure"]
    first_results: dict[tuple[str, str], bool] = {}
    for r in results_of(full["settings"], second["production_id"]):
        first_results.setdefault((r["stage"], r["unit"]), r["computed"])
    per_scene = {key: c for key, c in first_results.items() if key[0] in SCENE_STAGES}
    computed = {scene_of(unit) for (_, unit), c in per_scene.items() if c}
    cached = {scene_of(unit) for (_, unit), c in per_scene.items() if not c}
    assert len(computed) == 1, f"only the edited scene is recomputed: {per_scene}"
    assert cached - computed, f"the other scene is reused: {per_scene}"
    (scene,) = computed  # its ids survive the edit: what the edit does not touch is reused
    untouched = [key for key, c in per_scene.items() if not c and scene_of(key[1]) == scene]
    assert untouched, f"the edited scene's untouched shot is reused: {per_scene}"
    composed = {unit: c for (stage, unit), c in first_results.items() if stage == "composition"}
    recomposed = {unit for unit, c in composed.items() if c and unit != "film"}
    spoken = {f"shot-{unit}" for (stage, unit), c in per_scene.items() if stage == "lip_sync" and c}
    assert composed["film"] and spoken and spoken <= recomposed, composed
    # a piece per shot: the edited shot's and the next (it opens with the crossfade out of it)
    assert len(recomposed) <= 2 * len(spoken), f"the other pieces are reused: {composed}"
    assert len(composed) - 1 > len(recomposed), composed


SCENE_STAGES = ("image_generation", "voice_synthesis", "music", "lip_sync")


def scene_of(unit: str) -> str:
    return unit.removeprefix("score-").split("-shot")[0].split("-line")[0]


def test_a_poison_unit_ends_in_the_dlq_and_gives_the_credits_back(full):
    headers = creator(full, credits=50)
    poison = "INT. ROOM - DAY\n\nMEERA\nHello there. [[language: zz]]\n"
    _, production_id = produce(full, headers, poison)
    done = wait_for(full, production_id, ("completed", "failed"))
    assert done["status"] == "failed"
    assert "voice_synthesis" in done["failure"] and "failed 3 times" in done["failure"]
    settings = full["settings"]
    letters = [
        json.loads(v) for v in read_topic(settings, settings.topics.dead_letters("voice_synthesis"))
    ]
    mine = [d for d in letters if d["unit"]["production_id"] == production_id]
    assert len(mine) == 1 and mine[0]["attempts"] == 3 and "zz" in mine[0]["error"]
    deadline = time.monotonic() + 10
    while credits(full, headers) != (50, 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert credits(full, headers) == (50, 0)


def test_cancelling_mid_run_stops_new_units_and_releases_the_credits(full):
    headers = creator(full, credits=50)
    fresh = LAMP.replace("Mist hangs", "Smoke hangs").replace("The sun rises", "The moon sets")
    _, production_id = produce(full, headers, fresh)  # nothing of it is in the store yet
    wait_for(full, production_id, ("running",))
    auth = {"Authorization": headers["Authorization"]}
    cancelled = full["client"].post(f"/v1/productions/{production_id}/cancel", headers=auth)
    assert cancelled.status_code == 200
    assert wait_for(full, production_id, ("cancelled",))["status"] == "cancelled"
    with psycopg.connect(full["settings"].pg_conninfo) as conn:
        stages = conn.execute(
            "SELECT count(DISTINCT stage) FROM rm_production_units WHERE production_id = %s",
            (production_id,),
        ).fetchone()[0]
    time.sleep(8)  # what was in flight finishes; nothing new may start
    with psycopg.connect(full["settings"].pg_conninfo) as conn:
        later = conn.execute(
            "SELECT count(DISTINCT stage) FROM rm_production_units WHERE production_id = %s",
            (production_id,),
        ).fetchone()[0]
    assert later == stages
    assert row(full, production_id)["status"] == "cancelled"
    assert credits(full, headers, cancelled.json()["position"]) == (50, 0)


def test_duplicated_work_and_result_messages_change_nothing(full):
    headers = creator(full)
    _, production_id = produce(full, headers, SHORT)
    assert wait_for(full, production_id, ("completed", "failed"))["status"] == "completed"
    settings = full["settings"]
    before = (row(full, production_id), credits(full, headers))
    result = results_of(settings, production_id)[0]
    works = [json.loads(v) for v in read_topic(settings, settings.topics.work("music"))]
    work = next(w for w in works if w["production_id"] == production_id)
    send = producer(settings)
    send.produce(settings.topics.results, key=production_id, value=json.dumps(result))
    send.produce(
        settings.topics.work("music"), key=f"{production_id}:{work['unit']}", value=json.dumps(work)
    )
    assert send.flush(10) == 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the worker answers the duplicate from the store
        again = [r for r in results_of(settings, production_id) if r["unit"] == work["unit"]]
        if len(again) >= 2:
            break
        time.sleep(0.5)
    assert len(again) >= 2 and again[-1]["computed"] is False
    time.sleep(3)
    assert (row(full, production_id), credits(full, headers)) == before


def test_a_worker_killed_mid_unit_loses_nothing(full):
    headers = creator(full)
    _, production_id = produce(full, headers, LAMP.replace("Mist hangs", "Fog hangs"))
    workers = next(p for p in full["processes"] if p.name == "workers")
    with psycopg.connect(full["settings"].pg_conninfo, autocommit=True) as conn:
        deadline = time.monotonic() + RENDER_TIMEOUT
        while time.monotonic() < deadline:
            running = conn.execute(
                "SELECT count(*) FROM rm_production_units WHERE production_id = %s "
                "AND stage = 'composition' AND status = 'running'",
                (production_id,),
            ).fetchone()[0]
            if running:
                break
            time.sleep(0.2)
    time.sleep(3)  # the film is being composed now
    workers.kill()
    replacement = cli_process("workers", full["settings"], full["logs"]).start()
    full["processes"][full["processes"].index(workers)] = replacement
    done = wait_for(full, production_id, ("completed", "failed"))
    assert done["status"] == "completed", done["failure"]
    film = [r for r in results_of(full["settings"], production_id) if r["stage"] == "composition"]
    assert film and film[-1]["ok"] and film[-1]["computed"]
