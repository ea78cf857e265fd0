"""Procedural music (numpy only): a score per mood, and slokas chanted over a tanpura drone.

`compose` is deterministic for (mood, duration, seed): a pad plays the mood's chord
progression (one chord a bar), a melody walks the mood's scale, soft percussion keeps time
where the mood has it, with a fade in and out. `chant` speaks each lyric with espeak-ng (slow,
lower, nearly monotone; Sanskrit through the Hindi voice) over a Sa-Pa tanpura drone tuned to
the voice's own pitch. Everything is 48 kHz stereo, peak-normalised below full scale.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from domain.speech import PhonemeTiming, WordTiming
from domain.storyboard import Mood
from domain.voices import ESPEAK_VOICE
from gpu_consumers.draft.voices import SAMPLE_RATE, write_wav

PEAK = 10 ** (-3 / 20)  # -3 dBFS, headroom for the mix
MAJOR, MINOR = (0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10)
HARMONIC_MINOR, PHRYGIAN, BHAIRAV = (
    (0, 2, 3, 5, 7, 8, 11),
    (0, 1, 3, 5, 7, 8, 10),
    (0, 1, 4, 5, 7, 8, 11),
)


@dataclass(frozen=True)
class Style:
    root: int  # MIDI note of the tonic, pad octave
    scale: tuple[int, ...]
    progression: tuple[int, ...]  # scale degrees, one chord a bar
    bpm: float
    drums: str  # "", "soft", "pulse" or "march"
    notes_per_beat: int
    brightness: float  # the pad's harmonic roll-off, 0..1


STYLES: dict[str, Style] = {
    "calm": Style(50, MAJOR, (0, 5, 3, 4), 68, "", 1, 0.55),
    "joyful": Style(55, MAJOR, (0, 4, 5, 3), 112, "soft", 2, 0.8),
    "tense": Style(45, HARMONIC_MINOR, (0, 0, 5, 4), 96, "pulse", 1, 0.75),
    "sad": Style(50, MINOR, (0, 3, 5, 4), 58, "", 1, 0.4),
    "devotional": Style(49, BHAIRAV, (0, 3, 0, 4), 64, "", 1, 0.65),
    "mysterious": Style(47, PHRYGIAN, (0, 1, 0, 6), 72, "", 1, 0.5),
    "triumphant": Style(48, MAJOR, (0, 3, 4, 0), 120, "march", 2, 0.9),
}


def _hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _table(harmonics: Sequence[float], size: int = 4096) -> np.ndarray:
    phase = np.arange(size) * 2 * np.pi / size
    return sum(a * np.sin((k + 1) * phase) for k, a in enumerate(harmonics))


def _play(table: np.ndarray, hz: float, count: int, phase: float = 0.0) -> np.ndarray:
    index = (phase + hz * np.arange(count) / SAMPLE_RATE) % 1.0 * len(table)
    return table[index.astype(np.int64)]


def _fade(audio: np.ndarray, fade_in: float, fade_out: float) -> np.ndarray:
    n = len(audio)
    envelope = np.ones(n)
    a, b = min(n, int(fade_in * SAMPLE_RATE)), min(n, int(fade_out * SAMPLE_RATE))
    envelope[:a] = np.sin(np.linspace(0, np.pi / 2, a)) ** 2
    envelope[n - b :] *= np.cos(np.linspace(0, np.pi / 2, b)) ** 2
    return audio * envelope[:, None]


def _normalise(audio: np.ndarray, peak: float = PEAK) -> np.ndarray:
    top = float(np.max(np.abs(audio))) if audio.size else 0.0
    return (audio * (peak / top) if top > 1e-9 else audio).astype(np.float32)


def _rng(*keys: int | str) -> np.random.Generator:
    return np.random.default_rng([zlib.crc32(str(k).encode()) for k in keys])


def compose(mood: Mood, duration: float, seed: int = 0) -> np.ndarray:
    """`duration` seconds of music for a mood: (samples, 2) float32 at 48 kHz."""
    if mood not in STYLES:
        raise ValueError(f"no music style for mood {mood!r}; moods: {', '.join(STYLES)}")
    if duration <= 0:
        raise ValueError("a score lasts more than 0 seconds")
    style, rng, n = STYLES[mood], _rng(mood, seed), round(duration * SAMPLE_RATE)
    out = np.zeros((n, 2))
    beat = 60 / style.bpm
    bar = 4 * beat
    pad = _table([style.brightness**k / (k + 1) for k in range(8)])
    lead = _table([1.0, 0.25, 0.08])
    scale = [style.root + 12 * (i // 7) + style.scale[i % 7] for i in range(28)]
    degree = 14  # the melody starts on the tonic an octave above the pad
    for number, start in enumerate(np.arange(0, duration, bar)):
        chord_degree = style.progression[number % len(style.progression)]
        notes = [scale[chord_degree + 7 + k] for k in (0, 2, 4)] + [scale[chord_degree]]
        at, length = int(start * SAMPLE_RATE), int((bar + 0.6 * bar) * SAMPLE_RATE)
        seg = min(length, n - at)
        envelope = np.minimum(1, np.arange(seg) / (0.4 * bar * SAMPLE_RATE))
        envelope *= np.clip((length - np.arange(seg)) / (0.6 * bar * SAMPLE_RATE), 0, 1)
        for channel, cents in ((0, -4), (1, 4)):
            tone = sum(_play(pad, _hz(m + cents / 100), seg, rng.random()) for m in notes)
            out[at : at + seg, channel] += 0.12 * envelope * tone
        steps = 4 * style.notes_per_beat
        for step in range(steps):
            if rng.random() < 0.25 or not style.notes_per_beat:
                continue  # a rest
            degree = int(np.clip(degree + rng.choice([-2, -1, 0, 1, 2]), 9, 23))
            if step == 0:  # the downbeat lands on a chord tone
                degree = min((chord_degree + 7 * o + k for o in (1, 2, 3) for k in (0, 2, 4)),
                             key=lambda d: abs(d - degree))  # fmt: skip
            note_at = at + int(step * bar / steps * SAMPLE_RATE)
            count = min(int(1.5 * bar / steps * SAMPLE_RATE), n - note_at)
            if count <= 0:
                continue
            t = np.arange(count) / SAMPLE_RATE
            shape = np.minimum(1, t / 0.015) * np.exp(-t / (0.5 * bar / steps))
            voice = 0.22 * shape * _play(lead, _hz(scale[degree]), count)
            out[note_at : note_at + count] += voice[:, None] * np.array([0.8, 1.0])
    out += _drums(style, duration, rng)[:n]
    echo = int(0.23 * SAMPLE_RATE)
    out[echo:] += 0.2 * out[:-echo, ::-1]  # a cross-channel echo for space
    return _normalise(_fade(out, min(2.0, duration / 4), min(3.0, duration / 3)))


def _drums(style: Style, duration: float, rng: np.random.Generator) -> np.ndarray:
    n = round(duration * SAMPLE_RATE)
    out = np.zeros((n + SAMPLE_RATE, 2))
    if not style.drums:
        return out
    t = np.arange(int(0.35 * SAMPLE_RATE)) / SAMPLE_RATE
    kick = np.sin(2 * np.pi * np.cumsum(45 + 75 * np.exp(-t / 0.04)) / SAMPLE_RATE)
    kick *= np.exp(-t / 0.12)
    noise = rng.standard_normal(len(t))
    hat = np.diff(noise, prepend=0) * np.exp(-t / 0.025) * 0.5
    snare = np.convolve(noise, np.ones(4) / 4, "same") + 0.6 * np.sin(2 * np.pi * 185 * t)
    snare *= np.exp(-t / 0.09)
    beat = 60 / style.bpm
    hits = {
        "soft": [(0, kick, 0.35), (2, kick, 0.3)] + [(h / 2, hat, 0.08) for h in range(8)],
        "pulse": [(b, kick, 0.4) for b in range(4)] + [(b + 0.3, kick, 0.22) for b in range(4)],
        "march": [(0, kick, 0.45), (2, kick, 0.4), (1, snare, 0.3), (3, snare, 0.3)]
        + [(h / 2, hat, 0.1) for h in range(8)],
    }[style.drums]
    for bar_start in np.arange(0, duration, 4 * beat):
        for offset, sound, gain in hits:
            at = int((bar_start + offset * beat) * SAMPLE_RATE)
            if at < n:
                velocity = gain * (0.85 + 0.3 * rng.random())
                pan = np.array([1.0, 0.8]) if sound is hat else np.array([1.0, 1.0])
                out[at : at + len(sound)] += velocity * sound[:, None] * pan
    return out


def score(mood: Mood, duration: float, out_path: Path, seed: int = 0) -> Path:
    """Write `compose(mood, duration, seed)` as a 48 kHz stereo WAV."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(out_path, compose(mood, duration, seed))


class HasText(Protocol):
    @property
    def text(self) -> str: ...


@dataclass(frozen=True)
class Chant:
    audio: Path
    duration: float
    words: list[WordTiming]  # seconds from the start of `audio`
    lines: list[tuple[float, float]]  # each lyric's start and end
    phonemes: list[PhonemeTiming]  # IPA, for a chanting face's lip sync


def chant(
    lines: Sequence[HasText | str],
    language: str,
    out_path: Path,
    duration: float | None = None,
    seed: int = 0,
) -> Chant:
    """Chant the lyrics over a tanpura drone, one after another after a drone-only lead-in.

    The piece lasts `duration` seconds, or longer when the lyrics need it (a sloka is never
    cut); it writes a 48 kHz stereo WAV and returns the word timings for subtitles."""
    from gpu_consumers.draft import espeak

    texts = [line if isinstance(line, str) else line.text for line in lines]
    if not any(text.strip() for text in texts):
        raise ValueError("nothing to chant")
    voice = ESPEAK_VOICE.get(language, language)
    spoken = [
        espeak.synthesise(text, voice, pitch=-2.0, pace=0.7, pitch_range=8)
        for text in texts
        if text.strip()
    ]
    lead, gap, tail = 2.0, 1.2, 2.5
    needed = lead + sum(s.duration for s in spoken) + gap * (len(spoken) - 1) + tail
    total = max(duration or 0.0, needed)
    n = round(total * SAMPLE_RATE)
    vocal = np.zeros(n)
    words: list[WordTiming] = []
    phonemes: list[PhonemeTiming] = []
    spans: list[tuple[float, float]] = []
    at = lead
    for speech in spoken:
        start = round(at * SAMPLE_RATE)
        vocal[start : start + len(speech.samples)] += speech.samples
        words += [WordTiming(start=w.start + at, end=w.end + at, text=w.text) for w in speech.words]
        phonemes += [
            p.model_copy(update={"start": p.start + at, "end": p.end + at}) for p in speech.phonemes
        ]
        spans.append((at, at + speech.duration))
        at += speech.duration + gap
    for delay, gain in ((0.11, 0.3), (0.23, 0.18), (0.37, 0.1)):  # a stone courtyard's echo
        d = int(delay * SAMPLE_RATE)
        vocal[d:] += gain * vocal[:-d].copy()
    sa = _median_f0(np.concatenate([s.samples for s in spoken])) or 98.0
    drone = _tanpura(sa, n, _rng("chant", seed))
    mix = 0.3 * drone / np.max(np.abs(drone)) + 0.6 * (vocal / np.max(np.abs(vocal)))[:, None]
    audio = _normalise(_fade(mix, 1.5, 2.0), peak=min(PEAK, float(np.max(np.abs(mix)))))
    out_path.parent.mkdir(parents=True, exist_ok=True)
    return Chant(write_wav(out_path, audio), n / SAMPLE_RATE, words, spans, phonemes)


def _tanpura(sa: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """A four-string tanpura cycle (Pa, Sa, Sa, low Sa), each pluck ringing about 4 s with the
    jawari's buzz sweeping down its harmonics; plucks overlap, so the drone never stops."""
    t = np.arange(int(4.5 * SAMPLE_RATE)) / SAMPLE_RATE
    centre = 3 + 14 * np.exp(-t / 1.2)

    def pluck(hz: float) -> np.ndarray:
        tone = np.zeros(len(t))
        for k in range(1, int(min(30, 8000 / hz)) + 1):
            buzz = 0.25 + np.exp(-(((k - centre) / 4) ** 2))
            tone += buzz * np.exp(-t * (0.5 + 0.05 * k)) * np.sin(2 * np.pi * k * hz * t) / k**0.7
        return tone * np.minimum(1, t / 0.01) * np.minimum(1, (t[-1] - t) / 1.0)

    strings = [(pluck(1.5 * sa), (0.9, 0.7)), (pluck(2 * sa), (0.8, 1.0)),
               (pluck(2 * sa), (1.0, 0.8)), (pluck(sa), (1.0, 1.0))]  # fmt: skip
    out = np.zeros((n + len(t), 2))
    for start in np.arange(0, n / SAMPLE_RATE, 4.4):
        for index, (tone, pan) in enumerate(strings):
            at = int((start + index * 1.1) * SAMPLE_RATE)
            if 0 <= at < n:
                gain = 0.9 + 0.2 * rng.random()
                out[at : at + len(t)] += gain * tone[:, None] * np.array(pan)
    return out[:n]


def _median_f0(samples: np.ndarray) -> float | None:
    """The median pitch (Hz) of the voiced 40 ms frames, by autocorrelation."""
    x = samples[::4]  # 12 kHz is plenty for a voice's fundamental
    rate, frame = SAMPLE_RATE / 4, int(0.04 * SAMPLE_RATE / 4)
    floor = 0.1 * float(np.max(np.abs(x))) if len(x) else 0.0
    pitches = []
    for start in range(0, len(x) - frame, frame // 2):
        w = x[start : start + frame] - np.mean(x[start : start + frame])
        if np.sqrt(np.mean(w**2)) < floor:
            continue
        ac = np.fft.irfft(np.abs(np.fft.rfft(w, 2 * frame)) ** 2)[:frame]
        lo, hi = int(rate / 400), int(rate / 60)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.5 * ac[0]:
            pitches.append(rate / lag)
    return float(np.median(pitches)) if pitches else None
