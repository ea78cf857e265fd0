"""Offline visual backends: storyboard frames, viseme lip sync, subtitles, FFmpeg composition.

Needs Debian's ffmpeg/ffprobe (libx264, libass, ebur128) and fonts-noto-core; small resolutions.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from domain.speech import PhonemeTiming, SpokenLine, WordTiming
from domain.storyboard import Character, Scene, Shot, Storyboard
from gpu_consumers.draft.composition import compose, loudness, measure, run_ffmpeg
from gpu_consumers.draft.composition_graph import (
    Timeline,
    TimelineShot,
    VoiceClip,
    audio_graph,
    film_frames,
    shot_starts,
    voice_bus,
)
from gpu_consumers.draft.figures import look_for
from gpu_consumers.draft.frames import mouths, render_frame, write_frame
from gpu_consumers.draft.lipsync import (
    VISEMES,
    frame_count,
    mouth_box,
    render_lipsync,
    viseme_of,
    viseme_track,
)
from gpu_consumers.draft.subtitles import (
    MAX_CHARS,
    build_cues,
    display_length,
    to_srt,
    to_vtt,
)

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs Debian's ffmpeg")
W, H = 320, 180


def _board() -> Storyboard:
    chars = [
        Character(name="ARJUN", voice="en-m", seed=11, language="en"),
        Character(name="MEERA", voice="hi-f", seed=42, language="hi"),
    ]
    temple = Scene(
        id="s1", index=0, heading="EXT. TEMPLE BY THE RIVER - DAWN", place="temple by the river",
        interior=False, time_of_day="dawn", mood="devotional", lines=[], estimated_seconds=6,
        shots=[
            Shot(id="s1a", description="at the ghat", characters=["ARJUN", "MEERA"],
                 speaker="ARJUN", estimated_seconds=3),
            Shot(id="s1b", description="Meera answers", characters=["ARJUN", "MEERA"],
                 speaker="MEERA", estimated_seconds=3),
        ],
    )  # fmt: skip
    kitchen = Scene(
        id="s2", index=1, heading="INT. KITCHEN - NIGHT", place="kitchen", interior=True,
        time_of_day="night", mood="tense", lines=[], estimated_seconds=3,
        shots=[Shot(id="s2a", description="", characters=["MEERA"], speaker="MEERA",
                    estimated_seconds=3)],
    )  # fmt: skip
    return Storyboard(title="T", language="en", characters=chars, scenes=[temple, kitchen],
                      estimated_seconds=9)  # fmt: skip


def _spoken(line_id: str, text: str, start: float = 0.0, word_s: float = 0.3) -> SpokenLine:
    words, phonemes, t = [], [], start
    cycle = ["h", "ə", "ˈl", "oʊ", "m", "iː", "f", "ɑː", "θ", "uː", "w", "ɛ", "ʃ", "_"]
    for i, w in enumerate(re.sub(r"[,.!?।]", "", text).split()):
        words.append(WordTiming(start=round(t, 3), end=round(t + word_s * 0.85, 3), text=w))
        for k in range(3):
            p = cycle[(3 * i + k) % len(cycle)]
            a, b = round(t + k * word_s / 3, 3), round(t + (k + 1) * word_s / 3, 3)
            phonemes.append(PhonemeTiming(start=a, end=b, phoneme=p))
        t += word_s
    return SpokenLine(line_id=line_id, voice="v", language="en", text=text, audio=f"{line_id}.wav",
                      duration=round(t + 0.2, 3), words=words, phonemes=phonemes)  # fmt: skip


def _count(img_bytes: bytes, rgb: tuple[int, int, int]) -> int:
    return sum(1 for i in range(0, len(img_bytes), 3) if tuple(img_bytes[i : i + 3]) == rgb)


# --- frames ------------------------------------------------------------------------------------


def test_frames_are_deterministic_and_sized(tmp_path: Path) -> None:
    board = _board()
    scene, shot = board.scenes[0], board.scenes[0].shots[0]
    a = write_frame(board, scene, shot, tmp_path / "a.png", W, H)
    b = write_frame(board, scene, shot, tmp_path / "b.png", W, H)
    assert a.read_bytes() == b.read_bytes()
    for w, h in ((W, H), (180, 320), (200, 200)):
        assert render_frame(board, scene, shot, w, h).size == (w, h)


def test_same_character_recognisable_across_shots() -> None:
    board = _board()
    temple, kitchen = board.scenes
    shots = [(temple, temple.shots[0]), (temple, temple.shots[1]), (kitchen, kitchen.shots[0])]
    pixels = [render_frame(board, sc, sh, W, H).tobytes() for sc, sh in shots]
    meera, arjun = look_for(42), look_for(11)
    assert meera.primary != arjun.primary
    for px in pixels:  # Meera is in every shot, in exactly her clothing colour
        assert _count(px, meera.primary) > 100
    assert _count(pixels[0], arjun.primary) > 100 and _count(pixels[1], arjun.primary) > 100
    assert _count(pixels[2], arjun.primary) < 5  # not in the kitchen
    # the speaker is emphasised: drawn larger than when listening
    m0, m1 = mouths(board, *shots[0], W, H), mouths(board, *shots[1], W, H)
    assert m1["MEERA"].width > m0["MEERA"].width and m0["ARJUN"].width > m1["ARJUN"].width


# --- lip sync ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phoneme", "viseme"),
    [("p", "MBP"), ("b", "MBP"), ("m", "MBP"), ("f", "FV"), ("v", "FV"), ("θ", "TH"),
     ("ð", "TH"), ("l", "L"), ("ɭ", "L"), ("w", "WQ"), ("ɹ", "WQ"), ("ʃ", "CH"), ("tʃ", "CH"),
     ("dʒ", "CH"), ("t", "etc"), ("d̪", "etc"), ("kʰ", "etc"), ("ŋ", "etc"), ("ɳ", "etc"),
     ("s", "etc"), ("h", "etc"), ("ˈaɪ", "AI"), ("ɑː", "AI"), ("æ", "AI"), ("ʌ", "AI"),
     ("e", "E"), ("ɛ", "E"), ("ɪ", "E"), ("iː", "E"), ("ə", "E"), ("ˌoʊ", "O"), ("ɔ", "O"),
     ("u", "U"), ("ʊ", "U"), ("ĩ", "E"), ("", "rest"), ("_", "rest"), ("ˈ", "rest")],
)  # fmt: skip
def test_viseme_mapping(phoneme: str, viseme: str) -> None:
    assert viseme_of(phoneme) == viseme


def test_every_ipa_letter_maps_to_a_viseme() -> None:
    vowels = "iyɨʉɯuɪʏʊeøɘɵɤoəɛœɜɞʌɔæɐaɶɑɒ"
    consonants = "pbtdʈɖcɟkgqɢʔmɱnɳɲŋɴʙrʀⱱɾɽɸβfvθðszʃʒʂʐçʝxɣχʁħʕhɦɬɮʋɹɻjɰlɭʎʟwʍɥ"
    for c in vowels:
        assert viseme_of(c) in ("AI", "E", "O", "U"), c
    for c in consonants:
        assert viseme_of(c) not in ("AI", "E", "O", "U", "rest"), c
    assert {viseme_of(c) for c in vowels + consonants} | {"rest"} == set(VISEMES)


def _rgb_frame(path: Path, t: float) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(t), "-i", str(path), "-frames:v", "1",
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True,
    ).stdout  # fmt: skip


def test_lipsync_clip_length_and_motion(tmp_path: Path) -> None:
    board = _board()
    scene, shot = board.scenes[0], board.scenes[0].shots[0]
    frame = write_frame(board, scene, shot, tmp_path / "f.png", W, H)
    spoken = _spoken("l1", "hello moth of thunder well shine", start=0.1)
    mouth = mouths(board, scene, shot, W, H)["ARJUN"]
    clip = render_lipsync(frame, mouth, spoken, tmp_path / "lip.mp4")
    info = _probe(clip, "-count_frames")["streams"][0]
    assert spoken.duration == pytest.approx(2.1)
    assert info["nb_read_frames"] == str(frame_count(spoken.duration)) == "63"
    assert (info["codec_name"], info["pix_fmt"], info["r_frame_rate"]) == (
        "h264",
        "yuv420p",
        "30/1",
    )
    track = viseme_track(spoken)
    assert len(track) == 63 and {"MBP", "O", "AI", "FV", "TH"} <= set(track)
    x0, y0, x1, y1 = mouth_box(mouth, W, H)
    w, h = x1 - x0, y1 - y0
    assert (info["width"], info["height"]) == (w, h)  # the mouth's box only: all that moves
    open_t = next(i for i, v in enumerate(track) if v == "AI") / 30 + 0.02
    closed_t = next(i for i, v in enumerate(track) if v == "MBP") / 30 + 0.02
    a, b = _rgb_frame(clip, open_t), _rgb_frame(clip, closed_t)
    assert len(a) == w * h * 3
    assert sum(abs(p - q) for p, q in zip(a, b, strict=True)) > 2000  # the mouth moves ...
    still = Image.open(frame).convert("RGB").tobytes()
    corners = [(y * W + x) * 3 + c for y in (y0, y1 - 1) for x in (x0, x1 - 1) for c in range(3)]
    inside = [(y * w + x) * 3 + c for y in (0, h - 1) for x in (0, w - 1) for c in range(3)]
    # ... inside an ellipse: the box's corners stay still, and the still's (within coding error)
    assert max(abs(a[j] - b[j]) for j in inside) <= 6
    assert sum(abs(still[i] - b[j]) for i, j in zip(corners, inside, strict=True)) / 12 < 16


# --- subtitles ---------------------------------------------------------------------------------

TRICKY = [
    (0.5, "Wait! Did you hear that, Arjun? The river is rising, and the old temple bells are "
          "ringing by themselves, one after another, all night long."),
    (9.0, "धर्मक्षेत्रे कुरुक्षेत्रे समवेता युयुत्सवः। मामकाः पाण्डवाश्चैव किमकुर्वत सञ्जय॥"),
    (14.0, "Supercalifragilisticexpialidociouslylongwordthatneverends ok."),
    (15.0, "A short line; then a pause, and more words after it."),
]  # fmt: skip


def test_display_length_counts_devanagari_by_letter() -> None:
    assert display_length("नमस्ते") == 4 and display_length("hello") == 5
    assert display_length("日本") == 4


def test_subtitle_rules() -> None:
    placed = [(off, _spoken(f"l{i}", text, word_s=0.32)) for i, (off, text) in enumerate(TRICKY)]
    cues = build_cues(placed)
    assert len(cues) >= 6
    words = [(off + w.start, off + w.end) for off, sp in placed for w in sp.words]
    starts, ends = [s for s, _ in words], [e for _, e in words]
    for cue in cues:
        assert 1 <= len(cue.lines) <= 2
        assert all(0 < display_length(line) <= MAX_CHARS for line in cue.lines), cue
        assert min(abs(cue.start_ms / 1000 - s) for s in starts) <= 0.1
        assert min(abs(cue.end_ms / 1000 - e) for e in ends) <= 0.1
        assert cue.end_ms > cue.start_ms
    for a, b in zip(cues, cues[1:], strict=False):
        assert a.end_ms <= b.start_ms
    first = [c for c in cues if c.start_ms < 9000]
    assert first[0].lines[-1].endswith("Arjun?")  # a sentence end makes a cue end
    assert all(c.lines[-1][-1] in ",.?!" for c in first)  # so do clause ends, before mid-clause
    for cue in first:  # balanced two-line cues
        if len(cue.lines) == 2:
            la, lb = map(display_length, cue.lines)
            assert abs(la - lb) <= 16 or cue.lines[0].endswith((",", ".", "?", "!"))
    text = " ".join(" ".join(c.lines) for c in cues)
    assert "कुरुक्षेत्रे" in text and "॥" in text  # punctuation kept, Unicode intact
    srt, vtt = to_srt(cues), to_vtt(cues)
    assert srt.startswith("1\n00:00:00,500 --> ") and vtt.startswith("WEBVTT\n\n00:00:00.500 --> ")
    assert len(re.findall(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}", vtt)) == len(cues)


def test_overlapping_speech_gives_no_overlapping_cues() -> None:
    a, b = _spoken("a", "First speaker talks over", word_s=0.4), _spoken("b", "second one here")
    cues = build_cues([(1.0, a), (1.9, b), (1.9, _spoken("c", "and a third"))])
    assert len(cues) == 3
    for x, y in zip(cues, cues[1:], strict=False):
        assert x.end_ms <= y.start_ms


# --- composition -------------------------------------------------------------------------------


def _probe(path: Path, *extra: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", *extra, "-show_streams", "-show_format", "-of", "json",
         str(path)], capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)


def _tone(path: Path, freq: int, seconds: float, db: float) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"sine=frequency={freq}:duration={seconds}:sample_rate=48000",
         "-af", f"tremolo=f=5:d=0.7,volume={db}dB", "-ac", "1", str(path)], check=True,
    )  # fmt: skip
    return path


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Timeline]:
    tmp = tmp_path_factory.mktemp("film")
    board = _board()
    scene = board.scenes[0]
    stills = [write_frame(board, scene, s, tmp / f"{s.id}.png", W, H) for s in scene.shots]
    draft = Timeline(shots=[TimelineShot(image=p, duration=3.2) for p in stills], width=W, height=H)
    starts = shot_starts(draft)
    lines = [_spoken("a", "नमस्ते मीरा, the bells are ringing."), _spoken("b", "I hear them too!")]
    placed = [(starts[i] + 0.4, sp) for i, sp in enumerate(lines)]
    srt = tmp / "subs.srt"
    srt.write_text(to_srt(build_cues(placed)), encoding="utf-8")
    shots, voices = [], []
    for i, (shot, still, sp) in enumerate(zip(scene.shots, stills, lines, strict=True)):
        mouth = mouths(board, scene, shot, W, H)[shot.speaker or ""]
        clip = render_lipsync(still, mouth, sp, tmp / f"lip{i}.mp4")
        box = mouth_box(mouth, W, H)
        shots.append(TimelineShot(image=still, duration=3.2, key=shot.id, lipsync=clip,
                                  lipsync_start=0.4, lipsync_box=box))  # fmt: skip
        voices.append(
            VoiceClip(_tone(tmp / f"v{i}.wav", 220 + 90 * i, sp.duration, -20), placed[i][0])
        )
    music = _tone(tmp / "music.wav", 110, 4.0, -6)
    tl = Timeline(shots=shots, width=W, height=H, voices=voices, music=music)
    out = compose(tl, tmp / "film.mp4", subtitles=srt, subtitle_mode="both")
    return out, tl


def test_film_streams_are_youtube_ready(film: tuple[Path, Timeline]) -> None:
    path = film[0]
    info = _probe(path)
    video, audio, subs = info["streams"]
    assert (video["codec_name"], video["profile"], video["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert (video["width"], video["height"], video["r_frame_rate"]) == (W, H, "30/1")
    assert video["color_space"] == video["color_transfer"] == video["color_primaries"] == "bt709"
    assert (audio["codec_name"], audio["profile"], audio["sample_rate"], audio["channels"]) == (
        "aac", "LC", "48000", 2)  # fmt: skip
    assert subs["codec_name"] == "mov_text"
    assert film_frames(film[1]) == 177  # 2 x 96 frames - a 15-frame crossfade
    assert int(video["nb_frames"]) == 177
    assert float(audio["duration"]) == pytest.approx(5.9, abs=0.03)
    data = path.read_bytes()
    assert 0 < data.find(b"moov") < data.find(b"mdat")  # +faststart
    settings = data[: 1 << 20]
    assert b"open_gop=0" in settings and b"keyint=15 " in settings and b"scenecut=0" in settings


def test_film_keyframes_every_half_second(film: tuple[Path, Timeline]) -> None:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-skip_frame", "nokey",
         "-show_entries", "frame=pts_time", "-of", "csv=p=0", str(film[0])],
        capture_output=True, check=True, text=True,
    ).stdout  # fmt: skip
    times = [float(t.split(",")[0]) for t in out.split()]
    assert len(times) == 12
    assert all(
        b - a == pytest.approx(0.5, abs=1e-3) for a, b in zip(times, times[1:], strict=False)
    )


def test_film_loudness(film: tuple[Path, Timeline]) -> None:
    loud = measure(film[0])
    assert -15.0 <= loud.integrated <= -13.0
    assert loud.true_peak <= -1.0


def _band_rms(path: Path, start: float, end: float) -> float:
    log = subprocess.run(
        ["ffmpeg", "-nostdin", "-ss", str(start), "-to", str(end), "-i", str(path), "-af",
         "lowpass=f=200,lowpass=f=200,lowpass=f=200,astats=measure_perchannel=0", "-f", "null",
         "-"], capture_output=True, check=True, text=True,
    ).stderr  # fmt: skip
    return float(re.findall(r"RMS level dB: (-?[\d.]+)", log)[-1])


def test_music_ducks_under_speech(tmp_path: Path) -> None:
    voice = tmp_path / "v.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=1000:duration=2:sample_rate=48000", "-ac", "1", str(voice)],
                   check=True)  # fmt: skip
    music = _tone(tmp_path / "m.wav", 110, 8.0, 0)
    still = tmp_path / "s.png"
    render_frame(_board(), _board().scenes[0], _board().scenes[0].shots[0], W, H).save(still)
    tl = Timeline(shots=[TimelineShot(image=still, duration=6.0)], width=W, height=H,
                  voices=[VoiceClip(voice, 2.0)], music=music)  # fmt: skip
    out = tmp_path / "mix.wav"
    voice_lufs, music_lufs = loudness(voice_bus(tl)).integrated, measure(music).integrated
    run_ffmpeg(audio_graph(tl, voice_lufs, music_lufs).output(str(out), acodec="pcm_f32le"))
    before, during = _band_rms(out, 1.2, 1.9), _band_rms(out, 2.4, 3.8)
    assert before - during > 5  # dB of ducking


def test_thumbnail_is_jpeg(film: tuple[Path, Timeline]) -> None:
    thumb = film[0].with_suffix(".jpg")
    assert thumb.read_bytes()[:3] == b"\xff\xd8\xff"
    stream = _probe(thumb)["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"]) == ("mjpeg", W, H)
