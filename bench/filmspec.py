"""The film's delivery spec, checked with ffprobe and ffmpeg's ebur128, not our own code's claims.

`film_problems` lists every way a rendered film misses the spec (empty: it meets it); the
pipeline's integration tests and the fault suite (`bench/chaos`) both apply it.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

KEYFRAME_INTERVAL = 15  # frames: a keyframe every half second at 30 fps
LOUDNESS_LUFS = (-15.0, -13.0)  # integrated loudness, inclusive
MAX_TRUE_PEAK_DBFS = -1.0
DURATION_TOLERANCE = 0.5  # seconds between the file and the duration the production reports


def ffprobe(path: Path, *args: str) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-of", "json", *args, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout)


def top_level_atoms(path: Path) -> list[str]:
    """The MP4's top-level boxes in file order (``moov`` before ``mdat`` means faststart)."""
    atoms, data, at = [], path.read_bytes(), 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        atoms.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        if size < 8:
            break
        at += size
    return atoms


def loudness(path: Path) -> tuple[float, float]:
    """(integrated loudness in LUFS, true peak in dBFS) by ffmpeg's ebur128 filter."""
    meter = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostats", "-i", str(path), "-af", "ebur128=peak=true",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    summary = meter[meter.rindex("Summary:") :]
    integrated = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    peak = re.search(r"Peak:\s+(-?[\d.]+) dBFS", summary)
    assert integrated and peak, f"no ebur128 summary for {path}"
    return float(integrated.group(1)), float(peak.group(1))


def keyframe_gaps(path: Path) -> set[int]:
    """The distinct distances, in frames, between consecutive video keyframes."""
    frames = ffprobe(path, "-select_streams", "v", "-show_entries", "packet=flags", "-show_packets")
    keyframes = [i for i, p in enumerate(frames["packets"]) if p["flags"].startswith("K")]
    return {b - a for a, b in zip(keyframes, keyframes[1:], strict=False)}


def film_problems(
    path: Path, duration_seconds: float | None, subtitle_track: bool = True
) -> list[str]:
    """Every way the film at `path` misses the spec; `duration_seconds` is what the production
    reported, `subtitle_track` whether subtitles must ride as a track (not burned)."""
    if not path.is_file():
        return [f"no film at {path}"]
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)

    streams = {s["codec_type"]: s for s in ffprobe(path, "-show_streams")["streams"]}
    video, audio = streams.get("video"), streams.get("audio")
    if video is None or audio is None:
        return [f"streams {sorted(streams)}: a video and an audio stream are required"]
    codec = (video["codec_name"], video.get("profile"), video.get("pix_fmt"))
    expect(codec == ("h264", "High", "yuv420p"), f"video {codec}, want h264 High yuv420p")
    colour = tuple(video.get(k) for k in ("color_primaries", "color_transfer", "color_space"))
    expect(colour == ("bt709",) * 3, f"colour {colour}, want bt709 throughout")
    expect(video["avg_frame_rate"] == "30/1", f"frame rate {video['avg_frame_rate']}, want 30/1")
    sound = (audio["codec_name"], audio.get("profile"), audio["sample_rate"], audio["channels"])
    expect(sound == ("aac", "LC", "48000", 2), f"audio {sound}, want aac LC 48000 Hz stereo")
    if subtitle_track:
        expect("subtitle" in streams, "no subtitle track (subtitles not burned)")
    atoms = top_level_atoms(path)
    expect(
        "moov" in atoms and "mdat" in atoms and atoms.index("moov") < atoms.index("mdat"),
        f"atoms {atoms}: moov must precede mdat (faststart)",
    )
    # Every KEYFRAME_INTERVAL frames; a piece's last GOP (composition joins pieces by stream
    # copy) may be shorter, never longer.
    gaps = keyframe_gaps(path)
    expect(
        max(gaps, default=KEYFRAME_INTERVAL) == KEYFRAME_INTERVAL
        and all(0 < gap <= KEYFRAME_INTERVAL for gap in gaps),
        f"keyframe gaps {gaps}, want {KEYFRAME_INTERVAL} (shorter only before a join)",
    )
    integrated, true_peak = loudness(path)
    low, high = LOUDNESS_LUFS
    expect(low <= integrated <= high, f"loudness {integrated} LUFS, want {low}..{high}")
    expect(true_peak <= MAX_TRUE_PEAK_DBFS, f"true peak {true_peak} dBFS > {MAX_TRUE_PEAK_DBFS}")
    duration = float(ffprobe(path, "-show_format")["format"]["duration"])
    if duration_seconds is not None:
        expect(
            abs(duration - duration_seconds) < DURATION_TOLERANCE,
            f"duration {duration:.2f} s, the production says {duration_seconds:.2f} s",
        )
    return problems
