"""Viseme lip sync: IPA phoneme timings -> mouth shapes drawn on the shot's still, 30 fps.

Output choice: a silent H.264 clip (yuv420p, BT.709 matrix and tags, closed GOP) of the mouth's
region of the still only (`mouth_box`: all that moves; a full-frame clip cost ~20x more to draw
and encode) and exactly `round(duration * fps)` frames long. Composition overlays it on the
still at the box, at the line's offset, *before* the Ken Burns move, so the mouth moves with the
camera; an alpha overlay would need a second codec (qtrle/VP9) for no gain in this pipeline.

Viseme set (12, Preston Blair/Oculus style): rest, MBP, FV, TH, L, WQ, CH, etc (other
consonants: t d n s z k g h j r ...), AI, E, O, U. Each is a mouth shape (width, opening,
teeth, tongue); shapes blend over <= 50 ms around phoneme boundaries. Deterministic.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

import ffmpeg
from PIL import Image, ImageDraw

from domain.speech import PhonemeTiming, SpokenLine
from gpu_consumers.draft.figures import Mouth

FPS = 30
SS = 4  # supersampling of the mouth patch


@dataclass(frozen=True)
class Shape:
    width: float  # x mouth.width
    opening: float  # x mouth.width
    teeth: float = 0.0  # 0..1, upper teeth showing
    tongue: float = 0.0  # 0..1


VISEMES: dict[str, Shape] = {
    "rest": Shape(0.9, 0.0),
    "MBP": Shape(0.85, 0.0),
    "FV": Shape(0.95, 0.2, teeth=1.0),
    "TH": Shape(0.95, 0.3, teeth=0.6, tongue=1.0),
    "L": Shape(0.9, 0.55, teeth=0.5, tongue=1.0),
    "WQ": Shape(0.45, 0.4),
    "CH": Shape(0.75, 0.36, teeth=1.0),
    "etc": Shape(1.0, 0.32, teeth=0.8),
    "AI": Shape(1.05, 0.95, teeth=0.4, tongue=0.4),
    "E": Shape(1.15, 0.5, teeth=0.7),
    "O": Shape(0.7, 0.8, tongue=0.2),
    "U": Shape(0.5, 0.45),
}
_SPECIAL = {"tʃ": "CH", "dʒ": "CH", "ts": "etc", "dz": "etc", "aɪ": "AI", "aʊ": "AI", "oʊ": "O",
            "əʊ": "O", "eɪ": "E", "ɔɪ": "O"}  # fmt: skip
_CLASSES = (
    ("pbmɓ", "MBP"),
    ("fvɱʋ", "FV"),
    ("θð", "TH"),
    ("lɫɭʎʟɬɮ", "L"),
    ("wʍɥɹ", "WQ"),
    ("ʃʒʂʐɕʑ", "CH"),
    ("aæɑɐɶʌä", "AI"),
    ("eɛiɪəɘɜɚɝᵻɨœøɞ", "E"),
    ("oɔɒɵɤ", "O"),
    ("uʊyʏɯʉ", "U"),
)
_IGNORED = set("ˈˌːˑ‿͡_-.| 0123456789'ʲʰʷˠˤ̃")


def clean(phoneme: str) -> str:
    """The base IPA letters: stress, length, tie bars, diacritics and tone marks removed."""
    decomposed = unicodedata.normalize("NFD", phoneme)
    return "".join(c for c in decomposed if c not in _IGNORED and not unicodedata.combining(c))


def viseme_of(phoneme: str) -> str:
    base = clean(phoneme)
    if not base:
        return "rest"
    for key, vis in _SPECIAL.items():
        if base.startswith(key):
            return vis
    for letters, vis in _CLASSES:
        if base[0] in letters:
            return vis
    return "etc"


def _lerp(a: Shape, b: Shape, t: float) -> Shape:
    return Shape(
        *(x + (y - x) * t for x, y in zip(vars(a).values(), vars(b).values(), strict=True))
    )


def shape_at(phonemes: list[PhonemeTiming], t: float, blend: float = 0.05) -> Shape:
    """The mouth at time t: the current viseme, half-blended with its neighbours at boundaries."""
    k = next((i for i, p in enumerate(phonemes) if p.start <= t < p.end), None)
    if k is None:
        return VISEMES["rest"]
    cur = phonemes[k]
    shape = VISEMES[viseme_of(cur.phoneme)]
    b = min(blend, 0.5 * (cur.end - cur.start))
    if b <= 0:
        return shape
    nxt = phonemes[k + 1] if k + 1 < len(phonemes) else None
    prev = phonemes[k - 1] if k > 0 else None
    neighbour, weight = None, 0.0
    if t > cur.end - b:
        neighbour, weight = nxt, 0.5 * (t - (cur.end - b)) / b
    elif t < cur.start + b:
        neighbour, weight = prev, 0.5 * (1 - (t - cur.start) / b)
    other = VISEMES[viseme_of(neighbour.phoneme)] if neighbour else VISEMES["rest"]
    return _lerp(shape, other, weight)


def frame_count(duration: float, fps: int = FPS) -> int:
    return max(1, round(duration * fps))


def viseme_track(spoken: SpokenLine, fps: int = FPS) -> list[str]:
    """The dominant viseme of every frame (sampled at each frame's centre)."""
    out = []
    for i in range(frame_count(spoken.duration, fps)):
        t = (i + 0.5) / fps
        k = next((p for p in spoken.phonemes if p.start <= t < p.end), None)
        out.append(viseme_of(k.phoneme) if k else "rest")
    return out


def _patch(shape: Shape, mouth: Mouth, box: tuple[int, int, int, int]) -> Image.Image:
    x0, y0, x1, y1 = box
    img = Image.new("RGB", ((x1 - x0) * SS, (y1 - y0) * SS), mouth.skin)
    d = ImageDraw.Draw(img)
    cx, cy, w = (mouth.x - x0) * SS, (mouth.y - y0) * SS, mouth.width * SS
    lip = tuple(round(c * 0.55 + a) for c, a in zip(mouth.skin, (70, 10, 15), strict=True))
    hw, op = 0.5 * w * shape.width, w * shape.opening
    if op < 0.06 * w:
        d.line((cx - hw, cy, cx + hw, cy), fill=lip, width=max(SS, round(0.12 * w)))
        return img.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)
    top, bottom = cy - 0.25 * op, cy + 0.75 * op
    d.ellipse((cx - hw, top, cx + hw, bottom), fill=(70, 20, 28), outline=lip, width=round(0.1 * w))
    if shape.teeth > 0:
        th = (bottom - top) * 0.28 * shape.teeth
        d.chord((cx - hw * 0.8, top + 0.05 * w, cx + hw * 0.8, top + 0.05 * w + 2 * th), 180, 360,
                fill=(245, 242, 235))  # fmt: skip
    if shape.tongue > 0:
        tw, tt = hw * 0.6, bottom - (bottom - top) * 0.35 * shape.tongue
        d.chord((cx - tw, tt, cx + tw, bottom + (bottom - tt)), 180, 360, fill=(200, 90, 100))
    return img.resize((x1 - x0, y1 - y0), Image.Resampling.LANCZOS)


def mouth_box(mouth: Mouth, width: int, height: int) -> tuple[int, int, int, int]:
    """The region lip sync redraws (x0, y0, x1, y1), on even pixels: all that changes in a clip.

    Composition overlays only this region of the clip (`TimelineShot.lipsync_box`).
    """
    x0 = max(0, int(mouth.x - 0.85 * mouth.width)) // 2 * 2
    y0 = max(0, int(mouth.y - 0.35 * mouth.width)) // 2 * 2
    x1 = min(width, (int(mouth.x + 0.85 * mouth.width) + 2) // 2 * 2)
    y1 = min(height, (int(mouth.y + 0.95 * mouth.width) + 2) // 2 * 2)
    return (x0, y0, x1, y1)


def render_lipsync(
    frame: Path, mouth: Mouth, spoken: SpokenLine, out: Path, fps: int = FPS
) -> Path:
    """Encode the speaker's mouth region of the still (`mouth_box`), animated: all that moves,
    so the clip is that box's size; `mouth` comes from frames.mouths()."""
    still = Image.open(frame).convert("RGB")
    box = mouth_box(mouth, *still.size)
    base = still.crop(box)
    w, h = base.size
    proc = (
        ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{w}x{h}", framerate=fps)
        .filter("scale", out_color_matrix="bt709", out_range="tv")
        .output(str(out), **video_args(fps, crf=16), an=None)
        .overwrite_output()
        .global_args("-hide_banner", "-loglevel", "error")
        .run_async(pipe_stdin=True)
    )
    mask = Image.new("L", (w, h), 0)
    ImageDraw.Draw(mask).ellipse((0, 0, w - 1, h - 1), fill=255)
    cache: dict[Shape, Image.Image] = {}
    assert proc.stdin is not None
    try:
        for i in range(frame_count(spoken.duration, fps)):
            shape = shape_at(spoken.phonemes, (i + 0.5) / fps)
            if shape not in cache:
                cache[shape] = _patch(shape, mouth, box)
            img = base.copy()
            img.paste(cache[shape], (0, 0), mask)
            proc.stdin.write(img.tobytes())
    finally:
        proc.stdin.close()
    if proc.wait() != 0:
        raise RuntimeError(f"ffmpeg failed encoding the lip-sync clip {out}")
    return out


def video_args(fps: int, crf: int = 20, preset: str = "veryfast") -> dict[str, object]:
    """H.264 High yuv420p, BT.709 tags, closed GOP of half the frame rate: YouTube's upload spec."""
    gop = max(1, fps // 2)
    return {
        "vcodec": "libx264",
        "profile:v": "high",
        "preset": preset,
        "crf": crf,
        "pix_fmt": "yuv420p",
        "r": fps,
        "g": gop,
        "keyint_min": gop,
        "sc_threshold": 0,
        "flags": "+cgop",
        "color_primaries": "bt709",
        "color_trc": "bt709",
        "colorspace": "bt709",
        "color_range": "tv",
    }
