"""Composition's units on the draft backends: a two-scene script through every stage (small
frames) makes a film of pieces that meets the spec; a piece burning the whole film's track
(the translated mode) shows the same subtitles as one burning its own lines' cues.

Needs Debian's ffmpeg/ffprobe (libx264, libass, ebur128) and the draft voices.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from uuid import uuid4

import pytest

from adapters.media import LocalMediaStore
from bench.filmspec import ffprobe, film_problems
from domain.stages import STAGES
from domain.storyboard import Storyboard
from gpu_consumers import units
from processors import planning
from schemas.work import SegmentInputs, WorkUnit

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs Debian's ffmpeg")
SCRIPT = (
    "INT. HOUSE - DAY\n\nMeera lights a lamp.\n\nMEERA\nLight the lamp, the night is long.\n\n"
    "EXT. RIVER - NIGHT\n\nArjun watches the water.\n\nARJUN\nThe lamp floats away.\n"
)


def _compute(media: LocalMediaStore, stage: str, planned: planning.PlannedUnit) -> str:
    key = planned.key(stage)
    if not media.exists(key):
        unit = WorkUnit(production_id=uuid4(), stage=stage, unit=planned.unit, attempt=1,
                        quality=planned.quality, key=key, inputs=planned.inputs)  # fmt: skip
        with media.writing(key) as folder:
            units.COMPUTE[stage](unit, media, folder)
    return key


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> dict:
    media = LocalMediaStore(tmp_path_factory.mktemp("store"))
    patch = pytest.MonkeyPatch()
    patch.setattr(planning, "RESOLUTIONS", {**planning.RESOLUTIONS, "16:9": (320, 180)})
    p = planning.Production("fountain", SCRIPT, "en", "16:9", [], True, {})
    plans: dict[str, list[planning.PlannedUnit]] = {"script_analysis": planning.plan_script(p)}
    artifacts = {"script_analysis": {"script": _compute(media, STAGES[0], plans[STAGES[0]][0])}}
    path = media.path(artifacts["script_analysis"]["script"], units.STORYBOARD)
    board = Storyboard.model_validate_json(path.read_text())
    for stage in STAGES[1:]:
        plans[stage] = planning.plan(stage, p, board, artifacts)
        artifacts[stage] = {u.unit: _compute(media, stage, u) for u in plans[stage]}
    patch.undo()
    return {"media": media, "plans": plans, "artifacts": artifacts, "board": board}


def test_a_film_of_pieces_meets_the_spec(studio):
    media, film = studio["media"], studio["artifacts"]["composition"]["film"]
    manifest = json.loads(media.path(film, units.FILM_MANIFEST).read_text())
    problems = film_problems(media.path(film, units.FILM), manifest["duration_seconds"], False)
    assert problems == []
    assert media.path(film, units.THUMBNAIL).stat().st_size > 0
    pieces = [u for u in studio["plans"]["composition"] if u.unit.startswith("shot-")]
    frames = [
        json.loads(media.path(u.key("composition"), units.PIECE_MANIFEST).read_text())["frames"]
        for u in pieces
    ]
    shots = [shot.id for scene in studio["board"].scenes for shot in scene.shots]
    assert [u.unit for u in pieces] == [f"shot-{shot}" for shot in shots], "a piece per shot"
    assert sum(frames) / 30 == pytest.approx(manifest["duration_seconds"], abs=1e-3)
    sound = media.path(studio["artifacts"]["composition"]["sound"], units.SOUND)
    copied = ffprobe(media.path(film, units.FILM), "-show_streams")["streams"]
    assert [s["codec_name"] for s in copied if s["codec_type"] == "audio"] == ["aac"]
    assert _audio_packets(media.path(film, units.FILM)) == _audio_packets(sound), (
        "the film carries the sound unit's track by stream copy"
    )


def _audio_packets(path: Path) -> str:
    """A hash of the file's audio packets, as they are (no decoding)."""
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(path), "-map", "0:a", "-c", "copy", "-f", "md5", "-"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def test_a_film_planned_before_sound_units_mixes_its_own(studio, tmp_path):
    media, plans = studio["media"], studio["plans"]
    [planned] = [u for u in plans["composition"] if u.unit == "film"]
    old = planning.PlannedUnit("film", planned.inputs.model_copy(update={"sound": None}))
    out = tmp_path / "film"
    out.mkdir()
    unit = WorkUnit(production_id=uuid4(), stage="composition", unit="film", attempt=1,
                    quality="draft", key=old.key("composition"), inputs=old.inputs)  # fmt: skip
    units.COMPUTE["composition"](unit, media, out)
    duration = json.loads((out / units.FILM_MANIFEST).read_text())["duration_seconds"]
    assert film_problems(out / units.FILM, duration, False) == []
    assert not (out / units.SOUND).exists(), "its own sound is muxed, not kept"


def _psnr(a: Path, b: Path) -> list[float]:
    log = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(a), "-i", str(b), "-lavfi",
         "[0:v][1:v]psnr=stats_file=-", "-f", "null", "-"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return [99.0 if v == "inf" else float(v) for v in re.findall(r"psnr_avg:(\S+)", log)]


def test_burning_the_film_track_places_it_like_the_piece_s_own_cues(studio, tmp_path):
    media, plans = studio["media"], studio["plans"]
    track = studio["artifacts"]["subtitles"]["en"]
    pieces = [u for u in plans["composition"] if u.unit.startswith("shot-")]
    shown = [u.inputs.shots[0] for u in pieces if isinstance(u.inputs, SegmentInputs)]
    assert len(pieces) >= 3 and len(shown) == len(pieces)
    for i, own in enumerate(pieces[1:], start=1):  # a piece's track starts after its lead-in's
        name, inputs = own.unit, own.inputs
        assert isinstance(inputs, SegmentInputs) and inputs.burn and inputs.lead_in is not None
        earlier = shown[: i - 1]
        tracked = planning.PlannedUnit(
            name, inputs.model_copy(update={"burn_track": track, "earlier": earlier})
        )
        out = tmp_path / name
        out.mkdir()
        key = tracked.key("composition")
        unit = WorkUnit(production_id=uuid4(), stage="composition", unit=name, attempt=1,
                        quality="draft", key=key, inputs=tracked.inputs)  # fmt: skip
        units.COMPUTE["composition"](unit, media, out)
        mine = media.path(own.key("composition"), units.PIECE)
        psnr = _psnr(out / units.PIECE, mine)
        # Cue times are rounded (ms in SRT, cs in ASS) on the film's or the piece's clock: a cue
        # may start or end one frame apart, never more.
        apart = [k for k, v in enumerate(psnr) if v < 45]
        assert psnr and len(apart) <= 4, f"{name}: the track is burned elsewhere ({apart})"
