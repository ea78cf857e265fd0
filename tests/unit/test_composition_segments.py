"""Composition in pieces: segments and joins rendered apart and joined by stream copy make the
same film as one graph, frame for frame, and the film meets the delivery spec.

Needs Debian's ffmpeg/ffprobe (libx264, libass, ebur128); small resolutions.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.filmspec import ffprobe, film_problems, keyframe_gaps
from domain.film import CROSSFADE_FRAMES
from gpu_consumers.draft.composition import compose, join, render_piece, sound
from gpu_consumers.draft.composition_graph import (
    Timeline,
    TimelineShot,
    VoiceClip,
    fade_between,
    fades,
    film_frames,
    frames_of,
    shot_starts,
)
from gpu_consumers.draft.frames import mouths, write_frame
from gpu_consumers.draft.lipsync import mouth_box, render_lipsync
from gpu_consumers.draft.subtitles import build_cues, to_srt
from tests.unit.test_offline_visuals import _board, _spoken, _tone

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs Debian's ffmpeg")
W, H = 320, 180
SECONDS = (3.2, 2.0, 2.5)  # s1a s1b | s2a: two scenes, one join
MIN_PSNR = 38.0  # dB, the worst frame against the one graph (two encodes); measured 43.0


def _pieces(tl: Timeline) -> list[tuple[list[int], int, int]]:
    """(shot indexes, head, tail) of segment 1, the join, segment 2."""
    a, b = frames_of(tl.shots[1].duration, tl.fps), frames_of(tl.shots[2].duration, tl.fps)
    fade = CROSSFADE_FRAMES
    return [([0, 1], 0, fade), ([1, 2], a - fade, b - fade), ([2], fade, 0)]


@pytest.fixture(scope="module")
def films(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("pieces")
    board = _board()
    placed = [(sc, sh) for sc in board.scenes for sh in sc.shots]
    texts = ("The bells ring.", "I hear them.", "Close the door, quickly!")
    lines = [_spoken(f"l{i}", text) for i, text in enumerate(texts)]
    draft = Timeline([TimelineShot(Path(), s) for s in SECONDS], W, H)
    starts = shot_starts(draft)
    shots, voices = [], []
    for i, ((scene, shot), seconds, spoken) in enumerate(zip(placed, SECONDS, lines, strict=True)):
        still = write_frame(board, scene, shot, tmp / f"{shot.id}.png", W, H)
        extra: dict[str, object] = {}
        if i != 1:  # a talking head at the film's start and right after the join
            mouth = mouths(board, scene, shot, W, H)[shot.speaker or ""]
            clip = render_lipsync(still, mouth, spoken, tmp / f"lip{i}.mp4")
            extra = {"lipsync": clip, "lipsync_start": 0.4, "lipsync_box": mouth_box(mouth, W, H)}
        shots.append(TimelineShot(still, seconds, key=shot.id, **extra))  # type: ignore[arg-type]
        voices.append(VoiceClip(_tone(tmp / f"v{i}.wav", 200 + 80 * i, spoken.duration, -18),
                                starts[i] + 0.4))  # fmt: skip
    music = _tone(tmp / "music.wav", 110, 8.0, -6)
    tl = Timeline(shots, W, H, voices=voices, music=music)
    srt = tmp / "film.srt"
    srt.write_text(to_srt(build_cues([(starts[i] + 0.4, sp) for i, sp in enumerate(lines)])))
    pieces = []
    for n, (indexes, head, tail) in enumerate(_pieces(tl)):
        part = Timeline([shots[i] for i in indexes], W, H)
        offset = (starts[indexes[0]] * tl.fps + head) / tl.fps  # the piece's start on the film
        out = tmp / f"piece{n}.mp4"
        count = render_piece(part, out, head=head, tail=tail, subtitles=srt, subtitle_offset=offset)
        pieces.append((out, count))
    joined = join(pieces, tl, tmp / "film.mp4", track=sound(tl, tmp / "sound.m4a"), subtitles=srt)
    single = compose(tl, tmp / "single.mp4", subtitles=srt, subtitle_mode="both")
    return {"tl": tl, "pieces": pieces, "joined": joined, "single": single}


def test_a_crossfade_depends_on_the_two_shots_it_joins_only():
    assert fade_between(96, 60, 15) == 15
    assert fade_between(96, 20, 15) == 10
    tl = Timeline([TimelineShot(Path(), s) for s in (3.0, 0.5, 3.0, 3.0)], W, H)
    assert fades(tl) == [7, 7, 15]
    assert film_frames(tl) == 90 + 15 + 90 + 90 - 29


def test_the_pieces_add_up_to_the_film(films):
    tl = films["tl"]
    counts = [
        int(ffprobe(p, "-show_streams")["streams"][0]["nb_frames"]) for p, _ in films["pieces"]
    ]
    assert counts == [count for _, count in films["pieces"]]
    assert counts == [96 + 60 - 15 - 15, 15, 75 - 15]
    assert sum(counts) == film_frames(tl) == 96 + 60 + 75 - 2 * 15


def test_the_joined_film_meets_the_spec(films):
    tl = films["tl"]
    assert film_problems(films["joined"], film_frames(tl) / tl.fps) == []
    gaps = keyframe_gaps(films["joined"])
    assert max(gaps) == 15 and gaps <= set(range(1, 16)), "a piece's last GOP may be shorter"


def test_decoding_across_the_joins_gives_every_frame_evenly_spaced(films):
    tl = films["tl"]
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time",
         "-of", "csv=p=0", str(films["joined"])], capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    times = [float(t.strip(",")) for t in out.split()]
    assert len(times) == film_frames(tl)
    assert times[0] == pytest.approx(0.0, abs=1e-3)
    assert all(
        b - a == pytest.approx(1 / tl.fps, abs=1e-5) for a, b in zip(times, times[1:], strict=False)
    ), "no timestamp jumps at a join"


def test_the_pieces_match_the_single_graph_frame_for_frame(films):
    log = subprocess.run(
        ["ffmpeg", "-nostdin", "-i", str(films["joined"]), "-i", str(films["single"]),
         "-lavfi", "[0:v][1:v]psnr=stats_file=-", "-f", "null", "-"],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    psnr = [float(v) for v in re.findall(r"psnr_avg:(\S+)", log) if v != "inf"]
    frames = len(re.findall(r"^n:", log, flags=re.MULTILINE))
    assert frames == film_frames(films["tl"])
    assert min(psnr, default=99.0) > MIN_PSNR, f"worst frame {min(psnr):.1f} dB"
