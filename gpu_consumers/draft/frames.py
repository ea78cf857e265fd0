"""Storyboard frames drawn with Pillow: one still per shot, at the output resolution.

Sky and light come from the scene's time of day, a tint from its mood, the set from keywords in
its place, heading and the shot's description (temple, river, street, kitchen, forest, ...), and
the shot's characters stand in front as figures whose look comes from their seed (figures.py).
The speaker is lit by a halo, drawn a little larger and in front. Everything random is seeded
from the scene/shot ids or the character seed, so the same input gives a byte-identical PNG.

Drawn at 2x and downsampled (anti-aliasing); the mood tint and vignette touch only the set, so a
character's clothing colours are the same in every shot.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from domain.storyboard import Scene, Shot, Storyboard
from gpu_consumers.draft.figures import RGB, Mouth, draw_figure, look_for, seed_of

SS = 2  # supersampling
ASPECTS = {"16:9": (1280, 720), "9:16": (720, 1280), "1:1": (1080, 1080)}
SKIES: dict[str, tuple[RGB, RGB]] = {
    "dawn": ((90, 90, 160), (250, 170, 140)),
    "morning": ((120, 180, 235), (235, 225, 190)),
    "day": ((60, 130, 220), (175, 215, 245)),
    "evening": ((230, 120, 70), (250, 200, 120)),
    "dusk": ((60, 40, 100), (230, 110, 80)),
    "night": ((8, 12, 35), (30, 40, 80)),
    "unknown": ((120, 130, 150), (190, 195, 205)),
}
MOODS: dict[str, tuple[RGB, float]] = {
    "calm": ((120, 190, 180), 0.12),
    "joyful": ((255, 210, 80), 0.15),
    "tense": ((170, 30, 30), 0.22),
    "sad": ((70, 90, 130), 0.3),
    "devotional": ((255, 150, 30), 0.2),
    "mysterious": ((80, 40, 120), 0.3),
    "triumphant": ((230, 170, 40), 0.2),
}
INTERIOR_WORDS = ("kitchen", "room", "hall", "house", "home", "inside", "sanctum", "chamber", "hut")


def resolution(aspect: str) -> tuple[int, int]:
    return ASPECTS[aspect]


def _mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


def _keywords(scene: Scene, shot: Shot) -> str:
    return " ".join((scene.place, scene.heading, shot.description, scene.synopsis or "")).lower()


def _rng(scene: Scene, shot: Shot) -> random.Random:
    return random.Random(seed_of(f"{scene.id}|{shot.id}"))


def render_frame(
    board: Storyboard, scene: Scene, shot: Shot, width: int, height: int
) -> Image.Image:
    img, _ = _render(board, scene, shot, width, height)
    return img


def write_frame(
    board: Storyboard, scene: Scene, shot: Shot, path: Path, width: int, height: int
) -> Path:
    render_frame(board, scene, shot, width, height).save(path, format="PNG", compress_level=6)
    return path


def mouths(
    board: Storyboard, scene: Scene, shot: Shot, width: int, height: int
) -> dict[str, Mouth]:
    """Each character's mouth in the frame (output pixels): what lip sync draws over."""
    return _render(board, scene, shot, width, height)[1]


def _render(
    board: Storyboard, scene: Scene, shot: Shot, width: int, height: int
) -> tuple[Image.Image, dict[str, Mouth]]:
    w, h = width * SS, height * SS
    rng = _rng(scene, shot)
    words = _keywords(scene, shot)
    interior = (
        scene.interior if scene.interior is not None else any(k in words for k in INTERIOR_WORDS)
    )
    horizon = h * (0.6 if interior else rng.uniform(0.52, 0.62))
    img = Image.new("RGB", (w, h))
    draw = ImageDraw.Draw(img)
    top, bottom = SKIES[scene.time_of_day]
    _gradient(draw, w, h, top, bottom)
    _lights(draw, scene.time_of_day, w, h, rng)
    if interior:
        _interior(draw, w, h, horizon, words, rng, scene.time_of_day)
    else:
        _exterior(draw, w, h, horizon, words, rng)
    tint, strength = MOODS[scene.mood]
    img = Image.blend(img, Image.new("RGB", (w, h), tint), strength)
    img = _vignette(img)
    found = _figures(img, board, shot, w, h)
    return img.resize((width, height), Image.Resampling.LANCZOS), found


def _gradient(draw: ImageDraw.ImageDraw, w: int, h: int, top: RGB, bottom: RGB) -> None:
    for y in range(h):
        draw.line((0, y, w, y), fill=_mix(top, bottom, y / h))


def _lights(draw: ImageDraw.ImageDraw, tod: str, w: int, h: int, rng: random.Random) -> None:
    if tod == "night":
        for _ in range(120):
            x, y = rng.uniform(0, w), rng.uniform(0, h * 0.55)
            s = rng.uniform(1, 2.5) * SS
            draw.ellipse((x - s, y - s, x + s, y + s), fill=(235, 235, 215))
    x = w * rng.uniform(0.15, 0.85)
    y = {"dawn": 0.5, "morning": 0.3, "day": 0.12, "evening": 0.4, "dusk": 0.5}.get(tod, 0.15) * h
    r = 0.06 * min(w, h)
    color = {"night": (240, 240, 220), "day": (255, 250, 220)}.get(tod, (255, 215, 150))
    if tod != "unknown":
        draw.ellipse((x - r, y - r, x + r, y + r), fill=color)


def _exterior(
    draw: ImageDraw.ImageDraw, w: int, h: int, horizon: float, words: str, rng: random.Random
) -> None:
    ground = (96, 140, 70)
    if any(k in words for k in ("mountain", "hill", "himalaya")):
        _mountains(draw, w, horizon, rng)
    if any(k in words for k in ("desert", "beach", "shore", "sand")):
        ground = (215, 190, 140)
    elif any(k in words for k in ("street", "road", "market", "bazaar", "city", "town", "temple")):
        ground = (150, 140, 130)
    draw.rectangle((0, horizon, w, h), fill=ground)
    for keys, painter in _SETS:
        if any(k in words for k in keys):
            painter(draw, w, h, horizon, rng)


def _interior(
    draw: ImageDraw.ImageDraw,
    w: int,
    h: int,
    horizon: float,
    words: str,
    rng: random.Random,
    tod: str,
) -> None:
    wall = _mix((200, 175, 140), (60, 50, 45), 0.6 if tod in ("night", "dusk") else 0.0)
    draw.rectangle((0, 0, w, h), fill=wall)
    wx = w * rng.uniform(0.1, 0.6)
    top, bottom = SKIES[tod]
    for i, y in enumerate(range(int(h * 0.15), int(h * 0.4))):  # a window onto the sky
        draw.line((wx, y, wx + w * 0.22, y), fill=_mix(top, bottom, i / (h * 0.25)))
    draw.rectangle((wx, h * 0.15, wx + w * 0.22, h * 0.4), outline=(90, 60, 40), width=6 * SS)
    draw.line((wx + w * 0.11, h * 0.15, wx + w * 0.11, h * 0.4), fill=(90, 60, 40), width=4 * SS)
    draw.rectangle((0, horizon, w, h), fill=_mix(wall, (110, 80, 55), 0.6))
    if "kitchen" in words:
        draw.rectangle((w * 0.62, horizon - h * 0.16, w, horizon + h * 0.02), fill=(150, 110, 75))
        for i in range(3):
            px = w * (0.67 + 0.1 * i)
            draw.ellipse(
                (px, horizon - h * 0.24, px + w * 0.07, horizon - h * 0.15),
                fill=(170, 170, 175) if i % 2 else (180, 110, 60),
            )
        draw.rectangle((w * 0.62, h * 0.12, w * 0.98, h * 0.15), fill=(120, 85, 55))
    if any(k in words for k in ("temple", "shrine", "sanctum", "puja")):
        for px in (0.08, 0.92):
            draw.rectangle((w * px - w * 0.03, 0, w * px + w * 0.03, horizon), fill=(190, 160, 120))
        lx = w * 0.5
        draw.polygon(
            [(lx - w * 0.06, horizon * 0.55), (lx + w * 0.06, horizon * 0.55), (lx, horizon * 0.3)],
            fill=(200, 150, 60),
        )
        draw.ellipse(
            (lx - 8 * SS, horizon * 0.52 - 8 * SS, lx + 8 * SS, horizon * 0.52 + 8 * SS),
            fill=(255, 200, 60),
        )


def _mountains(draw: ImageDraw.ImageDraw, w: int, horizon: float, rng: random.Random) -> None:
    for _ in range(4):
        cx, mw, mh = (
            rng.uniform(0, w),
            rng.uniform(0.25, 0.45) * w,
            rng.uniform(0.2, 0.35) * horizon,
        )
        draw.polygon(
            [(cx - mw / 2, horizon), (cx, horizon - mh), (cx + mw / 2, horizon)],
            fill=(95, 100, 120),
        )
        draw.polygon(
            [
                (cx - mw * 0.08, horizon - mh * 0.84),
                (cx, horizon - mh),
                (cx + mw * 0.08, horizon - mh * 0.84),
            ],
            fill=(240, 240, 245),
        )


def _river(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: float, rng: random.Random) -> None:
    top, bottom = horizon + (h - horizon) * 0.1, horizon + (h - horizon) * 0.5
    draw.rectangle((0, top, w, bottom), fill=(60, 110, 170))
    for _ in range(30):
        x, y = rng.uniform(0, w), rng.uniform(top, bottom)
        draw.arc((x, y, x + 40 * SS, y + 8 * SS), 200, 340, fill=(170, 205, 235), width=2 * SS)
    for i in range(4):  # ghat steps
        y = bottom + i * 10 * SS
        draw.rectangle((0, y, w, y + 5 * SS), fill=(175, 160, 135))


def _temple(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: float, rng: random.Random) -> None:
    cx, bw = w * rng.choice((0.25, 0.75)), w * 0.2
    base = horizon + 6 * SS
    draw.rectangle((cx - bw / 2, base - h * 0.18, cx + bw / 2, base), fill=(215, 185, 140))
    for i in range(4):
        x = cx - bw / 2 + bw * (i + 0.5) / 4
        draw.rectangle((x - 4 * SS, base - h * 0.17, x + 4 * SS, base), fill=(170, 140, 100))
    draw.polygon(
        [
            (cx - bw * 0.35, base - h * 0.18),
            (cx, base - h * 0.45),
            (cx + bw * 0.35, base - h * 0.18),
        ],
        fill=(225, 170, 90),
    )
    draw.line((cx, base - h * 0.45, cx, base - h * 0.52), fill=(80, 60, 40), width=2 * SS)
    draw.polygon(
        [(cx, base - h * 0.52), (cx + 30 * SS, base - h * 0.5), (cx, base - h * 0.48)],
        fill=(240, 120, 20),
    )


def _street(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: float, rng: random.Random) -> None:
    x = 0.0
    while x < w:
        bw, bh = rng.uniform(0.1, 0.2) * w, rng.uniform(0.15, 0.35) * h
        shade = rng.choice(((200, 160, 120), (180, 120, 100), (210, 200, 170), (150, 160, 180)))
        draw.rectangle((x, horizon - bh, x + bw, horizon), fill=shade)
        for wy in range(int(horizon - bh + 12 * SS), int(horizon - 20 * SS), 30 * SS):
            for wx in range(int(x + 10 * SS), int(x + bw - 20 * SS), 28 * SS):
                draw.rectangle((wx, wy, wx + 12 * SS, wy + 14 * SS), fill=(70, 60, 60))
        x += bw + rng.uniform(0, 0.02) * w
    draw.rectangle((0, horizon + (h - horizon) * 0.45, w, h), fill=(90, 90, 95))


def _forest(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: float, rng: random.Random) -> None:
    for _ in range(14):
        x, th = rng.uniform(0, w), rng.uniform(0.2, 0.4) * h
        base = horizon + rng.uniform(0, 0.05) * h
        draw.rectangle((x - 5 * SS, base - th * 0.3, x + 5 * SS, base), fill=(90, 60, 40))
        green = (30 + rng.randrange(40), 90 + rng.randrange(60), 40 + rng.randrange(30))
        draw.polygon(
            [(x - th * 0.25, base - th * 0.25), (x, base - th), (x + th * 0.25, base - th * 0.25)],
            fill=green,
        )


def _palace(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: float, rng: random.Random) -> None:
    cx, bw = w * 0.5, w * 0.4
    draw.rectangle((cx - bw / 2, horizon - h * 0.2, cx + bw / 2, horizon), fill=(235, 225, 205))
    for i in (-1, 0, 1):
        dx, r = cx + i * bw * 0.35, w * (0.05 if i else 0.08)
        draw.chord(
            (dx - r, horizon - h * 0.2 - r * 1.6, dx + r, horizon - h * 0.2 + r * 0.4),
            180,
            360,
            fill=(245, 240, 230),
        )
        draw.chord(
            (dx - r * 0.4, horizon - h * 0.08, dx + r * 0.4, horizon + r * 0.3),
            180,
            360,
            fill=(120, 90, 70),
        )


def _field(draw: ImageDraw.ImageDraw, w: int, h: int, horizon: float, rng: random.Random) -> None:
    for i in range(8):
        y = horizon + (h - horizon) * (i / 8) ** 1.5
        draw.line((0, y, w, y), fill=(150, 170, 60), width=3 * SS)


_Painter = Callable[[ImageDraw.ImageDraw, int, int, float, random.Random], None]
_SETS: tuple[tuple[tuple[str, ...], _Painter], ...] = (
    (("field", "farm", "village"), _field),
    (("street", "road", "market", "bazaar", "city", "town", "village"), _street),
    (("forest", "jungle", "woods", "grove", "garden", "tree"), _forest),
    (("palace", "court", "fort"), _palace),
    (("temple", "mandir", "shrine", "ashram"), _temple),
    (("river", "ganga", "ghat", "lake", "water", "sea", "shore"), _river),
)


def _vignette(img: Image.Image) -> Image.Image:
    w, h = img.size
    mask = Image.new("L", (w // 8, h // 8), 0)
    ImageDraw.Draw(mask).ellipse((-w // 32, -h // 32, w // 8 + w // 32, h // 8 + h // 32), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(w // 64)).resize((w, h), Image.Resampling.BILINEAR)
    return Image.composite(
        img, Image.new("RGB", (w, h), (0, 0, 0)), mask.point(lambda v: 90 + v * 165 // 255)
    )


def _figures(img: Image.Image, board: Storyboard, shot: Shot, w: int, h: int) -> dict[str, Mouth]:
    names = list(dict.fromkeys([*shot.characters, *([shot.speaker] if shot.speaker else [])]))
    slots = {n: i for i, n in enumerate(names)}
    order = sorted(names, key=lambda n: n == shot.speaker)  # the speaker last, in front
    count = max(1, len(names))
    fig_h = min(h * 0.62, w / (count + 0.4) * 1.5)
    ground = h * 0.95
    mouths: dict[str, Mouth] = {}
    for name in order:
        cx = w * (slots[name] + 1) / (count + 1)
        speaking = name == shot.speaker
        size = fig_h * (1.08 if speaking else 1.0)
        if speaking:
            _halo(img, cx, ground - size * 0.55, size)
        seed = next((c.seed for c in board.characters if c.name == name), seed_of(name))
        m = draw_figure(ImageDraw.Draw(img), look_for(seed), cx, ground, size)
        mouths[name] = Mouth(x=m.x / SS, y=m.y / SS, width=m.width / SS, skin=m.skin)
    return mouths


def _halo(img: Image.Image, cx: float, cy: float, size: float) -> None:
    w, h = img.size
    mask = Image.new("L", (w // 4, h // 4), 0)
    rx, ry = size * 0.45 / 4, size * 0.6 / 4
    ImageDraw.Draw(mask).ellipse((cx / 4 - rx, cy / 4 - ry, cx / 4 + rx, cy / 4 + ry), fill=150)
    mask = mask.filter(ImageFilter.GaussianBlur(size / 40)).resize(
        (w, h), Image.Resampling.BILINEAR
    )
    img.paste(Image.new("RGB", (w, h), (255, 240, 200)), (0, 0), mask)
