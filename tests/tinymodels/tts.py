"""A tiny random coqui-tts voice for tests: what `NeuralVoice.load` reads, in a few MB and seconds.

`build_tiny_tts` saves a VITS (`config.json`, `model.pth`; 16 hidden channels, 22.05 kHz) that
reads espeak-ng IPA phonemes (espeak-ng must be installed, as for the offline voices), optionally
with named speakers (`speaker_ids.json`, named in the config by file name only, as a copied
release would be), and, with `clone`, an OpenVoice converter in its release layout (`vc/`).
A model card (`license: mit`) is written too.

Random weights say nothing, but two things are set so the real code paths show: the duration
predictor is biased to about 3.5 frames (40 ms) a token, so lines last as long as speech does,
and layers that coqui initialises to zero (the flows' last convolutions) are randomised, and the
converter's reference encoder scaled up, so speakers and reference samples change the sound.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

HIDDEN = 16
RATE = 22_050
CARD = """---
license: mit
language:
{languages}
library_name: coqui
tags: [text-to-speech, tiny, random]
---
# Tiny random VITS (tests only)

Random weights; it speaks noise with real timings.
"""


def _randomise_zeros(model: torch.nn.Module, scale: float) -> None:
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0.0, scale)


def _vits(directory: Path, speakers: list[str], language: str) -> None:
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    speakers_file = directory / "speaker_ids.json"
    if speakers:
        speakers_file.write_text(json.dumps({name: i for i, name in enumerate(speakers)}))
    args = VitsArgs(
        hidden_channels=HIDDEN,
        hidden_channels_ffn_text_encoder=2 * HIDDEN,
        num_layers_text_encoder=1,
        num_layers_posterior_encoder=1,
        num_layers_flow=1,
        out_channels=257,  # fft_size // 2 + 1
        resblock_type_decoder="2",
        resblock_kernel_sizes_decoder=[3],
        resblock_dilation_sizes_decoder=[[1, 3]],
        upsample_rates_decoder=[8, 8, 4],  # product: hop_length
        upsample_kernel_sizes_decoder=[16, 16, 8],
        upsample_initial_channel_decoder=2 * HIDDEN,
        use_sdp=False,
        init_discriminator=False,
        use_speaker_embedding=bool(speakers),
        speaker_embedding_channels=HIDDEN,
        speakers_file=str(speakers_file) if speakers else None,
    )
    audio = BaseAudioConfig(
        sample_rate=RATE, fft_size=512, win_length=512, hop_length=256, num_mels=40
    )
    config = VitsConfig(
        model_args=args,
        audio=audio,
        use_phonemes=True,
        phonemizer="espeak",
        phoneme_language=language,
        text_cleaner="english_cleaners" if language == "en" else "multilingual_cleaners",
        add_blank=True,
    )
    model = Vits(config)
    _randomise_zeros(model, 0.3)
    with torch.no_grad():
        model.duration_predictor.proj.weight.mul_(0.3)
        model.duration_predictor.proj.bias.fill_(1.25)  # exp(1.25) = 3.5 frames
    if speakers:
        model.config.model_args.speakers_file = speakers_file.name
    torch.save({"model": model.state_dict()}, directory / "model.pth")
    model.config.save_json(str(directory / "config.json"))


def _openvoice(folder: Path) -> None:
    from TTS.vc.configs.openvoice_config import OpenVoiceArgs, OpenVoiceAudioConfig, OpenVoiceConfig
    from TTS.vc.models.openvoice import OpenVoice

    data = {"sampling_rate": RATE, "filter_length": 512, "hop_length": 256, "win_length": 512}
    sizes = {
        "zero_g": False,
        "inter_channels": HIDDEN,
        "hidden_channels": HIDDEN,
        "filter_channels": 2 * HIDDEN,
        "resblock": "2",
        "resblock_kernel_sizes": [3],
        "resblock_dilation_sizes": [[1, 3]],
        "upsample_rates": [8, 8, 4],
        "upsample_initial_channel": 2 * HIDDEN,
        "upsample_kernel_sizes": [16, 16, 8],
        "gin_channels": HIDDEN,
    }
    audio = OpenVoiceAudioConfig(
        input_sample_rate=RATE,
        output_sample_rate=RATE,
        fft_size=data["filter_length"],
        hop_length=data["hop_length"],
        win_length=data["win_length"],
    )
    model = OpenVoice(OpenVoiceConfig(audio=audio, model_args=OpenVoiceArgs(**sizes)))
    _randomise_zeros(model, 0.3)
    with torch.no_grad():
        model.ref_enc.proj.weight.mul_(20.0)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model.state_dict()}, folder / "checkpoint.pth")
    release = {"_version_": "v2", "data": {**data, "n_speakers": 0}, "model": sizes}
    (folder / "config.json").write_text(json.dumps(release, indent=2))


def build_tiny_tts(
    directory: Path, *, clone: bool = True, speakers: list[str] | None = None, language: str = "en"
) -> Path:
    """Save a tiny random voice model into `directory` (made if missing) and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(1234)
        _vits(directory, list(speakers or []), language)
        if clone:
            _openvoice(directory / "vc")
    finally:
        torch.random.set_rng_state(state)
    (directory / "README.md").write_text(CARD.format(languages=f"- {language}"))
    return directory
