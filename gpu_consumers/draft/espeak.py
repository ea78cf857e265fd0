"""espeak-ng through ctypes on libespeak-ng.so.1 (Debian `libespeak-ng1`), with timings.

espeak reports WORD events (a text position and length) and, with phoneme events turned on in
IPA, PHONEME events, each with its `audio_position` in ms. A word's text is the whitespace token
of the input that its text position falls in, stripped of punctuation; a phoneme lasts until the
next phoneme (or pause) starts; a word ends where its last phoneme ends.

Thread and process safety: libespeak-ng keeps one global state per process (the voice, the
parameters, the callback). Every call to `synthesise` holds `_LOCK` for the whole synthesis, so
threads take turns; separate processes each load their own copy and run in parallel. The
library is initialised once, lazily, in synchronous mode (no thread of its own), so a process
may fork after using it.
"""

from __future__ import annotations

import bisect
import ctypes
import re
import threading
from dataclasses import dataclass

import numpy as np

from domain.speech import PhonemeTiming, WordTiming
from gpu_consumers.draft.voices import (
    Speech,
    peak_normalise,
    resample,
    word_text,
)

_SYNCHRONOUS, _CHARACTER = 2, 1
_PHONEME_EVENTS, _PHONEME_IPA, _DONT_EXIT = 0x0001, 0x0002, 0x8000
_CHARS_UTF8, _END_PAUSE = 0x0001, 0x1000
_WORD, _PHONEME, _LIST_END = 1, 7, 0
_RATE, _PITCH, _RANGE = 1, 3, 4
DEFAULT_RATE = 175  # words per minute, espeak's own default


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),  # a union; for PHONEME events the phoneme's name
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass
class _Engine:
    lib: ctypes.CDLL
    rate: int
    callback: object  # keeps the ctypes callback alive
    chunks: list[np.ndarray]
    events: list[tuple[int, int, int, str]]  # type, text position, audio ms, phoneme


_LOCK = threading.Lock()
_engine: _Engine | None = None


def _load() -> _Engine:
    global _engine
    if _engine is None:
        try:
            lib = ctypes.CDLL("libespeak-ng.so.1")
        except OSError as error:
            raise RuntimeError(
                "espeak-ng is missing: install the Debian package espeak-ng"
            ) from error
        rate = lib.espeak_Initialize(
            _SYNCHRONOUS, 0, None, _PHONEME_EVENTS | _PHONEME_IPA | _DONT_EXIT
        )
        if rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int]
        lib.espeak_Synth.argtypes += [
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        engine = _Engine(lib, rate, None, [], [])

        def collect(wav: ctypes._Pointer, count: int, events: ctypes._Pointer) -> int:
            if wav and count > 0:
                engine.chunks.append(np.ctypeslib.as_array(wav, (count,)).copy())
            i = 0
            while events[i].type != _LIST_END:
                e = events[i]
                name = e.id.decode("utf-8", "ignore") if e.type == _PHONEME else ""
                engine.events.append((e.type, e.text_position, e.audio_position, name))
                i += 1
            return 0

        engine.callback = _CALLBACK(collect)
        lib.espeak_SetSynthCallback(engine.callback)
        _engine = engine
    return _engine


def has_voice(name: str) -> bool:
    with _LOCK:
        return _load().lib.espeak_SetVoiceByName(name.encode()) == 0


def synthesise(
    text: str,
    voice: str,
    *,
    pitch: float = 0.0,
    pace: float = 1.0,
    timbre: str = "",
    pitch_range: int = 50,
) -> Speech:
    """Speak `text` in espeak voice `voice` (e.g. `hi`), `pitch` semitones up or down, `pace`
    times espeak's default rate, with a timbre variant (`f3`, `m3`, ...) and an intonation range
    (0 = monotone, 50 = espeak's default). ValueError if espeak has no such voice."""
    with _LOCK:
        engine = _load()
        name = f"{voice}+{timbre}" if timbre else voice
        if engine.lib.espeak_SetVoiceByName(name.encode()) != 0:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        # about 5.5 pitch units per semitone, measured around the default of 50
        engine.lib.espeak_SetParameter(_PITCH, int(np.clip(50 + 5.5 * pitch, 0, 100)), 0)
        engine.lib.espeak_SetParameter(_RATE, int(np.clip(DEFAULT_RATE * pace, 80, 450)), 0)
        engine.lib.espeak_SetParameter(_RANGE, int(np.clip(pitch_range, 0, 100)), 0)
        engine.chunks, engine.events = [], []
        data = text.encode("utf-8")
        flags = _CHARS_UTF8 | _END_PAUSE
        if engine.lib.espeak_Synth(data, len(data) + 1, 0, _CHARACTER, 0, flags, None, None):
            raise RuntimeError(f"espeak-ng could not synthesise {text!r}")
        engine.lib.espeak_Synchronize()
        chunks, events, rate = engine.chunks, engine.events, engine.rate
    raw = np.concatenate(chunks).astype(np.float32) / 32768 if chunks else np.zeros(1, np.float32)
    samples = peak_normalise(resample(raw, rate))
    words, phonemes = _timings(text, events, len(raw) / rate)
    return Speech(samples, words, phonemes)


def _timings(
    text: str, events: list[tuple[int, int, int, str]], duration: float
) -> tuple[list[WordTiming], list[PhonemeTiming]]:
    tokens = [(m.start(), m.group()) for m in re.finditer(r"\S+", text)]
    starts = [start for start, _ in tokens]
    sounds = [(ms / 1000, name) for kind, _, ms, name in events if kind == _PHONEME]
    ends = [start for start, _ in sounds[1:]] + [duration]
    phonemes: list[PhonemeTiming] = []
    spans: dict[int, list[float]] = {}  # token index -> [start, end, phonemes seen]
    token, sound = -1, 0
    for kind, position, ms, _ in events:
        if kind == _PHONEME:
            start, name = sounds[sound]
            end = max(start, min(ends[sound], duration))
            sound += 1
            if name.strip():
                phonemes.append(PhonemeTiming(start=min(start, end), end=end, phoneme=name))
                if token in spans:
                    span = spans[token]
                    span[0] = span[0] if span[2] else min(start, end)
                    span[1], span[2] = end, 1
        elif kind == _WORD:
            token, last = _token_at(starts, tokens, position - 1), max(spans, default=-1)
            if token > last:
                spans[token] = [ms / 1000, ms / 1000, 0]
            elif token < last:
                token = -1  # out of order, or a clause boundary: its phonemes join no word
    words = []
    for index, (start, end, _) in sorted(spans.items()):
        word = word_text(tokens[index][1])
        if word:
            start = min(start, duration)
            words.append(WordTiming(start=start, end=max(start, min(end, duration)), text=word))
    return words, phonemes


def _token_at(starts: list[int], tokens: list[tuple[int, str]], offset: int) -> int:
    index = bisect.bisect_right(starts, offset) - 1
    if index < 0 or offset >= starts[index] + len(tokens[index][1]):
        return -1  # whitespace: espeak reports a clause boundary as an empty word
    return index
