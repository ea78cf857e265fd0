"""Model licences: read from the model card, and refused for a paid product unless allowed.

A model folder carries its Hugging Face model card (`README.md`) whose YAML front matter names the
licence (`license: openrail++`, or `license: other` with `license_name: ...`). A licence not known
to allow commercial use (non-commercial, no-derivatives or simply unknown) is refused unless the
operator opts in with `FILMSTUDIO_ALLOW_NONCOMMERCIAL_MODELS=true`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

CARD = "README.md"
COMMERCIAL = frozenset(
    {
        "apache-2.0",
        "mit",
        "bsd-2-clause",
        "bsd-3-clause",
        "cc0-1.0",
        "cc-by-4.0",
        "cc-by-sa-4.0",
        "mpl-2.0",
        "unlicense",
        "openrail",
        "openrail++",  # SDXL base 1.0: use restrictions, commercial use allowed
        "creativeml-openrail-m",
        "bigscience-openrail-m",
    }
)


class LicenceRefused(RuntimeError):
    """The model's licence does not allow this installation to use it."""


@dataclass(frozen=True)
class ModelCard:
    """What the studio reads of a model card."""

    licence: str

    @property
    def commercial(self) -> bool:
        return self.licence in COMMERCIAL


def read_card(directory: Path) -> ModelCard:
    """The card's licence ("unknown" without one)."""
    path = directory / CARD
    meta: dict = {}
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        if text.startswith("---"):
            front = text.split("---", 2)[1]
            loaded = yaml.safe_load(front)
            meta = loaded if isinstance(loaded, dict) else {}
    licence = str(meta.get("license") or "unknown").strip().lower()
    if licence == "other":
        licence = str(meta.get("license_name") or "other").strip().lower()
    return ModelCard(licence)


def check_licence(family: str, directory: Path, allow_noncommercial: bool) -> ModelCard:
    """The model card, or LicenceRefused when its licence does not allow commercial use."""
    card = read_card(directory)
    if not card.commercial and not allow_noncommercial:
        raise LicenceRefused(
            f"the {family} model in {directory} is licensed {card.licence!r}, which is not known "
            "to allow commercial use; use another model or opt in with "
            "FILMSTUDIO_ALLOW_NONCOMMERCIAL_MODELS=true"
        )
    return card
