"""GPU benchmark: SDXL frames through the studio's model backend (gpu_consumers.final.images).

Run from the repository root where a GPU is lent (the SDXL folder must be installed; nothing is
downloaded)::

    .venv/bin/python bench/gpu.py            # $FILMSTUDIO_MODELS_DIR/sdxl, 1024px, 30 steps
    .venv/bin/python bench/gpu.py --model /models/sdxl --batch 1 2 4 --style noir
    .venv/bin/python bench/gpu.py --tiny --size 64 --steps 2   # CPU smoke run, tiny random model

For each batch size: one warm-up call, then `--images` calls of that many frames through
`ImageGenerator.generate` (each frame its own seed and prompt, built by `frame_request` from a
storyboard-like unit); seconds per image (median and min), images per second, and the peak memory
of the run (CUDA: `torch.cuda.max_memory_allocated`, reset per run; CPU: the process's VmHWM,
reset through /proc/self/clear_refs). Then `--units` single-frame units one after another, as a
worker renders them, with the memory still allocated after each (CUDA: memory_allocated; CPU:
RSS), to show that nothing accumulates between units. Figures only; it asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from adapters.settings import get_settings  # noqa: E402
from gpu_consumers.final.images import FrameRequest, ImageGenerator, frame_request  # noqa: E402
from gpu_consumers.final.licences import read_card  # noqa: E402
from gpu_consumers.final.loading import device as default_device  # noqa: E402
from gpu_consumers.final.loading import fingerprint  # noqa: E402
from schemas.work import ShotInputs  # noqa: E402

ANCHORS = "H100 SDXL 1024x1024 30 steps: 2.5 s/image plain, 1.47 s/image with TensorRT"
PLACES = ["temple courtyard", "village well", "railway platform", "rooftop", "river ghat"]
TIMES = ["dawn", "morning", "day", "evening", "dusk", "night"]
MOODS = ["calm", "joyful", "tense", "sad", "devotional", "mysterious", "triumphant"]
MIB = 2**20


def unit(i: int, size: int, style: str | None) -> ShotInputs:
    """A storyboard-like image_generation unit's inputs; `i` varies place, time, mood and cast."""
    cast = [{"name": n, "voice": "v", "seed": 1000 + k, "language": "en"}
            for k, n in enumerate(["Asha", "Ravi", "Meera"])]  # fmt: skip
    who = [cast[i % 3]["name"], cast[(i + 1) % 3]["name"]][: i % 3]
    inputs: dict[str, Any] = {
        "scene": {"id": f"scene-{i // 4}", "index": i // 4, "heading": PLACES[i % len(PLACES)],
                  "place": PLACES[i % len(PLACES)], "interior": i % 2 == 0,
                  "time_of_day": TIMES[i % len(TIMES)], "mood": MOODS[i % len(MOODS)],
                  "estimated_seconds": 4.0},
        "shot": {"id": f"shot-{i}", "description": "a brass lamp flickers in the wind",
                 "characters": who, "speaker": who[0] if who else None, "estimated_seconds": 4.0},
        "characters": [c for c in cast if c["name"] in who],
        "language": "en",
        "width": size,
        "height": size,
        "style": style,
    }  # fmt: skip
    return ShotInputs.model_validate(inputs)


def requests(first: int, count: int, args: argparse.Namespace) -> list[FrameRequest]:
    """`count` requests with distinct seeds (the seed is offset so no two frames share one)."""
    out = []
    for i in range(first, first + count):
        r = frame_request(unit(i, args.size, args.style), args.steps, args.guidance)
        out.append(replace(r, seed=r.seed + 7919 * i))
    return out


def quiet() -> None:
    """No progress bars or per-prompt warnings (e.g. CLIP's 77-token truncation) in the figures."""
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    for logs in (diffusers_logging, transformers_logging):
        logs.set_verbosity_error()
        logs.disable_progress_bar()


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(device)
        return f"{props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
    return f"CPU {platform.processor() or platform.machine()} x{os.cpu_count()} (float32)"


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
    else:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def peak_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated(device) / MIB
    return _status_kib("VmHWM") / 1024


def held_mib(device: str) -> float:
    if device.startswith("cuda"):
        return torch.cuda.memory_allocated(device) / MIB
    return _status_kib("VmRSS") / 1024


def bench_batch(gen: ImageGenerator, batch: int, args: argparse.Namespace, first: int) -> None:
    gen.generate(requests(first, batch, args))  # warm-up (kernels, allocator, LoRA load)
    reset_peak(gen.device)
    per_image: list[float] = []
    for call in range(args.images):
        batch_requests = requests(first + (call + 1) * batch, batch, args)
        started = time.perf_counter()
        gen.generate(batch_requests)  # PIL images: the GPU work is done on return
        per_image.append((time.perf_counter() - started) / batch)
    median = statistics.median(per_image)
    print(
        f"  {batch:>5}{median:>11.3f}{min(per_image):>9.3f}{1 / median:>10.2f}"
        f"{peak_mib(gen.device):>12.0f} MiB"
    )


def bench_units(gen: ImageGenerator, args: argparse.Namespace) -> None:
    held = []
    for i in range(args.units):
        gen.generate(requests(10_000 + i, 1, args))
        held.append(held_mib(gen.device))
    kind = "allocated (CUDA)" if gen.device.startswith("cuda") else "RSS"
    print(f"Memory {kind} after each of {args.units} single-frame units, in MiB:")
    print("  " + " ".join(f"{m:.0f}" for m in held))
    print(f"  after unit 1: {held[0]:.0f} MiB; after unit {len(held)}: {held[-1]:.0f} MiB "
          f"({held[-1] - held[0]:+.1f} MiB)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, help="SDXL folder (default: <models_root>/sdxl)")
    parser.add_argument("--tiny", action="store_true", help="build and use the tiny random SDXL")
    parser.add_argument("--device", help="cuda, cuda:1, cpu ... (default: as the workers)")
    parser.add_argument("--size", type=int, default=1024, help="square frame size (default 1024)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--guidance", type=float, default=5.0)
    parser.add_argument("--style", help="a LoRA style in <model>/loras")
    parser.add_argument("--images", type=int, default=5, help="timed calls per batch size")
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--units", type=int, default=8, help="units for the memory-growth run")
    args = parser.parse_args(argv)
    quiet()
    settings = get_settings()
    device = args.device or default_device(settings)
    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as scratch:
        if args.tiny:
            from tests.tinymodels.sdxl import build_tiny_sdxl

            model = build_tiny_sdxl(Path(scratch) / "sdxl", [args.style] if args.style else [])
        else:
            model = args.model or settings.models_root / "sdxl"
            if not (model / "model_index.json").is_file():
                parser.error(f"no SDXL pipeline in {model} (give --model DIR, or --tiny)")
        print(f"SDXL benchmark on {device_name(device)}; torch {torch.__version__}")
        print(f"Model {model} (licence {read_card(model).licence}, fingerprint "
              f"{fingerprint(model)}){' tiny random' if args.tiny else ''}")  # fmt: skip
        started = time.perf_counter()
        gen = ImageGenerator.load(model, device)
        print(f"Loaded in {time.perf_counter() - started:.1f} s; held {held_mib(device):.0f} MiB")
        print(f"{args.size}x{args.size}, {args.steps} steps, guidance {args.guidance}, "
              f"style {args.style or 'none'}; {args.images} timed calls per batch size after "
              "1 warm-up")  # fmt: skip
        peak = "peak GPU" if device.startswith("cuda") else "peak RSS"
        print(f"  {'batch':>5}{'s/image':>11}{'min':>9}{'images/s':>10}{peak:>16}")
        for n, batch in enumerate(args.batch):
            bench_batch(gen, batch, args, first=1000 * n)
        bench_units(gen, args)
        print(f"Published anchors: {ANCHORS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
