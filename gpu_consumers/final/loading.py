"""Where each model family lives, which device runs it, and freeing memory between units.

Every family loads from its own folder under `settings.models_root` (nothing is downloaded):
`sdxl/` (a diffusers StableDiffusionXLPipeline, LoRA styles in `sdxl/loras/<style>.safetensors`),
`script-analysis/` (transformers `entities/` and `mood/` classifiers) and `tts/` (a coqui-tts
model: `config.json` and `model.pth`).
"""

from __future__ import annotations

import gc
import hashlib
from pathlib import Path

from adapters.settings import Settings
from gpu_consumers.final.licences import ModelCard, check_licence

FAMILIES = {
    "image_generation": "sdxl",
    "script_analysis": "script-analysis",
    "voice_synthesis": "tts",
}


class ModelMissing(RuntimeError):
    """A model family's folder is not installed."""


def model_directory(settings: Settings, family: str) -> tuple[Path, ModelCard]:
    """The family's folder and card; ModelMissing or LicenceRefused say why it cannot load."""
    directory = settings.models_root / family
    if not directory.is_dir() or not any(directory.iterdir()):
        raise ModelMissing(
            f"the {family} model is not installed: put it in {directory} "
            "(FILMSTUDIO_MODELS_DIR names the models folder)"
        )
    allow = settings.allow_noncommercial_models
    for card in sorted(directory.glob("*/**/README.md")):  # a part with its own card (tts/vc/)
        check_licence(f"{family} ({card.parent.relative_to(directory)})", card.parent, allow)
    return directory, check_licence(family, directory, allow)


def fingerprint(directory: Path) -> str:
    """A short digest of a model folder's files (names and sizes), recorded with artifacts."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(directory)}:{path.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def device(settings: Settings) -> str:
    import torch

    if settings.model_device:
        return settings.model_device
    return "cuda" if torch.cuda.is_available() else "cpu"


def release_memory() -> None:
    """Free what one unit left behind (the loaded models stay)."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
