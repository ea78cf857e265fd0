"""A tiny, randomly initialised SDXL pipeline (and LoRA styles) for tests and smoke benchmarks.

Same layout as a real SDXL folder (`StableDiffusionXLPipeline.save_pretrained`, safetensors, a
model card licensed `openrail++`, LoRA styles in `loras/<name>.safetensors`), a few MB, built in
seconds on a CPU from fixed seeds. Its images are noise-like, but deterministic per seed.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

CARD = """---
license: openrail++
tags: [text-to-image, stable-diffusion-xl, tiny-random]
---
# Tiny random SDXL

Randomly initialised, for tests only.
"""
HIDDEN = 32  # each text encoder's width; the UNet's cross-attention sees both (64)
PROJECTION = 32  # text_encoder_2's pooled projection
TIME_EMBED = 8  # per add_time_id: 6 of them, plus the pooled projection
LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def _bytes_to_unicode() -> list[str]:
    """GPT-2/CLIP's printable stand-in for each byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = [], 0
    for b in range(256):
        if b in printable:
            chars.append(chr(b))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _tokenizer(folder: Path) -> CLIPTokenizer:
    """A byte-level CLIP tokenizer with no merges (each character a token), loaded from disk.

    transformers 5's `CLIPTokenizer(vocab_file=..., merges_file=...)` ignores the files, so the
    files are written and loaded with `from_pretrained`.
    """
    chars = _bytes_to_unicode()
    tokens = [*chars, *(f"{c}</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return CLIPTokenizer.from_pretrained(folder)


def _text_config(tokenizer: CLIPTokenizer) -> CLIPTextConfig:
    return CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=HIDDEN,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        projection_dim=PROJECTION,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        hidden_act="gelu",
    )


def _unet() -> UNet2DConditionModel:
    return UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(32, 64),
        layers_per_block=1,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=TIME_EMBED,
        transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=6 * TIME_EMBED + PROJECTION,
        cross_attention_dim=2 * HIDDEN,
        norm_num_groups=8,
    )


def _vae() -> AutoencoderKL:
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"),
        block_out_channels=(16, 32),
        layers_per_block=1,
        latent_channels=4,
        norm_num_groups=8,
        sample_size=64,
    )


def _save_lora(pipe: StableDiffusionXLPipeline, name: str, seed: int, folder: Path) -> None:
    """A random (non-zero) LoRA on the UNet's attention projections, in the diffusers format."""
    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=4, target_modules=LORA_TARGETS, init_lora_weights=False)
    pipe.unet.add_adapter(config, adapter_name=name)
    layers = get_peft_model_state_dict(pipe.unet, adapter_name=name)
    StableDiffusionXLPipeline.save_lora_weights(
        folder, unet_lora_layers=layers, weight_name=f"{name}.safetensors", safe_serialization=True
    )
    pipe.unet.delete_adapters(name)


def build_tiny_sdxl(directory: Path, loras: Sequence[str] = ()) -> Path:
    """Build the tiny pipeline into `directory` (and each LoRA style named); returns `directory`."""
    directory = Path(directory)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="tiny-clip-") as scratch:
        tokenizer = _tokenizer(Path(scratch) / "tokenizer")
        tokenizer_2 = _tokenizer(Path(scratch) / "tokenizer_2")
    text_encoder = CLIPTextModel(_text_config(tokenizer))
    text_encoder_2 = CLIPTextModelWithProjection(_text_config(tokenizer_2))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=_unet(),
        scheduler=scheduler,
        add_watermarker=False,
    )
    pipe.save_pretrained(directory, safe_serialization=True)
    (directory / "README.md").write_text(CARD, encoding="utf-8")
    for index, name in enumerate(loras):
        _save_lora(pipe, name, seed=1000 + index, folder=directory / "loras")
    return directory
