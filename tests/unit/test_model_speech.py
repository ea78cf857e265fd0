"""The model backend of voice synthesis, run for real on tiny random coqui-tts models: a VITS
whose own durations give the timings, and an OpenVoice converter that clones reference voices."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from adapters.settings import Settings
from gpu_consumers.draft.voices import SAMPLE_RATE, Speech, word_text
from gpu_consumers.final.loading import FAMILIES, ModelMissing, model_directory
from gpu_consumers.final.speech import NeuralVoice
from tests.tinymodels.tts import build_tiny_tts

LINE = "Hello, world. The lamp is on the table by the door!"
SPEAKERS = ["ada", "bob", "cy"]


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def cloning_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_tts(tmp_path_factory.mktemp("tts"), speakers=SPEAKERS)


@pytest.fixture(scope="module")
def voice(offline: None, cloning_dir: Path) -> NeuralVoice:
    return NeuralVoice.load(cloning_dir, "cpu")


@pytest.fixture(scope="module")
def hindi(offline: None, tmp_path_factory: pytest.TempPathFactory) -> NeuralVoice:
    directory = build_tiny_tts(tmp_path_factory.mktemp("hi"), clone=False, language="hi")
    return NeuralVoice.load(directory, "cpu")


@pytest.fixture(scope="module")
def references(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two voiced samples: a low buzz with slow vibrato and a brighter, higher one."""
    import soundfile

    folder, rate = tmp_path_factory.mktemp("refs"), 16_000
    t = np.arange(2 * rate) / rate
    low = np.sign(np.sin(2 * np.pi * 110 * t + 2 * np.sin(2 * np.pi * 5 * t))) * 0.3
    high = sum(np.sin(2 * np.pi * 240 * k * t) / k for k in (1, 2, 3, 5)) * 0.2
    paths = folder / "low.wav", folder / "high.wav"
    for path, signal in zip(paths, (low, high), strict=True):
        soundfile.write(path, (signal * (0.6 + 0.4 * np.sin(2 * np.pi * 3 * t))).astype("f4"), rate)
    return paths


def words_of(text: str) -> list[str]:
    return [w for w in (word_text(token) for token in text.split()) if w]


def assert_timed(speech: Speech, text: str) -> None:
    """One timing per word of the text, in order, not overlapping, inside the audio; phonemes
    likewise, each inside its word's span or between words."""
    assert speech.samples.dtype == np.float32 and speech.samples.ndim == 1
    assert 0.5 < float(np.abs(speech.samples).max()) <= 1.0
    assert [w.text for w in speech.words] == words_of(text)
    for timings in (speech.words, speech.phonemes):
        assert all(0 <= t.start < t.end <= speech.duration for t in timings)
        assert all(a.end <= b.start for a, b in zip(timings, timings[1:], strict=False))
    starts = {w.start for w in speech.words}
    assert starts <= {p.start for p in speech.phonemes}


def test_a_line_is_spoken_at_48khz_with_the_models_own_timings(voice: NeuralVoice):
    assert voice.speakers == SPEAKERS and voice.languages == ["en"] and voice.can_clone
    assert voice.sample_rate == 22_050
    speech = voice.speak(LINE, "en")
    assert_timed(speech, LINE)
    assert 0.15 < speech.duration / len(words_of(LINE)) < 1.0  # seconds a word: like speech
    assert len(speech.samples) == round(speech.duration * SAMPLE_RATE)
    phonemes = "".join(p.phoneme for p in speech.phonemes)
    assert "ð" in phonemes and "æ" in phonemes  # IPA from espeak: "the", "lamp"
    gaps = [b.start - a.end for a, b in zip(speech.words, speech.words[1:], strict=False)]
    assert max(gaps) > 0.05  # the pauses at "," and "." are in the timings


def test_joined_and_expanded_words_keep_one_timing_each(voice: NeuralVoice):
    text = "It's 1999, and I go to the house of the king."  # espeak joins "ofthe"
    speech = voice.speak(text, "en")
    assert_timed(speech, text)
    year = speech.words[1]
    assert year.text == "1999" and year.end - year.start > 3 * (
        speech.words[2].end - speech.words[2].start
    )  # "nineteen ninety-nine" takes longer than "and"


def test_the_same_line_gives_the_same_samples_and_leaves_random_streams_alone(
    voice: NeuralVoice,
):
    torch.manual_seed(7)
    before = torch.random.get_rng_state()
    first, second = voice.speak(LINE, "en"), voice.speak(LINE, "en")
    assert torch.equal(before, torch.random.get_rng_state())
    assert np.array_equal(first.samples, second.samples)
    assert first.words == second.words and first.phonemes == second.phonemes


def test_speakers_are_picked_by_name(voice: NeuralVoice):
    default, ada, bob = (voice.speak("Hello there", "en", speaker=s) for s in (None, "ada", "bob"))
    assert np.array_equal(default.samples, ada.samples)
    assert not np.allclose(ada.samples[: len(bob.samples)], bob.samples[: len(ada.samples)])
    with pytest.raises(ValueError, match=r"unknown speaker 'zed'.* 3 \(ada, bob, cy\)"):
        voice.speak("Hello", "en", speaker="zed")


def test_a_reference_sample_clones_its_voice(voice: NeuralVoice, references: tuple[Path, Path]):
    low, high = references
    plain = voice.speak(LINE, "en")
    a, b, again = (voice.speak(LINE, "en", reference=r) for r in (low, high, low))
    assert np.array_equal(a.samples, again.samples)
    assert abs(a.duration - plain.duration) < 0.05 and len(a.samples) == len(b.samples)
    assert np.abs(a.samples - b.samples).mean() > 1e-4  # another voice, another sound
    assert np.abs(a.samples - plain.samples[: len(a.samples)]).mean() > 1e-3
    assert_timed(a, LINE)
    assert [w.text for w in a.words] == [w.text for w in plain.words]
    with pytest.raises(ValueError, match="does not exist"):
        voice.speak(LINE, "en", reference=low.with_name("missing.wav"))


def test_a_model_without_a_converter_refuses_references(
    hindi: NeuralVoice, references: tuple[Path, Path]
):
    assert not hindi.can_clone and hindi.speakers == [] and hindi.languages == ["hi"]
    with pytest.raises(ValueError, match="this voice model cannot clone voices"):
        hindi.speak("नमस्ते दुनिया", "hi", reference=references[0])


def test_other_languages_speak_through_espeak_phonemes(hindi: NeuralVoice):
    text = "नमस्ते दुनिया, आज सुबह है।"
    speech = hindi.speak(text, "hi")
    assert_timed(speech, text)


def test_unknown_speakers_and_languages_are_clear_errors(voice: NeuralVoice, hindi: NeuralVoice):
    with pytest.raises(ValueError, match="does not speak 'fr'; it speaks en"):
        voice.speak("Bonjour", "fr")
    with pytest.raises(ValueError, match="has one voice, no speaker 'ada'"):
        hindi.speak("नमस्ते", "hi", speaker="ada")
    with pytest.raises(ValueError, match="no words"):
        voice.speak(" ... ", "en")


def test_a_missing_model_is_model_missing(offline: None, tmp_path: Path, cloning_dir: Path):
    settings = Settings(models_dir=tmp_path)
    family = FAMILIES["voice_synthesis"]
    with pytest.raises(ModelMissing, match="not installed"):
        model_directory(settings, family)
    shutil.copytree(cloning_dir, tmp_path / family)
    directory, card = model_directory(settings, family)
    assert card.licence == "mit"
    assert NeuralVoice.load(directory, "cpu").languages == ["en"]
    assert NeuralVoice.load(directory, "cpu").speakers == SPEAKERS  # files found where it lies
    (directory / "model.pth").unlink()
    with pytest.raises(ModelMissing, match="model.pth"):
        NeuralVoice.load(directory, "cpu")
