"""SRT and WebVTT subtitles from word timings placed on the film timeline.

Rules: at most 42 characters a line and 2 lines a cue; a cue starts at its first word's start and
ends at its last word's end (so within 100 ms of its speech; times are rounded to whole ms); cues
never overlap (when two lines' speech overlaps, the earlier cue ends where the later starts); a
cue never spans two spoken lines. Cue boundaries are chosen by dynamic programming: few cues,
breaks after sentence punctuation, then clause punctuation, then long pauses; lines in a cue are
balanced, preferring a break after punctuation.

Length is counted in user-perceived characters without any dependency: code points, minus
combining marks (Unicode Mn/Mc/Me), joiners and variation selectors, with East Asian wide
characters counted twice. For Devanagari this is the count of base letters (the legacy extended
grapheme count: "नमस्ते" is 4), which tracks display width better than code points (6).
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from domain.speech import SpokenLine

MAX_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 7.0
SENTENCE_END = tuple(".?!।॥…。？！")
CLAUSE_END = tuple(",;:—–،、，")


@dataclass(frozen=True)
class Word:
    start_ms: int
    end_ms: int
    text: str


@dataclass(frozen=True)
class Cue:
    start_ms: int
    end_ms: int
    lines: tuple[str, ...]


def display_length(text: str) -> int:
    n = 0
    for c in text:
        if unicodedata.category(c) in ("Mn", "Mc", "Me", "Cf") or 0xFE00 <= ord(c) <= 0xFE0F:
            continue
        n += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return n


def _tokens(spoken: SpokenLine) -> list[str]:
    """Word texts as written in the line (punctuation and case kept) where they can be found."""
    text, pos, out = spoken.text, 0, []
    low = text.lower()
    for w in spoken.words:
        i = low.find(w.text.lower(), pos) if w.text.strip() else -1
        if i < 0:
            out.append(w.text.strip())
            continue
        start = i
        while start > pos and not text[start - 1].isspace():
            start -= 1
        end = i + len(w.text)
        while end < len(text) and not text[end].isspace():
            end += 1
        out.append(text[start:end])
        pos = end
    return out


def _split_long(word: Word) -> list[Word]:
    if display_length(word.text) <= MAX_CHARS:
        return [word]
    parts, cur = [], ""
    for c in word.text:
        if display_length(cur + c) > MAX_CHARS:
            parts.append(cur)
            cur = ""
        cur += c
    parts.append(cur)
    return [Word(word.start_ms, word.end_ms, p) for p in parts]


def _words(offset: float, spoken: SpokenLine) -> list[Word]:
    out: list[Word] = []
    for w, text in zip(spoken.words, _tokens(spoken), strict=True):
        if text:
            start = round((offset + w.start) * 1000)
            out += _split_long(Word(start, max(start + 1, round((offset + w.end) * 1000)), text))
    return out


def _break_lines(words: Sequence[str]) -> tuple[str, ...] | None:
    """The best 1- or 2-line layout of the words, or None if they do not fit."""
    one = " ".join(words)
    if display_length(one) <= MAX_CHARS:
        return (one,)
    best: tuple[float, tuple[str, ...]] | None = None
    for k in range(1, len(words)):
        a, b = " ".join(words[:k]), " ".join(words[k:])
        la, lb = display_length(a), display_length(b)
        if la > MAX_CHARS or lb > MAX_CHARS:
            continue
        cost = abs(la - lb) - (12 if a.endswith(SENTENCE_END + CLAUSE_END) else 0)
        if best is None or cost < best[0]:
            best = (cost, (a, b))
    return best[1] if best else None


def _cue_cost(words: Sequence[Word], last: bool) -> float:
    cost = 10.0
    end = words[-1].text
    if not last:
        cost += 0 if end.endswith(SENTENCE_END) else 5 if end.endswith(CLAUSE_END) else 25
    dur = (words[-1].end_ms - words[0].start_ms) / 1000
    cost += 8 * max(0.0, 1.0 - dur)  # very short cues are hard to read
    for a, b in zip(words, words[1:], strict=False):
        if b.start_ms - a.end_ms > 600:  # a long pause inside a cue
            cost += 15
    return cost


def _segment(words: list[Word]) -> list[Cue]:
    n = len(words)
    best: list[tuple[float, int]] = [(0.0, 0)] + [(float("inf"), 0)] * n
    layouts: dict[tuple[int, int], tuple[str, ...]] = {}
    for j in range(1, n + 1):
        for i in range(j - 1, -1, -1):
            chunk = words[i:j]
            lines = _break_lines([w.text for w in chunk])
            if lines is None:
                break
            too_long = chunk[-1].end_ms - chunk[0].start_ms > MAX_CUE_SECONDS * 1000
            if too_long and j - i > 1:
                break
            layouts[(i, j)] = lines
            cost = best[i][0] + _cue_cost(chunk, j == n)
            if cost < best[j][0]:
                best[j] = (cost, i)
    cues, j = [], n
    while j > 0:
        i = best[j][1]
        cues.append(Cue(words[i].start_ms, words[j - 1].end_ms, layouts[(i, j)]))
        j = i
    return cues[::-1]


def build_cues(placed: Sequence[tuple[float, SpokenLine]]) -> list[Cue]:
    """Cues for every (start offset on the film timeline in seconds, spoken line)."""
    cues: list[Cue] = []
    for offset, spoken in placed:
        words = _words(offset, spoken)
        if words:
            cues += _segment(words)
    cues.sort(key=lambda c: (c.start_ms, c.end_ms))
    out: list[Cue] = []
    for cue in cues:
        if out and out[-1].end_ms > cue.start_ms:
            prev = out[-1]
            if prev.start_ms >= cue.start_ms:  # same start: the later one waits a millisecond
                cue = Cue(prev.start_ms + 1, max(cue.end_ms, prev.start_ms + 2), cue.lines)
            out[-1] = Cue(prev.start_ms, cue.start_ms, prev.lines)
        out.append(cue)
    return out


def _ts(ms: int, sep: str) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(cues: Sequence[Cue]) -> str:
    blocks = [
        f"{i}\n{_ts(c.start_ms, ',')} --> {_ts(c.end_ms, ',')}\n"
        + "\n".join(line.replace("{", "(").replace("}", ")") for line in c.lines)
        for i, c in enumerate(cues, 1)
    ]
    return "\n\n".join(blocks) + "\n"


def to_vtt(cues: Sequence[Cue]) -> str:
    def esc(line: str) -> str:
        return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    blocks = [
        f"{_ts(c.start_ms, '.')} --> {_ts(c.end_ms, '.')}\n" + "\n".join(map(esc, c.lines))
        for c in cues
    ]
    return "WEBVTT\n\n" + "\n\n".join(blocks) + "\n"


def retext(cues: Sequence[Cue], texts: Sequence[str]) -> list[Cue]:
    """The cues with new texts (a translation), timings kept, each broken into subtitle lines."""
    out = []
    for cue, text in zip(cues, texts, strict=True):
        words = text.split()
        lines = _break_lines(words) or tuple(textwrap.wrap(text, MAX_CHARS)) or ("",)
        out.append(Cue(cue.start_ms, cue.end_ms, lines))
    return out


def write_cues(cues: Sequence[Cue], srt: Path, vtt: Path) -> None:
    srt.write_text(to_srt(cues), encoding="utf-8")
    vtt.write_text(to_vtt(cues), encoding="utf-8")


def write_subtitles(placed: Sequence[tuple[float, SpokenLine]], srt: Path, vtt: Path) -> list[Cue]:
    cues = build_cues(placed)
    write_cues(cues, srt, vtt)
    return cues
