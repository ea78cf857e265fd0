"""Stylised characters for storyboard frames: a look derived from the character's seed alone.

The same seed always gives the same skin, build, hair, clothing shape and colours, whatever the
shot, so a character is recognisable from shot to shot. Clothing colours are drawn exactly (no
tint, no shading over them), which the tests use to find a character in a frame.
"""

from __future__ import annotations

import colorsys
import hashlib
import random
from dataclasses import dataclass

from PIL import ImageDraw

RGB = tuple[int, int, int]

SKINS: tuple[RGB, ...] = (
    (255, 219, 186), (241, 194, 150), (224, 172, 125), (198, 141, 98),
    (170, 116, 76), (141, 90, 57), (112, 70, 44), (86, 54, 36),
)  # fmt: skip
HAIRS: tuple[RGB, ...] = ((20, 16, 14), (58, 38, 24), (96, 62, 34), (150, 110, 60), (200, 200, 205))
HAIR_STYLES = ("short", "long", "bun", "bald", "turban", "topknot", "curly")
CLOTHES = ("kurta", "robe", "drape", "shirt")


@dataclass(frozen=True)
class Look:
    skin: RGB
    hair: RGB
    hair_style: str
    clothing: str
    primary: RGB
    secondary: RGB
    accent: RGB
    build: float  # shoulder width factor
    stature: float  # height factor
    mark: bool  # a tilak/bindi on the forehead


@dataclass(frozen=True)
class Mouth:
    """Where a character's mouth is in the output frame (pixels), and the skin around it."""

    x: float
    y: float
    width: float
    skin: RGB


def seed_of(name: str) -> int:
    """A stable seed for a name with no storyboard entry (extras)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")


def _hsv(h: float, s: float, v: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


def look_for(seed: int) -> Look:
    rng = random.Random(seed)
    hue = rng.random()
    return Look(
        skin=rng.choice(SKINS),
        hair=rng.choice(HAIRS),
        hair_style=rng.choice(HAIR_STYLES),
        clothing=rng.choice(CLOTHES),
        primary=_hsv(hue, rng.uniform(0.6, 0.9), rng.uniform(0.6, 0.9)),
        secondary=_hsv(hue + rng.uniform(0.3, 0.6), rng.uniform(0.4, 0.8), rng.uniform(0.35, 0.8)),
        accent=_hsv(rng.random(), 0.8, 0.95),
        build=rng.uniform(0.8, 1.25),
        stature=rng.uniform(0.9, 1.06),
        mark=rng.random() < 0.4,
    )


def draw_figure(draw: ImageDraw.ImageDraw, look: Look, cx: float, ground: float, h: float) -> Mouth:
    """Draw a standing figure whose feet are at (cx, ground), `h` tall; returns its mouth."""
    h *= look.stature
    r = 0.11 * h
    hy = ground - h + r  # head centre
    sw, hw = 0.17 * h * look.build, 0.13 * h * look.build
    top, hips, knee = hy + r * 1.05, ground - 0.45 * h, ground - 0.22 * h
    leg = max(2.0, 0.05 * h)
    if look.hair_style == "long":
        draw.rounded_rectangle(
            (cx - r * 1.05, hy - r * 0.4, cx + r * 1.05, top + 0.1 * h), r * 0.4, fill=look.hair
        )
    # Legs and lower clothing.
    if look.clothing in ("kurta", "shirt"):
        for side in (-1, 1):
            x = cx + side * hw * 0.45
            draw.rectangle((x - leg, hips, x + leg, ground), fill=look.secondary)
        draw.ellipse((cx - hw, ground - leg, cx + hw, ground + leg), fill=(40, 30, 25))
    # Torso.
    bottom = {"kurta": knee, "shirt": hips, "robe": ground, "drape": ground}[look.clothing]
    flare = {"kurta": 1.15, "shirt": 1.0, "robe": 1.5, "drape": 1.35}[look.clothing]
    draw.polygon(
        [(cx - sw, top), (cx + sw, top), (cx + hw * flare, bottom), (cx - hw * flare, bottom)],
        fill=look.primary,
    )
    if look.clothing == "drape":  # a sash over one shoulder
        draw.polygon(
            [
                (cx + sw * 0.9, top),
                (cx + sw * 0.3, top),
                (cx - hw * 1.2, bottom - 0.1 * h),
                (cx - hw * 0.5, bottom - 0.1 * h),
            ],
            fill=look.secondary,
        )
    elif look.clothing == "robe":
        draw.rectangle((cx - hw, hips - 0.03 * h, cx + hw, hips), fill=look.secondary)
    else:
        draw.rectangle((cx - sw * 0.25, top, cx + sw * 0.25, top + 0.05 * h), fill=look.secondary)
    # Arms with hands.
    for side in (-1, 1):
        sx, hx = cx + side * sw, cx + side * (sw + 0.05 * h)
        draw.line((sx, top + leg, hx, hips), fill=look.primary, width=int(leg * 2.2))
        draw.ellipse(
            (hx - leg * 0.9, hips - leg * 0.6, hx + leg * 0.9, hips + leg * 1.2), fill=look.skin
        )
    # Neck and head.
    draw.rectangle((cx - r * 0.3, hy + r * 0.7, cx + r * 0.3, top + 1), fill=look.skin)
    _hair_back(draw, look, cx, hy, r)
    draw.ellipse((cx - r, hy - r * 1.1, cx + r, hy + r * 1.1), fill=look.skin)
    _hair_front(draw, look, cx, hy, r)
    for side in (-1, 1):
        ex = cx + side * 0.38 * r
        draw.ellipse((ex - 0.1 * r, hy - 0.2 * r, ex + 0.1 * r, hy + 0.02 * r), fill=(25, 20, 20))
        draw.line(
            (ex - 0.18 * r, hy - 0.35 * r, ex + 0.18 * r, hy - 0.38 * r),
            fill=look.hair,
            width=max(1, int(0.07 * r)),
        )
    if look.mark:
        draw.ellipse((cx - 0.07 * r, hy - 0.6 * r, cx + 0.07 * r, hy - 0.46 * r), fill=look.accent)
    my = hy + 0.5 * r
    draw.line(
        (cx - 0.25 * r, my, cx + 0.25 * r, my), fill=(120, 45, 45), width=max(1, int(0.08 * r))
    )
    return Mouth(x=cx, y=my, width=0.55 * r, skin=look.skin)


def _hair_back(draw: ImageDraw.ImageDraw, look: Look, cx: float, hy: float, r: float) -> None:
    if look.hair_style == "bun":
        draw.ellipse((cx - 0.45 * r, hy - 1.65 * r, cx + 0.45 * r, hy - 0.85 * r), fill=look.hair)
    elif look.hair_style == "curly":
        for i in range(7):
            ax = cx + (i - 3) * 0.33 * r
            draw.ellipse(
                (ax - 0.35 * r, hy - 1.35 * r, ax + 0.35 * r, hy - 0.65 * r), fill=look.hair
            )


def _hair_front(draw: ImageDraw.ImageDraw, look: Look, cx: float, hy: float, r: float) -> None:
    style = look.hair_style
    if style in ("short", "long", "bun", "topknot", "curly"):
        draw.chord(
            (cx - r * 1.02, hy - r * 1.15, cx + r * 1.02, hy + r * 0.3), 180, 360, fill=look.hair
        )
    if style == "topknot":
        draw.ellipse((cx - 0.22 * r, hy - 1.5 * r, cx + 0.22 * r, hy - 1.05 * r), fill=look.hair)
    elif style == "turban":
        draw.chord(
            (cx - r * 1.15, hy - r * 1.5, cx + r * 1.15, hy + r * 0.1), 180, 360, fill=look.accent
        )
        draw.ellipse(
            (cx - 0.15 * r, hy - 0.9 * r, cx + 0.15 * r, hy - 0.6 * r), fill=look.secondary
        )
