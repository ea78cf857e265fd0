"""Voice synthesis, model backend: a coqui-tts VITS from the `tts/` folder; cloning by OpenVoice.

The folder (see `loading.py`) holds
- `config.json` and `model.pth` (or coqui's release name `model_file.pth`): a coqui-tts VITS,
  e.g. `tts_models/en/vctk/vits` (Apache-2.0). Files the config names (`speakers_file`,
  `d_vector_file`, `language_ids_file`) are taken from the folder, wherever the config says;
- optionally `vc/config.json` and `vc/checkpoint.pth`: an OpenVoice tone-colour converter in its
  release layout (the `converter/` folder of myshell-ai/OpenVoiceV2, MIT). With it the voice
  clones: the VITS line is converted to the reference sample's voice, frame for frame.

Timings come from the model: VITS predicts every input token's duration in frames. Tokens are
IPA symbols when the config uses phonemes, else the cleaned characters (then the "phonemes" are
letters). A blank token's frames belong to the token before it, a stress mark's to the phoneme
after it; a word is the span of the phonemes it was spoken as. The converter keeps every frame
where it was, so the same timings hold for a cloned voice.

Deterministic: VITS and OpenVoice both draw Gaussian noise; each line is synthesised with the
global generators seeded with SEED inside `torch.random.fork_rng` (under a lock), so the same
text, speaker and reference give the same samples on the same device, and callers' random
streams are left as they were.
"""

from __future__ import annotations

import json
import threading
from dataclasses import fields
from difflib import SequenceMatcher
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from domain.speech import PhonemeTiming, Timed, WordTiming
from gpu_consumers.draft.piper_voice import phoneme_groups
from gpu_consumers.draft.voices import Speech, peak_normalise, resample, word_text
from gpu_consumers.final.loading import ModelMissing, release_memory

SEED = 20261126
CHECKPOINTS = ("model.pth", "model_file.pth")
CONVERTER = "vc"
_FILES = ("speakers_file", "d_vector_file", "language_ids_file")
_LOCK = threading.Lock()
T = TypeVar("T", bound=Timed)


def _local(value: Any, directory: Path) -> Any:
    """A file path from a config, pointed at the model folder when the folder has that file."""
    if isinstance(value, list):
        return [_local(item, directory) for item in value]
    if value and (directory / Path(value).name).is_file():
        return str(directory / Path(value).name)
    return value


def _converter(folder: Path, device: str) -> Any:
    """The OpenVoice converter in `folder` (its release config: `data` and `model` sections)."""
    from TTS.vc.configs.openvoice_config import OpenVoiceArgs, OpenVoiceAudioConfig, OpenVoiceConfig
    from TTS.vc.models.openvoice import OpenVoice

    release = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    data, known = release["data"], {f.name for f in fields(OpenVoiceArgs)}
    config = OpenVoiceConfig(
        audio=OpenVoiceAudioConfig(
            input_sample_rate=data["sampling_rate"],
            output_sample_rate=data["sampling_rate"],
            fft_size=data["filter_length"],
            hop_length=data["hop_length"],
            win_length=data["win_length"],
        ),
        model_args=OpenVoiceArgs(
            **{k: v for k, v in release.get("model", {}).items() if k in known}
        ),
    )
    model = OpenVoice(config)  # coqui's own loader ignores the `model` section's sizes
    model.load_checkpoint(config, folder / "checkpoint.pth", eval=True)
    return model.to(device)


class NeuralVoice:
    """A loaded VITS (and converter): speaks lines into 48 kHz Speech with the model's timings."""

    def __init__(self, tts: Any, converter: Any | None, device: str) -> None:
        import torch

        self.tts, self.converter = tts, converter
        self._labels = lru_cache(maxsize=16384)(self._word_labels)  # phonemizing is slow
        cuda = torch.device(device)  # fork_rng saves and restores this device's generator
        if cuda.type != "cuda":
            self._rng: list[int] = []
        else:
            self._rng = [torch.cuda.current_device() if cuda.index is None else cuda.index]

    @classmethod
    def load(cls, directory: Path, device: str) -> NeuralVoice:
        """The model in `directory` on `device` through coqui-tts's loaders; nothing downloaded."""
        from TTS.config import load_config
        from TTS.tts.models import setup_model

        checkpoint = next((directory / n for n in CHECKPOINTS if (directory / n).is_file()), None)
        if checkpoint is None or not (directory / "config.json").is_file():
            raise ModelMissing(f"no coqui-tts model (config.json, model.pth) in {directory}")
        config = load_config(directory / "config.json")
        if config.model.lower() != "vits":
            raise ValueError(f"the voice model must be a coqui-tts VITS, not {config.model!r}")
        for section in (config, config.model_args):
            for key in _FILES:
                if key in section and section[key]:
                    section[key] = _local(section[key], directory)
        model = setup_model(config)
        model.load_checkpoint(config, checkpoint_path=str(checkpoint), eval=True)
        vc = directory / CONVERTER
        converter = _converter(vc, device) if (vc / "checkpoint.pth").is_file() else None
        return cls(model.to(device), converter, device)

    @property
    def speakers(self) -> list[str]:
        """The named speakers of a multi-speaker model (empty for one voice)."""
        manager = self.tts.speaker_manager
        names = sorted(manager.speaker_names) if manager is not None else []
        return names if len(names) > 1 else []

    @property
    def languages(self) -> list[str]:
        """The languages spoken, as codes without region (`en-us` -> `en`)."""
        return sorted({name.split("-")[0] for name in self.tts.language_manager.language_names})

    @property
    def can_clone(self) -> bool:
        return self.converter is not None

    @property
    def sample_rate(self) -> int:
        """The rate the VITS synthesises at (Speech is always resampled to SAMPLE_RATE)."""
        return int(self.tts.config.audio.sample_rate)

    def speak(
        self, text: str, language: str, speaker: str | None = None, reference: Path | None = None
    ) -> Speech:
        """Speak `text` as `speaker` (default: the first), or in the voice of a `reference` WAV.

        ValueError says why when the text has no words, or the model does not speak the
        language, has no such speaker, or cannot clone.
        """
        words = [word for word in (word_text(token) for token in text.split()) if word]
        if not words:
            raise ValueError(f"no words to speak in {text!r}")
        model_language = self._language(language)
        name = self._speaker(speaker)
        if reference is not None and self.converter is None:
            raise ValueError("this voice model cannot clone voices")
        if reference is not None and not reference.is_file():
            raise ValueError(f"the reference voice sample {reference} does not exist")
        try:
            raw, audio, ids, frames = self._synthesise(text, model_language, name, reference)
        finally:
            release_memory()
        rate = self.sample_rate
        out_rate = rate if reference is None else self.converter.config.audio.output_sample_rate
        samples = peak_normalise(resample(audio, out_rate))
        frame = len(raw) / max(sum(frames), 1) / rate
        phonemes, _ = phoneme_groups(self._sounds(ids, frames, frame))
        return _clamped(Speech(samples, self._words(words, phonemes, model_language), phonemes))

    def _synthesise(
        self, text: str, language: str, speaker: str | None, reference: Path | None
    ) -> tuple[np.ndarray, np.ndarray, list[int], list[float]]:
        """The VITS samples, the (converted) audio, the input token ids and their frames."""
        import torch

        with _LOCK, torch.inference_mode(), torch.random.fork_rng(devices=self._rng):
            torch.manual_seed(SEED)
            out = self.tts.synthesize(text, speaker=speaker, language=language)
            raw = np.asarray(out["wav"], dtype=np.float32).reshape(-1)
            audio = raw if reference is None else self._clone(raw, reference)
            ids = out["text_inputs"][0].tolist()
            return raw, audio, ids, out["outputs"]["durations"].reshape(-1).tolist()

    def _language(self, language: str) -> str:
        for name in self.tts.language_manager.language_names:
            if language.lower() in (name.lower(), name.split("-")[0].lower()):
                return name
        raise ValueError(
            f"this voice model does not speak {language!r}; it speaks {', '.join(self.languages)}"
        )

    def _speaker(self, speaker: str | None) -> str | None:
        names = self.speakers
        if speaker is None:
            return names[0] if names else None
        if speaker in names:
            return speaker
        if not names:
            raise ValueError(f"this voice model has one voice, no speaker {speaker!r}")
        listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise ValueError(f"unknown speaker {speaker!r}: the model has {len(names)} ({listed})")

    def _clone(self, raw: np.ndarray, reference: Path) -> np.ndarray:
        """`raw` converted to the voice of the `reference` sample (read at the converter's rate)."""
        import soundfile
        import torch

        vc_rate = int(self.converter.config.audio.input_sample_rate)
        sample, sample_rate = soundfile.read(str(reference), dtype="float32", always_2d=True)
        target = torch.from_numpy(resample(sample.mean(axis=1), sample_rate, vc_rate))
        source = torch.from_numpy(resample(raw, self.sample_rate, vc_rate))
        return np.asarray(self.converter.voice_conversion(source, [target]), np.float32)

    def _sounds(
        self, ids: list[int], frames: list[float], frame: float
    ) -> list[tuple[str, float, float]]:
        """Each input token with its start and end in seconds; a blank's frames extend the
        token before it (a leading blank is silence)."""
        characters = self.tts.tokenizer.characters
        sounds: list[tuple[str, float, float]] = []
        at = 0.0
        for token_id, count in zip(ids, frames, strict=True):
            symbol, end = characters.id_to_char(token_id), at + count * frame
            if symbol != characters.blank:
                sounds.append((symbol, at, end))
            elif sounds:
                sounds[-1] = (sounds[-1][0], sounds[-1][1], end)
            at = end
        return sounds

    def _words(
        self, words: list[str], phonemes: list[PhonemeTiming], language: str
    ) -> list[WordTiming]:
        """Each word of the text spans the phonemes it was spoken as. espeak joins words ("on
        the" -> ɔnðə) and cleaners expand them ("1999" -> three words), so the phonemes of the
        words said alone are matched to the line's; one left unmatched goes with the word
        before it. A word none of whose phonemes were found gets no timing."""
        alone = [self._labels(word, language) for word in words]
        owners = [index for index, labels in enumerate(alone) for _ in labels]
        line = [phoneme.phoneme for phoneme in phonemes]
        owner: list[int | None] = [None] * len(line)
        matcher = SequenceMatcher(
            None, [label for labels in alone for label in labels], line, False
        )
        for a, b, size in matcher.get_matching_blocks():
            owner[b : b + size] = owners[a : a + size]
        spans: dict[int, list[PhonemeTiming]] = {}
        current = next((index for index in owner if index is not None), 0)
        for phoneme, index in zip(phonemes, owner, strict=True):
            current = current if index is None else index
            spans.setdefault(current, []).append(phoneme)
        return [
            WordTiming(start=spans[i][0].start, end=spans[i][-1].end, text=word)
            for i, word in enumerate(words)
            if i in spans
        ]

    def _word_labels(self, word: str, language: str) -> tuple[str, ...]:
        """The phonemes of a word said alone."""
        ids = self.tts.tokenizer.text_to_ids(word, language=language)
        phonemes, _ = phoneme_groups(self._sounds(ids, [0.0] * len(ids), 0.0))
        return tuple(phoneme.phoneme for phoneme in phonemes)


def _clamped(speech: Speech) -> Speech:
    """Timings cut to the audio (conversion may drop the last few milliseconds)."""
    end = speech.duration

    def cut(timing: T) -> T:
        return timing.model_copy(
            update={"start": min(timing.start, end), "end": min(timing.end, end)}
        )

    return Speech(speech.samples, [cut(w) for w in speech.words], [cut(p) for p in speech.phonemes])
