"""The SDXL frame backend, run for real on a tiny random SDXL pipeline (64x64, 2 steps, CPU)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("peft")

from gpu_consumers.final.images import FrameRequest, ImageGenerator, frame_request  # noqa: E402
from gpu_consumers.final.licences import read_card  # noqa: E402
from schemas.work import ShotInputs  # noqa: E402
from tests.tinymodels.sdxl import build_tiny_sdxl  # noqa: E402

STYLES = ["noir", "watercolour"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sdxl(tmp_path_factory.mktemp("models") / "sdxl", STYLES)


@pytest.fixture(scope="module")
def generator(model_dir: Path) -> Iterator[ImageGenerator]:
    """Loaded with HF_HUB_OFFLINE=1 and every network connection refused."""

    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network access in a unit test")

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a tiny model: threads only contend with other work on the CPUs
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", no_network)
        loaded = ImageGenerator.load(model_dir, "cpu")
    yield loaded
    torch.set_num_threads(threads)


def request(seed: int = 1, style: str | None = None, **changes: object) -> FrameRequest:
    base = FrameRequest(
        prompt="cinematic film still, a lamp in a dark room",
        negative_prompt="blurry",
        seed=seed,
        width=64,
        height=64,
        style=style,
        steps=2,
        guidance=5.0,
    )
    return replace(base, **changes)


def pixels(image: object) -> np.ndarray:
    return np.asarray(image).astype(np.int16)


def same(a: object, b: object) -> bool:
    return bool(np.array_equal(pixels(a), pixels(b)))


def test_tiny_model_is_small_and_licensed(model_dir: Path) -> None:
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    assert size < 20 * 2**20
    assert read_card(model_dir).licence == "openrail++"
    assert sorted(p.name for p in (model_dir / "loras").iterdir()) == [
        "noir.safetensors",
        "watercolour.safetensors",
    ]


def test_renders_pil_images_of_the_requested_size(generator: ImageGenerator) -> None:
    images = generator.generate([request(), request(width=80, height=48)])
    assert [(im.size, im.mode) for im in images] == [((64, 64), "RGB"), ((80, 48), "RGB")]
    assert pixels(images[0]).std() > 0  # not a blank frame


def test_deterministic_per_seed_and_seeds_differ(generator: ImageGenerator) -> None:
    first, again, other = generator.generate([request(1)]), generator.generate([request(1)]), None
    assert same(first[0], again[0])
    other = generator.generate([request(2)])
    assert not same(first[0], other[0])


def test_batched_equals_one_by_one(generator: ImageGenerator) -> None:
    requests = [
        request(1),
        request(2, style="noir"),
        request(3, prompt="a temple at dusk"),
        request(4, width=80),
        request(5, style="noir", prompt="a river at night"),
    ]
    batched = generator.generate(requests)
    alone = [generator.generate([r])[0] for r in requests]
    for a, b in zip(batched, alone, strict=True):
        # Each image has its own generator; batching may only move float rounding (±1 level).
        assert np.abs(pixels(a) - pixels(b)).max() <= 1
    assert [im.size for im in batched] == [(64, 64)] * 3 + [(80, 64), (64, 64)]


def test_style_changes_the_image_and_unknown_style_is_refused(generator: ImageGenerator) -> None:
    assert generator.styles() == STYLES
    plain, noir, watercolour = (generator.generate([request(7, s)])[0] for s in (None, *STYLES))
    assert not same(plain, noir)
    assert not same(noir, watercolour)
    assert same(generator.generate([request(7)])[0], plain)  # no style: the LoRA is off
    assert same(generator.generate([request(7, "noir")])[0], noir)  # and back on
    with pytest.raises(ValueError, match=r"style 'sepia' is not installed; installed: noir, wat"):
        generator.generate([request(7), request(8, "sepia")])


def test_adapters_do_not_accumulate(generator: ImageGenerator) -> None:
    for style in ["noir", None, "watercolour", "noir", None, "watercolour"] * 2:
        generator.generate([request(9, style)])
        adapters = generator.pipe.get_list_adapters()
        assert sorted(adapters.get("unet", [])) == STYLES
        if style is not None:
            assert generator.pipe.get_active_adapters() == [style]


# The prompt builder


def unit_inputs(shot_id: str, speaker: str | None, characters: list[str]) -> ShotInputs:
    cast = {
        "Asha": {"name": "Asha", "voice": "f1", "seed": 1111, "language": "en"},
        "Ravi": {"name": "Ravi", "voice": "m1", "seed": 2222, "language": "en"},
    }
    inputs = {
        "scene": {
            "id": "s01-temple",
            "index": 1,
            "heading": "EXT. TEMPLE COURTYARD - DUSK",
            "place": "temple courtyard",
            "interior": False,
            "time_of_day": "dusk",
            "mood": "devotional",
            "synopsis": None,
            "section": None,
            "transition": None,
        },
        "shot": {
            "id": shot_id,
            "description": "Asha lights a brass lamp.",
            "characters": characters,
            "speaker": speaker,
            "line_ids": [],
            "estimated_seconds": 4.0,
        },
        "characters": [cast[n] for n in characters if n in cast],
        "language": "en",
        "width": 1280,
        "height": 718,
    }
    return ShotInputs.model_validate(inputs)


def test_prompt_has_place_time_mood_description_and_cast() -> None:
    r = frame_request(unit_inputs("shot01", "Asha", ["Ravi", "Asha"]), steps=30, guidance=5.0)
    for text in ("exterior", "temple courtyard", "dusk", "devotional", "brass lamp", "Ravi"):
        assert text in r.prompt
    assert "featuring Asha speaking, Ravi" in r.prompt
    assert r.negative_prompt and "watermark" in r.negative_prompt
    assert (r.width, r.height, r.steps, r.guidance, r.style) == (1280, 720, 30, 5.0, None)
    noir = unit_inputs("shot01", None, []).model_copy(update={"style": "noir"})
    styled = frame_request(noir, 2, 1.0)
    assert styled.style == "noir"


def test_seed_follows_the_speaker() -> None:
    def seed(shot_id: str, speaker: str | None, characters: list[str]) -> int:
        return frame_request(unit_inputs(shot_id, speaker, characters), 30, 5.0).seed

    assert seed("shot01", "Asha", ["Asha"]) == seed("shot07", "Asha", ["Ravi", "Asha"]) == 1111
    assert seed("shot02", "Ravi", ["Asha", "Ravi"]) == 2222
    assert seed("shot03", None, ["Ravi", "Asha"]) == 2222  # no speaker: the first character
    empty = seed("shot04", None, [])
    assert empty == seed("shot05", None, []) not in (1111, 2222)  # stable, from the scene id
