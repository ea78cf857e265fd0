"""Composition: the film from its timeline, as pieces of video and its sound, joined by copy.

Video: each piece (a shot opened by the crossfade into it; or, planned before, a scene's segment
or the crossfade joining two scenes) is a closed-GOP H.264 file with exactly the film's encoder
settings (`lipsync.video_args`), subtitles burned by libass (Noto Sans shapes Devanagari) when
asked; `render_piece`. Pieces render apart (in parallel, content-addressed: an edit re-renders
only the pieces it touches) and `join` concatenates them with the concat demuxer, no re-encode,
with the `sound` (made apart too, at the same time). `compose` renders the same film as one graph.

Sound (`sound`: `film_audio`, then `master`):
0. Measure the voices (concatenated) and the music, so the music sits `music_db` LU under the
   voices and the ducking sidechain sees the voices at -20 LUFS, whatever their source levels.
1. One ffmpeg run mixes the audio (voices placed, music ducked) to a float WAV and meters the
   mastered mix (gain, then the limiter under `LIMIT`, here without oversampling) at three trial
   gains with `ebur128`; the gain for -14 LUFS is interpolated between them (a limiter lowers
   the loudness by an amount that depends on the material, so one gain from one measurement of
   the unlimited mix missed by ~2 LU). No AAC probe encodes.
2. That gain and the limiter at 4x oversampling (so it sees the true peaks), encoded AAC-LC
   48 kHz stereo. The film muxes it by stream copy (`+faststart`, the subtitle track (mov_text)
   when asked) and gets a JPEG thumbnail (a frame a third of the way in) beside it.
"""

from __future__ import annotations

import re
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import ffmpeg

from gpu_consumers.draft.composition_graph import (
    RATE,
    VOICE_REF,
    Timeline,
    audio_graph,
    film_frames,
    piece_frames,
    video_graph,
    voice_bus,
)
from gpu_consumers.draft.lipsync import video_args

TARGET_LUFS = -14.0
MAX_TRUE_PEAK = -1.0
LIMIT = -2.0  # dBFS at 4x oversampling: AAC's overshoot stays under MAX_TRUE_PEAK
TRIAL_GAINS = (0.0, 3.0, 6.0)  # dB above the voices' level: limiting lowers the loudness
# The trials' limiter runs without oversampling: its loudness reads within 0.1 LU of the 4x
# limiter's (measured on both example films), at a quarter of the cost; the film gets the 4x one.
TRIAL_OVERSAMPLE = 1
# ffmpeg's "fast" AAC coder: ~3x faster than its default (twoloop), recommended at high bitrates
AAC = {"acodec": "aac", "aac_coder": "fast", "ar": 48000, "ac": 2, "b:a": "192k"}
QUIET = ("-hide_banner", "-nostdin", "-loglevel", "info")
SubtitleMode = Literal["burn", "track", "both"]


@dataclass(frozen=True)
class Loudness:
    integrated: float  # LUFS
    true_peak: float  # dBTP


def measure(path: Path, true_peak: bool = True) -> Loudness:
    """Integrated loudness and true peak of a file's audio, by ffmpeg's ebur128 filter."""
    return loudness(ffmpeg.input(str(path)).audio, true_peak)


def loudness(stream: ffmpeg.nodes.FilterableStream, true_peak: bool = True) -> Loudness:
    """Without `true_peak` (4x oversampled, ~half the run) the peak reads -inf."""
    metered = stream.filter("ebur128", peak="true" if true_peak else "none")
    return _summary(run_ffmpeg(metered.output("-", f="null")))


def _summary(log: str) -> Loudness:
    summary = log[log.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    tp = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    if not i:
        raise RuntimeError(f"no ebur128 summary: {log[-500:]}")
    return Loudness(float(i.group(1)), float(tp.group(1)) if tp else float("-inf"))


def run_ffmpeg(stream: ffmpeg.nodes.OutputStream) -> str:
    try:
        _, err = stream.overwrite_output().global_args(*QUIET).run(capture_stdout=True,
                                                                  capture_stderr=True)  # fmt: skip
    except ffmpeg.Error as e:
        raise RuntimeError(f"ffmpeg failed: {e.stderr.decode(errors='replace')[-2000:]}") from e
    return err.decode(errors="replace")


def _limited(stream: ffmpeg.nodes.FilterableStream, limit: float,
             oversample: int = 4) -> ffmpeg.nodes.FilterableStream:  # fmt: skip
    """Peaks held under `limit` dBFS, judged at `oversample`x (4: near the true peak)."""
    if oversample > 1:
        stream = stream.filter("aresample", oversample * RATE)
    limited = stream.filter(
        "alimiter", limit=10 ** (limit / 20), level=0, latency=1, attack=5, release=80
    )
    if oversample > 1:
        limited = limited.filter("aresample", RATE)
    return limited.filter(
        "aformat", sample_fmts="fltp", sample_rates=RATE, channel_layouts="stereo"
    )


def master(stream: ffmpeg.nodes.FilterableStream, gain: float,
           oversample: int = 4) -> ffmpeg.nodes.FilterableStream:  # fmt: skip
    """The mix (`film_audio`) at `TARGET_LUFS`: `gain` dB, then the limiter."""
    return _limited(stream.filter("volume", f"{gain:.2f}dB"), LIMIT, oversample)


def film_audio(tl: Timeline, mix: Path) -> float:
    """Write the film's mix (float WAV) and return the gain that `master` needs to bring it to
    `TARGET_LUFS`.

    A limiter lowers the loudness it is fed by an amount that depends on the material, so the
    same ffmpeg run that writes the mix also meters `master`'s output at a few trial gains around
    the voices' level (`TRIAL_GAINS`), and the gain is interpolated between them."""
    with ThreadPoolExecutor(2) as pool:  # two ffmpeg runs at once (the GIL is not theirs)
        voice_level = pool.submit(loudness, voice_bus(tl), False) if tl.voices else None
        music_level = pool.submit(measure, tl.music, False) if tl.music else None
        voice = voice_level.result().integrated if voice_level else VOICE_REF
        music = music_level.result().integrated if music_level else None
    expected = voice if tl.voices else VOICE_REF + tl.music_db if tl.music else TARGET_LUFS
    gains = [TARGET_LUFS - expected + trial for trial in TRIAL_GAINS]
    split = audio_graph(tl, voice, music).filter_multi_output("asplit", len(gains) + 1)
    outputs = [split[0].output(str(mix), acodec="pcm_f32le")]
    logs = [mix.with_suffix(f".{i}.log") for i in range(len(gains))]
    for i, (gain, log) in enumerate(zip(gains, logs, strict=True)):
        metered = master(split[i + 1], gain, TRIAL_OVERSAMPLE).filter("ebur128", metadata=1)
        keep = metered.filter("ametadata", mode="print", key="lavfi.r128.I", file=str(log))
        outputs.append(keep.output("-", f="null"))
    run_ffmpeg(ffmpeg.merge_outputs(*outputs))
    got = [_last_integrated(log) for log in logs]
    if max(got) < -70:  # silence stays silent
        return 0.0
    return _gain_for(TARGET_LUFS, gains, got)


def _last_integrated(log: Path) -> float:
    """The integrated loudness ebur128 reported last (the whole stream's) in an ametadata log."""
    values = re.findall(r"lavfi\.r128\.I=(-?[\d.]+|-inf|nan)", log.read_text())
    value = float(values[-1]) if values else float("-inf")
    return value if value == value else float("-inf")  # nan: nothing loud enough to gate


def _gain_for(target: float, gains: list[float], got: list[float]) -> float:
    """The gain whose loudness is `target`, linear between the two nearest trials."""
    pairs = sorted(zip(got, gains, strict=True))
    i = next((k for k in range(1, len(pairs)) if target <= pairs[k][0]), len(pairs) - 1)
    (l0, g0), (l1, g1) = pairs[i - 1], pairs[i]
    if l1 - l0 < 0.05:
        return g1 + target - l1
    return g0 + (g1 - g0) * (target - l0) / (l1 - l0)


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


def render_piece(
    tl: Timeline,
    out_path: Path,
    *,
    head: int = 0,
    tail: int = 0,
    subtitles: Path | None = None,
    subtitle_offset: float = 0.0,
    preset: str = "veryfast",
    crf: int = 20,
) -> int:
    """Encode frames `head` .. `film_frames(tl) - tail` of the timeline's video, `subtitles`
    (SRT; its time 0 is `subtitle_offset` s before the piece's first frame) burned in; returns
    the piece's frame count."""
    frames = piece_frames(tl, head, tail)
    if frames < 1:
        raise ValueError(f"a piece of {frames} frames (head {head}, tail {tail})")
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="piece-") as tmp:
        cues = shift_srt(subtitles.read_text(), subtitle_offset) if subtitles else ""
        ass = None
        if cues:  # the piece shows some
            shifted = Path(tmp) / "piece.srt"
            shifted.write_text(cues, encoding="utf-8")
            ass = _burnable(shifted, Path(tmp), tl)
        video = video_graph(tl, ass, head=head, tail=tail)
        run_ffmpeg(video.output(str(out_path), **video_args(tl.fps, crf, preset), an=None))
    return frames


def shift_srt(srt: str, seconds: float) -> str:
    """The SRT's cues `seconds` earlier: cut at 0, those over by then left out, renumbered."""
    shift, blocks = round(seconds * 1000), []
    for block in re.split(r"\n\s*\n", srt.strip()):
        lines = block.splitlines()
        at = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if at is None:
            continue
        start, end = (_srt_ms(t) - shift for t in lines[at].split("-->"))
        if end > 0:
            timing = f"{_srt_time(max(0, start))} --> {_srt_time(end)}"
            blocks.append("\n".join([str(len(blocks) + 1), timing, *lines[at + 1 :]]))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _srt_ms(text: str) -> int:
    h, m, s, ms = (int(x) for x in re.split(r"[:,.]", text.strip()))
    return ((h * 60 + m) * 60 + s) * 1000 + ms


def _srt_time(ms: int) -> str:
    return f"{ms // 3_600_000:02d}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d},{ms % 1000:03d}"


def sound(tl: Timeline, out_path: Path) -> Path:
    """The film's sound, mastered (`film_audio`, then `master`) and encoded: AAC-LC 48 kHz
    stereo in an M4A, muxed into the film by stream copy."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sound-") as tmp:
        mix = Path(tmp) / "mix.wav"
        gain = film_audio(tl, mix)
        run_ffmpeg(master(ffmpeg.input(str(mix)).audio, gain).output(str(out_path), **AAC))
    return out_path


def join(
    pieces: list[tuple[Path, int]],
    tl: Timeline,
    out_path: Path,
    *,
    track: Path,
    subtitles: Path | None = None,
    thumbnail: Path | None = None,
) -> Path:
    """The film: the pieces' video ((path, frames) each) by stream copy (concat demuxer), the
    `track` (`sound`) likewise, `subtitles` (SRT) as a mov_text track, moov first; and its JPEG
    thumbnail (default: beside it, .jpg).

    Each piece's duration is given from its frame count: the demuxer would take the file's
    (rounded to the MP4's millisecond movie timescale), shifting the next piece's timestamps."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="join-") as tmp:
        listing = Path(tmp) / "pieces.txt"
        listing.write_text(
            "".join(
                f"file '{_quoted(path.resolve())}'\nduration {frames / tl.fps:.6f}\n"
                for path, frames in pieces
            )
        )
        video = ffmpeg.input(str(listing), f="concat", safe=0).video
        _mux(video, track, out_path, subtitles, {"vcodec": "copy"})
    _thumbnail(out_path, film_frames(tl) / tl.fps, thumbnail or out_path.with_suffix(".jpg"))
    return out_path


def _quoted(path: Path) -> str:
    """A path inside a single-quoted concat-demuxer line."""
    return str(path).replace("'", "'\\''")


def _mux(
    video: ffmpeg.nodes.FilterableStream,
    track: Path,
    out_path: Path,
    subtitles: Path | None,
    video_out: dict[str, object],
) -> None:
    inputs = [video, ffmpeg.input(str(track)).audio]
    extra: dict[str, object] = {}
    if subtitles is not None:
        inputs.append(ffmpeg.input(str(subtitles), f="srt", sub_charenc="UTF-8")["s"])
        extra = {"scodec": "mov_text", "metadata:s:s:0": "language=und"}
    out = ffmpeg.output(
        *inputs, str(out_path), **video_out, acodec="copy", **extra, movflags="+faststart"
    )
    run_ffmpeg(out)


def _thumbnail(film: Path, seconds: float, thumb: Path) -> None:
    run_ffmpeg(ffmpeg.input(str(film), ss=seconds / 3).output(str(thumb), vframes=1, **{"q:v": 2}))


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
    """The film as one graph (no pieces): the reference the pieces are checked against."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="compose-") as tmp:
        work = Path(tmp)
        burn = subtitles is not None and subtitle_mode in ("burn", "both")
        video = video_graph(tl, _burnable(subtitles, work, tl) if burn else None)
        track = subtitles if subtitle_mode in ("track", "both") else None
        _mux(video, sound(tl, work / "sound.m4a"), out_path, track, video_args(tl.fps, crf, preset))
    _thumbnail(out_path, film_frames(tl) / tl.fps, thumbnail or out_path.with_suffix(".jpg"))
    return out_path
