""" "final" quality end to end through Kafka: the GPU pool's workers run the real model backends
on tiny random models built here, and the language model is a local OpenAI-compatible server."""

from __future__ import annotations

import json
import math
import sys
import wave
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from adapters.settings import Settings
from tests.integration.conftest import Process, free_port, start_studio
from tests.integration.test_pipeline import artifact, creator, produce, results_of, wait_for
from tests.support.openai_server import LocalOpenAIServer
from tests.tinymodels.analysis import build_tiny_analysis, steer_mood
from tests.tinymodels.sdxl import build_tiny_sdxl
from tests.tinymodels.tts import build_tiny_tts

SCRIPT = """Title: The Lamp

INT. TEMPLE COURTYARD - DAWN

A single oil lamp flickers. MEERA kneels beside it.

MEERA
Light it again, before the bells.

NARRATOR
The flame stood still.
"""


def voice_sample(path: Path, pitch: float = 140.0, seconds: float = 4.0) -> bytes:
    """A voiced, speech-like WAV (harmonics under a syllable-rate envelope)."""
    rate = 24_000
    t = np.arange(int(seconds * rate)) / rate
    tone = sum(np.sin(2 * math.pi * pitch * k * t) / k for k in range(1, 6))
    signal = 0.3 * tone * (0.55 + 0.45 * np.sin(2 * math.pi * 4 * t))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((signal / np.max(np.abs(signal)) * 20000).astype("<i2").tobytes())
    return path.read_bytes()


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer() as server:
        yield server


@pytest.fixture(scope="module")
def final(isolated_settings: Callable[[], Settings], tmp_path_factory, llm) -> Iterator[dict]:
    """A studio with the model backends on: cpu and gpu worker pools, tiny models."""
    models = tmp_path_factory.mktemp("models")
    build_tiny_sdxl(models / "sdxl", loras=["noir"])
    build_tiny_analysis(models / "script-analysis", ["lamp", "meera", "temple", "courtyard"])
    steer_mood(models / "script-analysis", "devotional", probability=0.9)
    build_tiny_tts(models / "tts", clone=True)
    settings = isolated_settings().model_copy(
        update={
            "api_port": free_port(),
            "media_dir": tmp_path_factory.mktemp("media"),
            "model_backends": True,
            "models_dir": models,
            "model_device": "cpu",
            "image_steps": 2,
            "image_long_side": 128,
            "llm_base_url": llm.base_url,
        }
    )
    logs = tmp_path_factory.mktemp("model-logs")
    base_url, processes = start_studio(settings, logs, "saga", "workers")
    final = [sys.executable, "-m", "filmstudio.cli", "workers", "--quality", "final"]
    processes.append(Process("final-workers", final, settings, logs).start())
    client = httpx.Client(base_url=base_url, timeout=60)
    admin = client.post(
        "/v1/auth/token",
        data={"username": settings.admin_email, "password": settings.secret("admin_password")},
    )
    yield {
        "settings": settings,
        "client": client,
        "admin": {"Authorization": f"Bearer {admin.json()['access_token']}"},
        "processes": processes,
        "logs": logs,
    }
    client.close()
    for process in reversed(processes):
        process.stop()


def upload(final: dict, headers: dict, path: Path, pitch: float = 140.0) -> dict:
    auth = {"Authorization": headers["Authorization"]}
    response = final["client"].post(
        "/v1/voices",
        data={"name": "Grandmother"},
        files={"sample": ("grandmother.wav", voice_sample(path, pitch), "audio/wav")},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    return response.json()


def model_meta(final: dict, key: str) -> dict:
    return json.loads(artifact(final, key, "model.json").read_text())


def test_a_final_film_uses_every_model_backend(final, llm, tmp_path):
    headers = creator(final, credits=500)
    sample = upload(final, headers, tmp_path / "sample.wav")
    options = {
        "quality": "final",
        "languages": ["en", "hi"],
        "style": "noir",
        "voices": {"MEERA": sample["voice_id"]},
    }
    _, production_id = produce(final, headers, SCRIPT, options)
    done = wait_for(final, production_id, ("completed", "failed"))
    assert done["status"] == "completed", done["failure"]
    artifact(final, done["artifacts"]["film"], "film.mp4")

    results = [r for r in results_of(final["settings"], production_id) if r["ok"]]
    by_stage: dict[str, list[dict]] = {}
    for result in results:
        by_stage.setdefault(result["stage"], []).append(result)

    board = json.loads(
        artifact(final, done["artifacts"]["storyboard"], "storyboard.json").read_text()
    )
    assert [s["mood"] for s in board["scenes"]] == ["devotional"]
    assert board["scenes"][0]["mood_source"] == "model"
    assert model_meta(final, done["artifacts"]["storyboard"])["licence"] == "mit"

    for frame in by_stage["image_generation"]:
        meta = model_meta(final, frame["key"])
        assert (meta["family"], meta["style"]) == ("sdxl", "noir")
    voiced = [model_meta(final, r["key"]) for r in by_stage["voice_synthesis"]]
    assert sorted(m["cloned"] for m in voiced) == [False, True], "MEERA speaks in the cloned voice"

    hindi = artifact(final, done["artifacts"]["subtitles.hi"], "subtitles.srt").read_text()
    english = artifact(final, done["artifacts"]["subtitles.en"], "subtitles.srt").read_text()
    timings = [line for line in english.splitlines() if "-->" in line]
    assert [line for line in hindi.splitlines() if "-->" in line] == timings
    assert "[hi]" in hindi, "the cues are the language model's translations"
    translation_requests = [r for r in llm.requests if r.get("response_format")]
    assert translation_requests, "the local OpenAI-compatible server was asked to translate"


def test_an_uninstalled_style_fails_the_production_and_gives_the_credits_back(final):
    headers = creator(final, credits=500)
    options = {"quality": "final", "style": "watercolour"}
    _, production_id = produce(final, headers, SCRIPT, options)
    done = wait_for(final, production_id, ("completed", "failed"))
    assert done["status"] == "failed"
    assert "style 'watercolour' is not installed" in done["failure"]
    balance = (
        final["client"]
        .get("/v1/credits", headers={"Authorization": headers["Authorization"]})
        .json()
    )
    assert (balance["balance"], balance["reserved"]) == (500, 0)


def test_voice_samples_are_sealed_and_erased_with_their_owner(final, tmp_path):
    client, settings = final["client"], final["settings"]
    headers = creator(final)
    auth = {"Authorization": headers["Authorization"]}
    raw = voice_sample(tmp_path / "raw.wav")
    sample = upload(final, headers, tmp_path / "sample.wav")
    stored = settings.voice_samples_root / headers["user_id"] / f"{sample['sample_id']}.sealed"
    assert stored.is_file() and raw[1000:1100] not in stored.read_bytes(), "stored sealed"
    listed = client.get("/v1/voices", headers=auth, params={"min_position": sample["position"]})
    assert [v["name"] for v in listed.json()] == ["Grandmother"]

    too_short = client.post(
        "/v1/voices",
        data={"name": "short"},
        files={"sample": ("s.wav", voice_sample(tmp_path / "s.wav", seconds=1.0), "audio/wav")},
        headers=auth,
    )
    assert too_short.status_code == 422 and "3 to 60 seconds" in too_short.json()["detail"]
    not_audio = client.post(
        "/v1/voices", data={"name": "x"}, files={"sample": ("x.wav", b"not audio", "audio/wav")},
        headers=auth,
    )  # fmt: skip
    assert not_audio.status_code == 415 and "wav, flac" in not_audio.json()["detail"]

    someone_else = creator(final)
    project = client.post(
        "/v1/projects",
        json={"title": "t"},
        headers={"Authorization": someone_else["Authorization"]},
    ).json()
    client.put(
        f"/v1/projects/{project['project_id']}/script",
        json={"format": "fountain", "text": SCRIPT},
        headers={"Authorization": someone_else["Authorization"]},
    )
    borrowed = client.post(
        f"/v1/projects/{project['project_id']}/productions",
        json={"quality": "final", "voices": {"MEERA": sample["voice_id"]}},
        headers={"Authorization": someone_else["Authorization"]},
    )
    assert borrowed.status_code == 422 and sample["sample_id"] in borrowed.json()["detail"]
    draft = client.post(
        f"/v1/projects/{project['project_id']}/productions",
        json={"voices": {"MEERA": sample["voice_id"]}},
        headers={"Authorization": someone_else["Authorization"]},
    )
    assert draft.status_code == 422 and "final" in draft.text

    erased = client.post(f"/v1/admin/users/{headers['user_id']}/erase", headers=final["admin"])
    assert erased.status_code == 200, erased.text
    assert not stored.parent.exists(), "the owner's samples are deleted with them"


def test_script_help_suggests_and_accepting_revises_the_script(final):
    client = final["client"]
    headers = creator(final, credits=1)  # script help costs 1 credit a suggestion
    auth = {"Authorization": headers["Authorization"]}
    project = client.post("/v1/projects", json={"title": "t"}, headers=auth).json()
    path = f"/v1/projects/{project['project_id']}"
    client.put(f"{path}/script", json={"format": "fountain", "text": SCRIPT}, headers=auth)
    out_of_range = client.post(
        f"{path}/script/help", json={"action": "expand", "scene": 5}, headers=auth
    )
    assert out_of_range.status_code == 422 and "1 to 1" in out_of_range.json()["detail"]

    help_ = client.post(f"{path}/script/help", json={"action": "expand", "scene": 1}, headers=auth)
    assert help_.status_code == 201, help_.text
    suggestion = help_.json()
    assert suggestion["suggested"].startswith("INT. TEMPLE COURTYARD - DAWN")
    assert suggestion["suggested"] != suggestion["original"]
    paid = client.post(f"{path}/script/help", json={"action": "expand", "scene": 1}, headers=auth)
    assert paid.status_code == 402, "the one credit paid for the first suggestion"
    ledger = client.get(
        "/v1/credits", headers=auth, params={"min_position": suggestion["position"]}
    ).json()
    assert ledger["balance"] == 0
    assert ledger["ledger"][0]["kind"] == "charged"  # newest first
    accepted = client.post(
        f"{path}/script/suggestions/{suggestion['suggestion_id']}/accept", headers=auth
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["revision"] == 2
    script = client.get(path, headers=auth, params={"min_position": accepted.json()["position"]})
    text = script.json()["script"]["text"]
    assert text.startswith("Title: The Lamp") and suggestion["suggested"].strip() in text
    again = client.post(
        f"{path}/script/suggestions/{suggestion['suggestion_id']}/accept", headers=auth
    )
    assert again.status_code == 409, "a suggestion applies to the revision it was made on"
