"""Render benchmark: the studio's offline pipeline per example script, beside raw FFmpeg.

Run from the repository root (needs ffmpeg/ffprobe on PATH, no Kafka or PostgreSQL)::

    .venv/bin/python bench/render.py
    .venv/bin/python bench/render.py --examples examples/the-lamp.fountain --keep
    .venv/bin/python bench/render.py --resolution 640x360
    .venv/bin/python bench/render.py --examples /any/path/script.fountain --composition-workers 1

For each example script (``path`` or ``path:language``; the language defaults to ``hi`` when the
script is in Devanagari, else ``en``):

1. Studio, fresh: every stage's offline compute (``gpu_consumers.units.COMPUTE``) in
   ``domain.stages.STAGES`` order, the units planned by ``processors.planning`` exactly as the saga
   plans them, one unit after another into a fresh temporary ``LocalMediaStore``, as a worker
   would, but without Kafka (no broker, saga or worker threads: compute and the store only);
   composition's units on as many threads as a local worker process has composition consumers
   (``--composition-workers``, default ``composition_consumers``: 3). It runs in a fresh child
   Python process (a worker's; timed inside it, imports and the loads a worker does when it
   starts, ``units.warm_up``, excluded).
   Subtitles burned in, the default voices, one language.
2. Raw FFmpeg baseline on the same assets (the studio's frames, voice WAVs, music track and SRT):
   one hand-written ffmpeg command (subprocess) with a plain zoompan per still, ``xfade`` joins,
   voices placed by ``adelay`` and summed with the music by ``amix``, the SRT burned in, libx264
   ``veryfast`` CRF 20 and AAC 48 kHz: no loudness passes, lip-sync overlays, oversampling, BT.709
   or GOP tagging.
3. Both outputs' integrated loudness and true peak (ffmpeg ``ebur128``), a few stream properties.
4. Studio again on the same store: every unit should be found by its content key (cached), none
   recomputed.
5. Edit one line: one line of dialogue in the last scene gets a word more, and the studio
   renders the edited script on the same store (unchanged units are found by key): its wall time
   beside the full render's (target <= 0.25x). Composition is planned as the saga plans it
   (a piece per shot, opened by the crossfade into it, then the film after them all).

Peak RSS of ffmpeg processes is their VmHWM sampled from /proc every 50 ms (see ``PeakRss``: not
``getrusage(RUSAGE_CHILDREN)``, which reports the Python parent's RSS for every child). Figures
only; it asserts nothing about timings. The "x real time" ratio is wall time over the
film's duration (below 1 is faster than real time).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from adapters.media import LocalMediaStore  # noqa: E402
from adapters.settings import Settings  # noqa: E402
from domain import screenplay  # noqa: E402
from domain.speech import SpokenLine  # noqa: E402
from domain.stages import STAGES  # noqa: E402
from domain.storyboard import Storyboard  # noqa: E402
from gpu_consumers import units  # noqa: E402
from gpu_consumers.draft import composition  # noqa: E402
from gpu_consumers.draft.timeline import CROSSFADE, place  # noqa: E402
from processors import planning  # noqa: E402
from schemas.work import WorkUnit  # noqa: E402

DEFAULT_EXAMPLES = ["examples/the-lamp.fountain", "examples/the-lamp-sloka.fountain:hi"]
FPS = 30
CRF = 20
MUSIC_GAIN_DB = -12.0  # the baseline's fixed music level under the voices
WORKERS_ENV = "BENCH_COMPOSITION_WORKERS"


# Studio (run in a child process)


class PeakRss:
    """The peak RSS (VmHWM) of this process's ffmpeg children, sampled from /proc.

    Not `getrusage(RUSAGE_CHILDREN)`: Linux carries the parent's high-water RSS into a child
    across fork/vfork + exec, so every child of a 300 MiB Python process reports >= 300 MiB.
    Sampled every `interval` s; only processes already named ffmpeg (exec done) count.
    """

    def __init__(self, interval: float = 0.05) -> None:
        self.interval = interval
        self._peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="peak-rss", daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def take(self) -> float:
        """The peak (MiB) since the last take; starts afresh."""
        self._sample()
        peak, self._peak_kib = self._peak_kib, 0
        return peak / 1024

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        me = os.getpid()
        try:
            tasks = os.listdir(f"/proc/{me}/task")
        except OSError:
            return
        for task in tasks:
            try:
                children = Path(f"/proc/{me}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                try:
                    if Path(f"/proc/{child}/comm").read_text().strip() != "ffmpeg":
                        continue
                    status = Path(f"/proc/{child}/status").read_text()
                except OSError:
                    continue
                found = re.search(r"VmHWM:\s+(\d+) kB", status)
                if found:
                    self._peak_kib = max(self._peak_kib, int(found.group(1)))


def _self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _kind(args: list[str]) -> str:
    """What one of composition's ffmpeg runs does, from its command line."""
    if any(Path(a).name == "mix.wav" for a in args) and any("ebur128" in a for a in args):
        return "sound: mix + trial meters"
    if any("ebur128" in a for a in args):
        return "sound: loudness measures"
    return {
        "piece.mp4": "video encode (pieces)",
        "sound.m4a": "sound: master + AAC",
        "film.mp4": "join by copy (film)",
        "subtitles.ass": "subtitles to ASS",
        "thumbnail.jpg": "thumbnail",
    }.get(Path(args[-1]).name, Path(args[-1]).name)


def studio_render(
    store: Path,
    script: Path,
    language: str,
    aspect: str,
    resolution: tuple[int, int] | None,
    workers: int = 1,
) -> dict[str, Any]:
    """Every stage's units in stage order into `store` (composition's pieces on `workers`
    threads, each a worker); timings, counts and artifact keys."""
    if resolution is not None:
        planning.RESOLUTIONS = {**planning.RESOLUTIONS, aspect: resolution}
    ffmpeg_runs: list[tuple[str, float]] = []
    run_ffmpeg = composition.run_ffmpeg

    def timed_ffmpeg(stream: Any) -> str:
        started = time.perf_counter()
        try:
            return run_ffmpeg(stream)
        finally:
            ffmpeg_runs.append((_kind(stream.get_args()), time.perf_counter() - started))

    composition.run_ffmpeg = timed_ffmpeg  # composition's ffmpeg runs, timed one by one
    production = planning.Production(
        script_format="fountain",
        script_text=script.read_text(),
        language=language,
        aspect_ratio=aspect,
        languages=[],
        burn_subtitles=True,
        voices={},
    )
    media = LocalMediaStore(store)
    production_id = uuid4()
    artifacts: dict[str, dict[str, str]] = {}
    board: Storyboard | None = None
    stages: list[dict[str, Any]] = []
    peaks = PeakRss().__enter__()
    began = time.perf_counter()
    for stage in STAGES:
        started = time.perf_counter()
        if stage == "script_analysis":
            planned = planning.plan_script(production)
        else:
            assert board is not None
            planned = planning.plan(stage, production, board, artifacts)
        keys: dict[str, str] = {}

        def compute(unit: planning.PlannedUnit, stage: str = stage) -> bool:
            """One unit as a worker computes it; False when its artifact was found by key."""
            key = unit.key(stage)
            if media.exists(key):
                return False
            work = WorkUnit(
                production_id=production_id,
                stage=stage,
                unit=unit.unit,
                attempt=1,
                quality=unit.quality,
                key=key,
                inputs=unit.inputs,
            )
            with media.writing(key) as folder:
                units.COMPUTE[stage](work, media, folder)
            return True

        # As the saga dispatches them: the units waiting for none at once (in parallel across
        # `workers` when there are several), each waiting one once those it waits for are done.
        ready = [u for u in planned if not u.after]
        with ThreadPoolExecutor(workers if stage == "composition" else 1) as pool:
            done = list(pool.map(compute, ready))
        keys.update({u.unit: u.key(stage) for u in ready})
        for unit in (u for u in planned if u.after):
            missing = [dep for dep in unit.after if dep not in keys]
            assert not missing, f"{unit.unit} is planned before {missing}: the saga would wait"
            done.append(compute(unit))
            keys[unit.unit] = unit.key(stage)
        computed = sum(done)
        artifacts[stage] = keys
        if stage == "script_analysis":
            board = Storyboard.model_validate_json(
                media.path(keys["script"], units.STORYBOARD).read_text()
            )
        stages.append(
            {
                "stage": stage,
                "seconds": time.perf_counter() - started,
                "units": len(planned),
                "computed": computed,
                "ffmpeg_peak_mib": peaks.take(),
            }
        )
    total = time.perf_counter() - began
    peaks.__exit__()
    film = artifacts["composition"]["film"]
    manifest = json.loads(media.path(film, units.FILM_MANIFEST).read_text())
    return {
        "seconds": total,
        "stages": stages,
        "artifacts": artifacts,
        "duration": float(manifest["duration_seconds"]),
        "ffmpeg_peak_mib": max(s["ffmpeg_peak_mib"] for s in stages),
        "python_peak_mib": _self_peak_mib(),
        "composition_ffmpeg_runs": ffmpeg_runs,
    }


def run_studio_child(
    store: Path, script: Path, language: str, aspect: str, resolution: str | None, log: Path
) -> dict[str, Any]:
    """`studio_render` in a fresh Python process (timed inside it, no import costs)."""
    result = log.with_suffix(".json")
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(store), str(script),
               language, aspect, resolution or "", str(result)]  # fmt: skip
    with open(log, "ab") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"studio render failed ({done.returncode}), log {log}:\n{tail}")
    return json.loads(result.read_text())


# Raw FFmpeg baseline


@dataclass(frozen=True)
class Baseline:
    seconds: float
    peak_mib: float
    command: list[str]


def _speech(media: LocalMediaStore, keys: dict[str, str]) -> dict[str, SpokenLine]:
    return {
        line_id: SpokenLine.model_validate_json(media.path(key, units.LINE_SPEECH).read_text())
        for line_id, key in keys.items()
    }


def baseline_command(
    media: LocalMediaStore,
    artifacts: dict[str, dict[str, str]],
    size: tuple[int, int],
    work: Path,
    out: Path,
) -> tuple[list[str], float]:
    """The hand-written ffmpeg command over the studio's assets, and the film's duration."""
    board = Storyboard.model_validate_json(
        media.path(artifacts["script_analysis"]["script"], units.STORYBOARD).read_text()
    )
    placement = place(board, _speech(media, artifacts["voice_synthesis"]))
    # The same music track the composition unit lays out (each scene's score at its place).
    music = units._music_track(
        media, artifacts["music"], placement.scene_spans(), work / "music.wav"
    )
    srt_key = artifacts["subtitles"].get(board.language)
    width, height = size
    inputs: list[str] = []
    graph: list[str] = []
    for i, shot in enumerate(placement.shots):
        frame = media.path(artifacts["image_generation"][shot.shot.id], units.FRAME)
        inputs += ["-i", str(frame)]
        n = max(1, round(shot.duration * FPS))
        graph.append(
            f"[{i}:v]scale={width}:{height},"
            f"zoompan=z='1+0.15*on/{n}':d={n}:x='iw/2-(iw/zoom/2)':y='ih/2-(ih/zoom/2)'"
            f":s={width}x{height}:fps={FPS},setsar=1,format=yuv420p[v{i}]"
        )
    video = "v0"
    for i, shot in enumerate(placement.shots[1:], start=1):
        graph.append(
            f"[{video}][v{i}]xfade=transition=fade:duration={CROSSFADE}:offset={shot.start}[x{i}]"
        )
        video = f"x{i}"
    if srt_key:
        srt = media.path(srt_key, units.SRT)
        graph.append(f"[{video}]subtitles=filename='{srt}':force_style='FontName=Noto Sans'[vout]")
    else:
        graph.append(f"[{video}]null[vout]")
    audio: list[str] = []
    index = len(placement.shots)
    for start, line in placement.lines:
        wav = media.path(artifacts["voice_synthesis"][line.line_id], units.LINE_AUDIO)
        inputs += ["-i", str(wav)]
        graph.append(f"[{index}:a]adelay={round(start * 1000)}:all=1[a{index}]")
        audio.append(f"[a{index}]")
        index += 1
    if music is not None:
        inputs += ["-i", str(music)]
        graph.append(f"[{index}:a]volume={MUSIC_GAIN_DB}dB[music]")
        audio.append("[music]")
    if audio:
        graph.append(
            f"{''.join(audio)}amix=inputs={len(audio)}:normalize=0:duration=longest,"
            "aformat=sample_fmts=fltp:sample_rates=48000:channel_layouts=stereo[aout]"
        )
        maps = ["-map", "[vout]", "-map", "[aout]"]
    else:
        maps = ["-map", "[vout]"]
    command = [
        "ffmpeg", "-hide_banner", "-nostdin", "-y", *inputs,
        "-filter_complex", ";".join(graph), *maps,
        "-t", f"{placement.duration:.3f}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", str(CRF), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "192k", "-ar", "48000", "-ac", "2",
        "-movflags", "+faststart", str(out),
    ]  # fmt: skip
    return command, placement.duration


def run_measured(command: list[str], log: Path) -> Baseline:
    """Run one ffmpeg process; its wall time and its peak RSS."""
    with open(log, "wb") as err, PeakRss() as peaks:
        started = time.perf_counter()
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=err)
        seconds = time.perf_counter() - started
        peak = peaks.take()
    if done.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"baseline ffmpeg failed ({done.returncode}):\n{tail}")
    return Baseline(seconds, peak, command)


# Measurements of the outputs


@dataclass(frozen=True)
class Probe:
    duration: float
    integrated: float
    true_peak: float
    audio: str
    video: str


def probe(path: Path) -> Probe:
    info = json.loads(
        subprocess.run(
            ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
            capture_output=True,
            check=True,
        ).stdout
    )
    streams = {s["codec_type"]: s for s in info["streams"]}
    a, v = streams.get("audio", {}), streams.get("video", {})
    log = subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin", "-nostats", "-i", str(path),
         "-af", "ebur128=peak=true", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    summary = log[log.rfind("Summary:") :]
    i = re.search(r"I:\s+(-?[\d.]+|-inf) LUFS", summary)
    tp = re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary)
    return Probe(
        duration=float(info["format"]["duration"]),
        integrated=float(i.group(1)) if i else float("nan"),
        true_peak=float(tp.group(1)) if tp else float("nan"),
        audio=f"{a.get('codec_name', '-')} {a.get('sample_rate', '-')} Hz "
        f"{a.get('channel_layout', '-')}",
        video=f"{v.get('codec_name', '-')} {v.get('profile', '-')} {v.get('width')}x"
        f"{v.get('height')} {v.get('r_frame_rate', '-')} {v.get('pix_fmt', '-')} "
        f"primaries={v.get('color_primaries', 'unset')}",
    )


def gop(path: Path) -> str:
    """Keyframe spacing in frames (min/max over the film)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "packet=flags", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    keys = [i for i, flags in enumerate(out) if "K" in flags]
    gaps = [b - a for a, b in zip(keys, keys[1:], strict=False)]
    if not gaps:
        return f"1 keyframe in {len(out)} frames"
    return f"keyframes every {min(gaps)}-{max(gaps)} frames"


# Report


def parse_example(spec: str) -> tuple[Path, str]:
    path, _, language = spec.partition(":")
    script = (ROOT / path).resolve() if not Path(path).is_absolute() else Path(path)
    if not language:
        devanagari = re.search(r"[\u0900-\u097F]", script.read_text())
        language = "hi" if devanagari else "en"
    return script, language


def bench_example(
    spec: str, root: Path, aspect: str, resolution: str | None
) -> dict[str, Any]:  # fmt: skip
    script, language = parse_example(spec)
    work = root / script.stem
    store = work / "store"
    work.mkdir(parents=True)
    size = planning.RESOLUTIONS[aspect]
    if resolution:
        width, height = (int(x) for x in resolution.split("x"))
        size = (width, height)
    shown = script.relative_to(ROOT) if script.is_relative_to(ROOT) else script
    print(f"\n== {shown} (language {language}, {size[0]}x{size[1]}, {aspect})")
    fresh = run_studio_child(store, script, language, aspect, resolution, work / "studio-1.log")
    media = LocalMediaStore(store)
    film = media.path(fresh["artifacts"]["composition"]["film"], units.FILM)
    studio_probe = probe(film)

    command, duration = baseline_command(
        media, fresh["artifacts"], size, work, work / "baseline.mp4"
    )
    base = run_measured(command, work / "baseline.log")
    base_probe = probe(work / "baseline.mp4")

    again = run_studio_child(store, script, language, aspect, resolution, work / "studio-2.log")
    edited_script, edit = edit_one_line(script, language, work)
    edited = run_studio_child(
        store, edited_script, language, aspect, resolution, work / "studio-3.log"
    )

    print(
        "Studio: every stage's offline compute in-process in stage order, one unit after another "
        "(like a worker, without Kafka)"
    )
    print(f"  {'stage':<17}{'seconds':>9}{'units':>7}{'computed':>10}{'ffmpeg peak':>13}")
    for s in fresh["stages"]:
        print(
            f"  {s['stage']:<17}{s['seconds']:>9.2f}{s['units']:>7}{s['computed']:>10}"
            f"{s['ffmpeg_peak_mib']:>9.0f} MiB"
        )
    print_ffmpeg_runs(fresh)
    print(
        "  (ffmpeg peak: the largest VmHWM of the stage's ffmpeg processes, sampled every 50 ms; "
        f"the worker's Python process itself peaked at {fresh['python_peak_mib']:.0f} MiB)"
    )
    rows = [
        ("studio (all stages)", fresh["seconds"], studio_probe, fresh["ffmpeg_peak_mib"]),
        (
            "studio (composition)",
            next(s["seconds"] for s in fresh["stages"] if s["stage"] == "composition"),
            studio_probe,
            fresh["ffmpeg_peak_mib"],
        ),
        ("raw ffmpeg baseline", base.seconds, base_probe, base.peak_mib),
    ]
    print(f"Film: {duration:.2f} s planned; outputs probed:")
    print(
        f"  {'render':<22}{'wall s':>8}{'film s':>8}{'x real time':>13}{'LUFS':>8}{'dBTP':>7}"
        f"{'ffmpeg peak':>13}"
    )
    for name, seconds, p, peak in rows:
        print(
            f"  {name:<22}{seconds:>8.2f}{p.duration:>8.2f}{seconds / p.duration:>13.2f}"
            f"{p.integrated:>8.1f}{p.true_peak:>7.1f}{peak:>9.0f} MiB"
        )
    print(f"  studio   {studio_probe.video}; {studio_probe.audio}; {gop(film)}")
    print(f"  baseline {base_probe.video}; {base_probe.audio}; {gop(work / 'baseline.mp4')}")
    print(
        "  baseline: frames, voice WAVs at their placed offsets, the studio's music track (laid "
        "out beforehand, untimed) and SRT; zoompan+xfade, adelay+amix, burned subtitles, "
        f"libx264 veryfast CRF {CRF}, AAC 48 kHz; music at a fixed {MUSIC_GAIN_DB:g} dB"
    )
    computed = sum(s["computed"] for s in again["stages"])
    total_units = sum(s["units"] for s in again["stages"])
    same = again["artifacts"] == fresh["artifacts"]
    print(
        f"Second studio run on the same store: {computed} computed, {total_units - computed} "
        f"cached of {total_units} units in {again['seconds']:.2f} s; same artifact keys: {same}"
    )
    composition_s = next(s["seconds"] for s in fresh["stages"] if s["stage"] == "composition")
    print(
        f"Composition beside the single hand-written graph: {composition_s:.2f} s / "
        f"{base.seconds:.2f} s = {composition_s / base.seconds:.2f}x (target <= 1.2x)"
    )
    redone = [
        f"{s['stage']} {s['computed']}/{s['units']} {s['seconds']:.2f} s"
        for s in edited["stages"]
        if s["computed"]
    ]
    print(
        f"Edit one line ({edit}), re-render on the same store: {edited['seconds']:.2f} s / "
        f"full {fresh['seconds']:.2f} s = {edited['seconds'] / fresh['seconds']:.2f}x "
        f"(target <= 0.25x); computed: {', '.join(redone)}"
    )
    print_ffmpeg_runs(edited)
    return {"fresh": fresh, "again": again, "edited": edited, "baseline": base}


def print_ffmpeg_runs(render: dict[str, Any]) -> None:
    """A render's composition ffmpeg runs by kind: how many, and their wall seconds summed."""
    runs: dict[str, list[float]] = {}
    for kind, seconds in render["composition_ffmpeg_runs"]:
        runs.setdefault(kind, []).append(seconds)
    print(f"  composition's {len(render['composition_ffmpeg_runs'])} ffmpeg runs:")
    for kind, times in runs.items():
        print(f"    {kind:<28}{len(times):>3} x  {sum(times):>7.2f} s")


def edit_one_line(script: Path, language: str, work: Path) -> tuple[Path, str]:
    """The script with a word more in one line of dialogue of its last scene that has one."""
    text = script.read_text()
    board = screenplay.analyse("fountain", text, language)
    for scene in reversed(board.scenes):
        for line in scene.lines:
            if line.character and line.text in text:
                edited = work / f"edited-{script.name}"
                edited.write_text(text.replace(line.text, f"{line.text} Truly.", 1))
                return edited, f"{line.id}: {line.text[:40]!r}"
    raise ValueError(f"{script} has no line of dialogue to edit")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--examples",
        nargs="+",
        default=DEFAULT_EXAMPLES,
        help="scripts as path or path:language (default: the two lamp examples)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the stores and outputs")
    parser.add_argument("--aspect-ratio", default="16:9", choices=sorted(planning.RESOLUTIONS))
    parser.add_argument(
        "--resolution", help="WxH overriding the aspect ratio's size (e.g. 640x360)"
    )
    parser.add_argument(
        "--composition-workers",
        type=int,
        default=Settings().composition_consumers,
        help="composition units computed at once (default: as a local worker process does, "
        "FILMSTUDIO_COMPOSITION_CONSUMERS)",
    )
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        store, script, language, aspect, resolution, result = args.child
        size = tuple(int(x) for x in resolution.split("x")) if resolution else None
        workers = int(os.environ.get(WORKERS_ENV, "1"))
        units.warm_up(STAGES)  # as a started worker process has (off the clock)
        out = studio_render(Path(store), Path(script), language, aspect, size, workers)  # type: ignore[arg-type]
        Path(result).write_text(json.dumps(out))
        return 0
    if args.resolution and not re.fullmatch(r"\d+x\d+", args.resolution):
        parser.error("--resolution is WxH, e.g. 1280x720")
    for tool in ("ffmpeg", "ffprobe"):
        if shutil.which(tool) is None:
            parser.error(f"{tool} is not on PATH")
    os.environ[WORKERS_ENV] = str(max(1, args.composition_workers))  # for the studio's child
    root = Path(tempfile.mkdtemp(prefix="bench-render-"))
    version = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True).stdout
    print(
        f"Render benchmark on {os.cpu_count()} CPUs, ffmpeg {version.split()[2]}, "
        f"{os.environ[WORKERS_ENV]} composition worker(s); work in {root}"
    )
    try:
        for spec in args.examples:
            bench_example(spec, root, args.aspect_ratio, args.resolution)
    finally:
        if args.keep:
            print(f"\nKept the stores and outputs in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
