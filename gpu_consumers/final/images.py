"""SDXL frames: the image_generation stage's "model" backend.

`frame_request` turns a unit's inputs into a prompt and a seed; `ImageGenerator` renders
requests with a diffusers `StableDiffusionXLPipeline` loaded from a local folder (see loading.py),
with optional LoRA styles from `<folder>/loras/<style>.safetensors`.

Consistency: a shot's seed is its speaker's (else its first character's) storyboard seed, so a
character starts from the same noise in every shot; a shot with no characters takes a stable seed
from its scene id. Each image is drawn from its own `torch.Generator`, so it depends on its request
alone, whether rendered alone or in a batch.

Size: SDXL works on multiples of 8 pixels (64 is best), so a frame renders at the unit's size
rounded to the nearest multiple of 8; the caller scales or crops to the exact size when they differ.
"""

from __future__ import annotations

import gc
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from domain.storyboard import Character, Shot
from gpu_consumers.final.loading import release_memory
from schemas.work import SceneSetting, ShotInputs

if TYPE_CHECKING:
    from diffusers import StableDiffusionXLPipeline

NEGATIVE = (
    "blurry, low quality, jpeg artifacts, deformed, disfigured, bad anatomy, extra limbs, "
    "extra fingers, text, subtitles, watermark, logo, cartoon, 3d render"
)
TIMES = {
    "dawn": "at dawn, soft first light",
    "morning": "in the morning, fresh daylight",
    "day": "in daylight",
    "evening": "in the evening, warm low sun",
    "dusk": "at dusk, golden hour",
    "night": "at night, moonlight and practical lights",
}
MOODS = {
    "calm": "calm, soft diffuse light",
    "joyful": "joyful, bright warm colours",
    "tense": "tense, hard shadows, low key lighting",
    "sad": "melancholic, muted cold colours",
    "devotional": "devotional, glowing lamps, incense haze",
    "mysterious": "mysterious, fog, deep shadows",
    "triumphant": "triumphant, heroic low angle, rim light",
}
DESCRIPTION_WORDS = 30  # the prompt must leave CLIP room for the cast and the mood
FINISH = "35mm film, shallow depth of field, film grain, highly detailed"


@dataclass(frozen=True)
class FrameRequest:
    """One frame to render; `style` names a LoRA (None: the base model)."""

    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    style: str | None
    steps: int
    guidance: float


def _multiple_of_8(pixels: int) -> int:
    return max(8, round(pixels / 8) * 8)


def _seed(scene: SceneSetting, shot: Shot, characters: list[Character]) -> int:
    """The speaker's (else the first character's) seed; else a stable seed from the scene id."""
    seeds = {c.name: c.seed for c in characters}
    for name in [shot.speaker, *shot.characters, *seeds]:
        if name in seeds:
            return seeds[name]
    return zlib.crc32(scene.id.encode())


def frame_request(inputs: ShotInputs, steps: int, guidance: float) -> FrameRequest:
    """The request for one image_generation unit (see processors.planning.plan_images)."""
    scene, shot = inputs.scene, inputs.shot
    where = None if scene.interior is None else ("interior" if scene.interior else "exterior")
    setting = ", ".join(p for p in (where, scene.place) if p)
    people = [f"{shot.speaker} speaking"] if shot.speaker else []
    people += [n for n in shot.characters if n != shot.speaker]
    description = " ".join(shot.description.split()[:DESCRIPTION_WORDS])
    parts = [  # most telling first: CLIP reads 77 tokens and drops the rest
        "cinematic film still",
        setting,
        TIMES.get(scene.time_of_day),
        description,
        f"featuring {', '.join(people)}" if people else "no people",
        MOODS.get(scene.mood),
        FINISH,
    ]
    return FrameRequest(
        prompt=", ".join(p.strip().rstrip(".") for p in parts if p),
        negative_prompt=NEGATIVE,
        seed=_seed(scene, shot, inputs.characters),
        width=_multiple_of_8(inputs.width),
        height=_multiple_of_8(inputs.height),
        style=inputs.style,
        steps=steps,
        guidance=guidance,
    )


class ImageGenerator:
    """A loaded SDXL pipeline on one device; renders batches of `FrameRequest`s."""

    def __init__(self, pipe: StableDiffusionXLPipeline, directory: Path, device: str) -> None:
        self.pipe = pipe
        self.directory = directory
        self.device = device
        self._loaded: set[str] = set()  # LoRA adapters in the pipeline

    @classmethod
    def load(cls, directory: Path, device: str) -> ImageGenerator:
        """The pipeline in `directory` (offline, safetensors only), fp16 on CUDA, on `device`."""
        import torch
        from diffusers import StableDiffusionXLPipeline

        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        pipe = StableDiffusionXLPipeline.from_pretrained(
            directory, torch_dtype=dtype, local_files_only=True, use_safetensors=True
        )
        pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        # The loaded libraries and model are ~450k long-lived objects: without freezing them,
        # release_memory's gc.collect() spends ~0.25 s per call walking them.
        gc.freeze()
        return cls(pipe, Path(directory), device)

    def styles(self) -> list[str]:
        """The installed LoRA styles."""
        return sorted(p.stem for p in (self.directory / "loras").glob("*.safetensors"))

    def _check_styles(self, styles: set[str | None]) -> None:
        """ValueError naming the first style that is not installed."""
        installed = self.styles()
        missing = sorted(s for s in styles if s is not None and s not in installed)
        if missing:
            raise ValueError(
                f"style {missing[0]!r} is not installed; "
                f"installed: {', '.join(installed) or 'none'}"
            )

    def _use_style(self, style: str | None) -> None:
        """Activate one LoRA (loaded on first use), or none."""
        if style is None:
            if self._loaded:
                self.pipe.disable_lora()
            return
        if style not in self._loaded:  # generate checked it is installed
            self.pipe.load_lora_weights(
                self.directory / "loras", weight_name=f"{style}.safetensors", adapter_name=style
            )
            self._loaded.add(style)
        self.pipe.enable_lora()  # set_adapters does not undo an earlier disable_lora
        self.pipe.set_adapters([style])

    def generate(self, requests: list[FrameRequest]) -> list[Image.Image]:
        """One image per request, in order; requests sharing size, style, steps and guidance
        run as one pipeline call, each image drawn from its own seeded generator."""
        import torch

        groups: dict[tuple[int, int, str | None, int, float], list[int]] = {}
        for i, r in enumerate(requests):
            groups.setdefault((r.width, r.height, r.style, r.steps, r.guidance), []).append(i)
        self._check_styles({r.style for r in requests} - self._loaded)
        images: list[Image.Image | None] = [None] * len(requests)
        for (width, height, style, steps, guidance), indices in groups.items():
            self._use_style(style)
            batch = [requests[i] for i in indices]
            try:
                with torch.inference_mode():
                    out = self.pipe(
                        prompt=[r.prompt for r in batch],
                        negative_prompt=[r.negative_prompt for r in batch],
                        width=width,
                        height=height,
                        num_inference_steps=steps,
                        guidance_scale=guidance,
                        generator=[torch.Generator(self.device).manual_seed(r.seed) for r in batch],
                        output_type="pil",
                    )
                for i, image in zip(indices, out.images, strict=True):
                    images[i] = image
                del out
            finally:
                release_memory()
        return [image for image in images if image is not None]
