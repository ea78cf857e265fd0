"""The film's time grid, shared by planning (which sizes the crossfade between scenes) and
composition (which renders it): every shot lasts whole frames and at least two crossfades."""

from __future__ import annotations

FPS = 30
CROSSFADE = 0.5  # seconds between two shots
CROSSFADE_FRAMES = round(CROSSFADE * FPS)
MIN_SHOT = 1.5  # seconds; at least two crossfades, so a join never shortens its fade
