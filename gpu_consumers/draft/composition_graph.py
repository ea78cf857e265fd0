"""The FFmpeg filter graphs of composition, built with ffmpeg-python (no process is run here).

Video, per shot: still -> upscale (2x) to yuv420p with the BT.709 matrix (once) -> `loop` to the
shot's frame count -> lip-sync clip overlaid at its offset -> `zoompan` (d=1, one output frame per
input frame) for the Ken Burns move -> `xfade` into the next shot -> subtitles burned by libass.
The 2x upscale (`oversample`) before zoompan halves its integer-crop jitter; 1 is ~35% faster.
A shot's frame k is the same whichever piece of the film renders it (the move is a function of
k and the shot's length), so `video_graph(head=, tail=)` renders any frame range of the shots
and pieces rendered apart join frame-exactly (composition's segments and joins).

Audio: voices placed by `adelay`, summed (`amix normalize=0`), music looped, faded and ducked
under the voices by `sidechaincompress`, everything ending in
`aformat=fltp:48000:stereo` (layout negotiation fails without it after amix).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import ffmpeg

MOVES = ("in", "out", "left", "right", "up")
RATE = 48000
VOICE_REF = -20.0  # LUFS the ducking sidechain hears the voices at


@dataclass(frozen=True)
class TimelineShot:
    image: Path
    duration: float  # seconds on screen, crossfades included
    lipsync: Path | None = None  # a clip from lipsync.py: the mouth box of the still
    lipsync_start: float = 0.0  # seconds after the shot starts
    lipsync_box: tuple[int, int, int, int] | None = None  # lipsync.mouth_box(): where it goes
    key: str = ""  # what picks the Ken Burns move (the shot id); the image name if empty
    focus: tuple[float, float] = (0.5, 0.4)  # where zooms aim, as fractions of the frame


@dataclass(frozen=True)
class VoiceClip:
    audio: Path
    start: float  # seconds on the film timeline


@dataclass(frozen=True)
class Timeline:
    shots: list[TimelineShot]
    width: int
    height: int
    fps: int = 30
    crossfade: float = 0.5
    voices: list[VoiceClip] = field(default_factory=list)
    music: Path | None = None
    music_db: float = -10.0  # music loudness relative to the voices' (LU), before ducking
    zoom: float = 0.15  # how far Ken Burns moves zoom
    oversample: int = 2  # stills are upscaled this much before zoompan (less crop jitter)


def frames_of(seconds: float, fps: int) -> int:
    return max(1, round(seconds * fps))


def fade_between(a: int, b: int, crossfade: int) -> int:
    """The crossfade (frames) between shots of `a` and `b` frames: it depends on these two only
    (at most half of either)."""
    return min(crossfade, a // 2, b // 2)


def fades(tl: Timeline) -> list[int]:
    """The crossfade into each shot after the first, in frames."""
    lengths = [frames_of(s.duration, tl.fps) for s in tl.shots]
    cf = frames_of(tl.crossfade, tl.fps)
    return [fade_between(a, b, cf) for a, b in zip(lengths, lengths[1:], strict=False)]


def shot_starts(tl: Timeline) -> list[float]:
    """Where each shot starts on the film timeline (seconds): place its voices from these."""
    starts, at = [], 0
    for s, fade in zip(tl.shots, [*fades(tl), 0], strict=True):
        starts.append(at / tl.fps)
        at += frames_of(s.duration, tl.fps) - fade
    return starts


def film_frames(tl: Timeline) -> int:
    return sum(frames_of(s.duration, tl.fps) for s in tl.shots) - sum(fades(tl))


def move_of(shot: TimelineShot) -> str:
    key = shot.key or shot.image.name
    return MOVES[int(hashlib.sha256(key.encode()).hexdigest(), 16) % len(MOVES)]


def _zoompan(stream: ffmpeg.nodes.FilterableStream, shot: TimelineShot, tl: Timeline,
             n: int, first: int) -> ffmpeg.nodes.FilterableStream:  # fmt: skip
    """The move at frame `first + on` of an `n`-frame shot."""
    p, z, (fx, fy) = f"((on+{first})/{max(1, n - 1)})", tl.zoom, shot.focus
    move = move_of(shot)
    zoom = {"in": f"1+{z}*{p}", "out": f"1+{z}*(1-{p})"}.get(move, f"{1 + z * 0.8}")
    fx_expr = {"left": f"(1-{p})", "right": p}.get(move, str(fx))
    fy_expr = f"(1-{p})" if move == "up" else str(fy)
    return stream.filter(
        "zoompan",
        z=zoom,
        x=f"(iw-iw/zoom)*{fx_expr}",
        y=f"(ih-ih/zoom)*{fy_expr}",
        d=1,
        s=f"{tl.width}x{tl.height}",
        fps=tl.fps,
    )


def _shot_stream(shot: TimelineShot, tl: Timeline, first: int = 0,
                 end: int | None = None) -> ffmpeg.nodes.FilterableStream:  # fmt: skip
    """Frames `first` to `end` (exclusive; default: the last) of the shot."""
    n = frames_of(shot.duration, tl.fps)
    end = n if end is None else end
    if not 0 <= first < end <= n:
        raise ValueError(f"frames {first}..{end} are not inside a shot of {n} frames")
    k = tl.oversample
    big = (k * tl.width, k * tl.height)
    v = (
        ffmpeg.input(str(shot.image))
        .video.filter("scale", *big, out_color_matrix="bt709", out_range="tv", flags="bicubic")
        .filter("format", "yuv420p")
        .filter("loop", loop=end - first - 1, size=1, start=0)
        .filter("setpts", f"N/{tl.fps}/TB")
    )
    if shot.lipsync is not None:
        x0, y0, x1, y1 = shot.lipsync_box or (0, 0, tl.width, tl.height)
        offset = shot.lipsync_start - first / tl.fps  # where the clip starts in this range
        clip = ffmpeg.input(str(shot.lipsync)).video
        if offset < 0:
            clip = clip.filter("trim", start=-offset)
        clip = clip.filter("setpts", f"PTS-STARTPTS+{max(0.0, offset):.6f}/TB").filter(
            "scale", k * (x1 - x0), k * (y1 - y0), flags="bicubic"
        )
        v = v.overlay(clip, x=k * x0, y=k * y0, eof_action="pass", format="yuv420")
    v = _zoompan(v, shot, tl, n, first).filter("trim", end_frame=end - first)
    return v.filter("setsar", 1)


def piece_frames(tl: Timeline, head: int = 0, tail: int = 0) -> int:
    """How many frames `video_graph(tl, head=head, tail=tail)` renders."""
    return film_frames(tl) - head - tail


def video_graph(tl: Timeline, ass: Path | None = None, head: int = 0,
                tail: int = 0) -> ffmpeg.nodes.FilterableStream:  # fmt: skip
    """The shots joined by crossfades, less the first `head` frames of the first shot and the
    last `tail` frames of the last (a piece of the film); `ass` subtitles (timed from the piece's
    first frame) burned with libass's complex shaper (the `subtitles` filter's simple shaper
    misplaces Devanagari vowel signs).

    `xfade` works in yuv444p only, so it sees just the crossfades' frames: each shot's frames
    are split into the part shown alone (kept yuv420p) and its fades, and the parts concatenated
    (converting every frame to 4:4:4 and back cost more than the Ken Burns moves)."""
    last = len(tl.shots) - 1
    lengths = [frames_of(s.duration, tl.fps) for s in tl.shots]
    fade_in, fade_out = [0, *fades(tl)], [*fades(tl), 0]
    parts: list[ffmpeg.nodes.FilterableStream] = []
    tail_of_previous: ffmpeg.nodes.FilterableStream | None = None
    for i, (shot, n) in enumerate(zip(tl.shots, lengths, strict=True)):
        first, end = (head if i == 0 else 0), n - (tail if i == last else 0)
        ranges = {  # frames of the shot (from `first`) as the parts that show them
            "in": (first, fade_in[i]),
            "alone": (max(first, fade_in[i]), min(end, n - fade_out[i])),
            "out": (n - fade_out[i], end),
        }
        kept = {name: r for name, r in ranges.items() if r[1] > r[0]}
        shot_stream = _shot_stream(shot, tl, first, end)
        split = shot_stream.filter_multi_output("split", len(kept)) if len(kept) > 1 else None
        streams = {}
        for j, (name, (a, b)) in enumerate(kept.items()):
            stream = split[j] if split is not None else shot_stream
            if len(kept) > 1:
                stream = stream.filter("trim", start_frame=a - first, end_frame=b - first)
                stream = stream.filter("setpts", "PTS-STARTPTS")
            streams[name] = stream
        if "in" in streams:
            if tail_of_previous is None:
                raise ValueError("a piece cannot start inside a crossfade")
            crossfade = ffmpeg.filter(
                [tail_of_previous, streams["in"]], "xfade", transition="fade",
                duration=fade_in[i] / tl.fps, offset=0,
            )  # fmt: skip
            parts.append(crossfade.filter("format", "yuv420p"))
        if "alone" in streams:
            parts.append(streams["alone"])
        tail_of_previous = streams.get("out")
    v = parts[0] if len(parts) == 1 else ffmpeg.concat(*parts, v=1, a=0)
    if ass is not None:
        v = v.filter("ass", filename=str(ass), shaping="complex")
    return v.filter("format", "yuv420p")


def _fmt(stream: ffmpeg.nodes.FilterableStream) -> ffmpeg.nodes.FilterableStream:
    return stream.filter("aformat", sample_fmts="fltp", sample_rates=RATE, channel_layouts="stereo")


def _voices(tl: Timeline, placed: bool) -> list[ffmpeg.nodes.FilterableStream]:
    out = []
    for v in tl.voices:
        a = _fmt(ffmpeg.input(str(v.audio)).audio)
        out.append(a.filter("adelay", delays=str(round(v.start * 1000)), all=1) if placed else a)
    return out


def voice_bus(tl: Timeline) -> ffmpeg.nodes.FilterableStream:
    """All the voices back to back (for measuring their loudness); needs at least one."""
    voices = _voices(tl, placed=False)
    return voices[0] if len(voices) == 1 else ffmpeg.concat(*voices, v=0, a=1)


def audio_graph(tl: Timeline, voice_lufs: float = VOICE_REF,
                music_lufs: float | None = None) -> ffmpeg.nodes.FilterableStream:  # fmt: skip
    """The mix, before loudness normalisation: exactly the film's duration.

    `voice_lufs`/`music_lufs` are the measured loudness of the voices and the music file.
    """
    dur = film_frames(tl) / tl.fps
    voices = _voices(tl, placed=True)
    if not voices:
        voices = [ffmpeg.input(f"anullsrc=r={RATE}:cl=stereo", f="lavfi", t=dur).audio]
    bus = voices[0] if len(voices) == 1 else ffmpeg.filter(
        voices, "amix", inputs=len(voices), normalize=0, duration="longest", dropout_transition=0
    )  # fmt: skip
    bus = _fmt(bus).filter("apad", whole_dur=dur).filter("atrim", duration=dur)
    if tl.music is None:
        return _fmt(bus).filter("atrim", duration=dur)
    split = bus.filter_multi_output("asplit")
    bus, sidechain = split[0], split[1]
    gain = tl.music_db if music_lufs is None else voice_lufs + tl.music_db - music_lufs
    music = (
        _fmt(ffmpeg.input(str(tl.music), stream_loop=-1).audio)
        .filter("atrim", duration=dur)
        .filter("volume", f"{min(30.0, max(-60.0, gain)):.2f}dB")
        .filter("afade", t="in", d=min(1.0, dur / 4))
        .filter("afade", t="out", st=max(0.0, dur - 2.0), d=min(2.0, dur / 4))
    )
    level_sc = min(64.0, max(1 / 64, 10 ** ((VOICE_REF - voice_lufs) / 20)))
    ducked = ffmpeg.filter(
        [music, sidechain], "sidechaincompress", threshold=0.03, ratio=4, attack=15,
        release=350, level_sc=round(level_sc, 4),
    )  # fmt: skip
    bus = ffmpeg.filter([bus, _fmt(ducked)], "amix", inputs=2, normalize=0, duration="first")
    return _fmt(bus).filter("atrim", duration=dur)
