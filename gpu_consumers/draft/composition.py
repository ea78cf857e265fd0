"""Composition: the film from its timeline, in a few FFmpeg runs (graphs in composition_graph.py).

0. Measure the voices (concatenated) and the music, so the music sits `music_db` LU under the
   voices and the ducking sidechain sees the voices at -20 LUFS, whatever their source levels.
1. Mix the audio (voices placed, music ducked) to a float WAV and measure it with `ebur128`.
2. Apply `volume=<-14 - measured>dB` and `alimiter` (auto level off), encode AAC exactly as the
   film will, and measure that: correct the gain / lower the limit and redo (audio only, cheap)
   until the AAC is -14 LUFS +-0.5 LU with a true peak <= -1 dBTP. Single-pass `loudnorm` missed.
3. Render the video graph with the normalised audio: H.264 High yuv420p, BT.709 tags, closed GOP
   of half the frame rate, AAC-LC 48 kHz stereo, `+faststart`; subtitles burned in by libass
   (Noto Sans shapes Devanagari) and/or carried as a mov_text track.
4. A JPEG thumbnail (a frame a third of the way in, at the film's size) beside the film.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ffmpeg

from gpu_consumers.draft.composition_graph import (
    VOICE_REF,
    Timeline,
    audio_graph,
    film_frames,
    video_graph,
    voice_bus,
)
from gpu_consumers.draft.lipsync import video_args

TARGET_LUFS = -14.0
MAX_TRUE_PEAK = -1.0
AAC = {"acodec": "aac", "ar": 48000, "ac": 2, "b:a": "192k"}
QUIET = ("-hide_banner", "-nostdin", "-loglevel", "info")
SubtitleMode = Literal["burn", "track", "both"]


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP


def measure(path: Path) -> Loudness:
    """Integrated loudness and true peak of a file's audio, by ffmpeg's ebur128 filter."""
    return loudness(ffmpeg.input(str(path)).audio)


def loudness(stream: ffmpeg.nodes.FilterableStream) -> Loudness:
    log = run_ffmpeg(stream.filter("ebur128", peak="true").output("-", f="null"))
    summary = log[log.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    tp = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not i or not tp:
        raise RuntimeError(f"no ebur128 summary: {log[-500:]}")
    return Loudness(float(i.group(1)), float(tp.group(1)))


def run_ffmpeg(stream: ffmpeg.nodes.OutputStream) -> str:
    try:
        _, err = stream.overwrite_output().global_args(*QUIET).run(capture_stdout=True,
                                                                  capture_stderr=True)  # fmt: skip
    except ffmpeg.Error as e:
        raise RuntimeError(f"ffmpeg failed: {e.stderr.decode(errors='replace')[-2000:]}") from e
    return err.decode(errors="replace")


def normalise(mix: Path, out_wav: Path, work: Path, attempts: int = 4) -> Loudness:
    """Gain + limiter until the AAC of the result is on target; returns its measured loudness."""
    measured = measure(mix)
    if measured.integrated < -70:  # silence: nothing to normalise
        run_ffmpeg(ffmpeg.input(str(mix)).output(str(out_wav), acodec="pcm_f32le"))
        return measured
    gain, limit = TARGET_LUFS - measured.integrated, -2.0
    probe = work / "probe.m4a"
    for _ in range(attempts):
        chain = (
            ffmpeg.input(str(mix))
            .audio.filter("volume", f"{gain:.2f}dB")
            .filter(
                "alimiter", limit=10 ** (limit / 20), level=0, latency=1, attack=5, release=80
            )  # fmt: skip
            .filter("aformat", sample_fmts="fltp", sample_rates=48000, channel_layouts="stereo")
        )
        run_ffmpeg(chain.output(str(out_wav), acodec="pcm_f32le"))
        run_ffmpeg(ffmpeg.input(str(out_wav)).output(str(probe), **AAC))
        got = measure(probe)
        loud_ok = abs(got.integrated - TARGET_LUFS) <= 0.5
        if loud_ok and got.true_peak <= MAX_TRUE_PEAK - 0.1:
            return got
        if got.true_peak > MAX_TRUE_PEAK - 0.1:
            limit -= got.true_peak - (MAX_TRUE_PEAK - 0.3)
        if not loud_ok:
            gain += TARGET_LUFS - got.integrated
    return got


def _burnable(srt: Path, work: Path, tl: Timeline) -> Path:
    """The SRT as ASS in our style: Noto Sans sized so 42 characters fit the frame."""
    ass = work / "subtitles.ass"
    run_ffmpeg(ffmpeg.input(str(srt), sub_charenc="UTF-8").output(str(ass)))
    # libass scales the 288-line script to the frame
    px = min(tl.height * 0.06, tl.width * 0.92 / (42 * 0.55))
    size = max(6, round(px * 288 / tl.height))
    style = (
        f"Style: Default,Noto Sans,{size},&H00FFFFFF,&H00FFFFFF,&H80000000,&H80000000,"
        "0,0,0,0,100,100,0,0,1,1.2,0.6,2,10,10,14,1"
    )
    text = re.sub(r"^Style: Default,.*$", style, ass.read_text(), count=1, flags=re.MULTILINE)
    ass.write_text(text)
    return ass


def compose(
    tl: Timeline,
    out_path: Path,
    *,
    subtitles: Path | None = None,
    subtitle_mode: SubtitleMode = "burn",
    thumbnail: Path | None = None,
    preset: str = "veryfast",
    crf: int = 20,
) -> Path:
    """Render the film to `out_path` (MP4) and its JPEG thumbnail (default: beside it, .jpg)."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compose-") as tmp:
        work = Path(tmp)
        mix, final = work / "mix.wav", work / "final.wav"
        voice = loudness(voice_bus(tl)).integrated if tl.voices else VOICE_REF
        music = measure(tl.music).integrated if tl.music else None
        run_ffmpeg(audio_graph(tl, voice, music).output(str(mix), acodec="pcm_f32le"))
        normalise(mix, final, work)
        burn = subtitles is not None and subtitle_mode in ("burn", "both")
        video = video_graph(tl, _burnable(subtitles, work, tl) if burn else None)
        inputs = [video, ffmpeg.input(str(final)).audio]
        extra: dict[str, object] = {}
        if subtitles is not None and subtitle_mode in ("track", "both"):
            inputs.append(ffmpeg.input(str(subtitles), f="srt", sub_charenc="UTF-8")["s"])
            extra = {"scodec": "mov_text", "metadata:s:s:0": "language=und"}
        out = ffmpeg.output(
            *inputs, str(out_path), **video_args(tl.fps, crf, preset), **AAC, **extra,
            movflags="+faststart",
        )  # fmt: skip
        run_ffmpeg(out)
    thumb = thumbnail or out_path.with_suffix(".jpg")
    run_ffmpeg(
        ffmpeg.input(str(out_path), ss=film_frames(tl) / tl.fps / 3).output(
            str(thumb), vframes=1, **{"q:v": 2}
        )
    )
    return out_path
