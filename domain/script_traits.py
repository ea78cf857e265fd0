"""What a scene heading and a scene's words say: place, interior, time of day, mood, duration.

Keyword tables are small and explicit; English keywords match whole words or, ending in `*`, word
prefixes; Devanagari keywords match as substrings (its vowel signs are not word characters).
"""

from __future__ import annotations

import re
from typing import get_args

from domain.estimate import ACTION_WORDS_PER_SECOND, SPOKEN_WORDS_PER_SECOND
from domain.storyboard import LineKind, Mood, TimeOfDay

CHANTED_WORDS_PER_SECOND = 1.25  # lyrics, songs and slokas are sung or chanted slowly
MIN_LINE_SECONDS = 1.0
MIN_SHOT_SECONDS = 2.0
DEVANAGARI_LANGUAGES = {"hi", "sa", "mr", "ne", "kok", "mai", "bho"}

_PREFIX = re.compile(
    r"^(?P<p>int\.?\s*/\s*ext|ext\.?\s*/\s*int|i\s*/\s*e|int|ext|est)(?:\.|\s+|$)\s*", re.I
)
_SEPARATOR = re.compile(r"\s+[-–—]+\s+")
_DEVANAGARI = re.compile(r"[\u0900-\u097F]")
_LETTER = re.compile(r"[^\W\d_]")
_LANGUAGE_NOTE = re.compile(r"^\s*(?:language|lang)\s*:\s*([A-Za-z]{2,3}(?:-[A-Za-z]+)?)\s*$", re.I)

TIMES: dict[TimeOfDay, list[str]] = {
    "dawn": ["dawn", "sunrise", "daybreak", "first light", "भोर", "प्रातः", "सूर्योदय"],
    "morning": ["morning", "सुबह", "सवेरे", "प्रभात"],
    "day": ["day", "daytime", "noon", "midday", "afternoon", "दिन", "दोपहर"],
    "evening": ["evening", "शाम", "संध्या", "सायं"],
    "dusk": ["dusk", "sunset", "twilight", "sundown", "गोधूलि", "सूर्यास्त"],
    "night": ["night", "midnight", "रात", "निशा"],
}
SAME_TIME = ("continuous", "later", "same", "moments later", "same time")
MOODS: dict[Mood, str] = {  # space-separated keywords
    "calm": "calm* quiet* still gentl* soft* peace* mist* breeze rest slow* silen* शांत धीरे",
    "joyful": "laugh* smil* joy* happ* danc* celebrat* play* delight* festival* grin* giggl* "
    "खुश आनंद हँस",
    "tense": "run runs running chase* gun* shout* scream* fear* danger* panic* hurr* storm* "
    "threat* fight* urgent* afraid race* stealing डर",
    "sad": "cry cries crying tear tears weep* grief griev* alone lost funeral* mourn* sorrow* "
    "goodbye dying dead death दुख दुःख आँसू",
    "devotional": "temple* pray* god* lamp* diya* bell* incense puja mantra* sloka* shloka* "
    "chant* sacred holy bless* devot* altar* om aarti deity shrine* मंदिर प्रार्थना दीप दीया "
    "दीये पूजा भगवान ईश्वर ॐ मंत्र आरती श्लोक",
    "mysterious": "shadow* dark* fog* strange* whisper* secret* unknown myster* silhouette* "
    "hidden ghost* eerie अंधेर रहस्य",
    "triumphant": "victor* win wins won triumph* glory glorious cheer* champion* conquer* hero* "
    "proud* succeed* विजय जीत",
}
MOOD_PRIORITY: tuple[Mood, ...] = get_args(Mood)  # first wins a tie
OFFSCREEN = {"VO", "OS", "OC", "OFF", "OFFSCREEN", "OFFCAMERA"}


def parse_heading(
    heading: str, previous: TimeOfDay = "unknown"
) -> tuple[str, bool | None, TimeOfDay]:
    """(place, interior, time of day) of a heading such as `INT. TEMPLE COURTYARD - DAWN`.

    `INT./EXT.` and `I/E` are neither inside nor out (None), as is a forced heading; CONTINUOUS,
    LATER and the like keep the previous scene's time of day."""
    prefix = _PREFIX.match(heading)
    interior: bool | None = None
    rest = heading
    if prefix:
        kind = re.sub(r"[\s.]", "", prefix.group("p").lower())
        interior = None if "/" in kind else kind == "int"
        rest = heading[prefix.end() :]
    parts = _SEPARATOR.split(rest.strip())
    if len(parts) > 1:
        last = parts[-1].strip().lower()
        when = _time_in(last)
        if when or last in SAME_TIME:
            return " - ".join(parts[:-1]).strip(), interior, when or previous
    return rest.strip(), interior, _time_in(rest.lower()) or "unknown"


def time_in_prose(text: str, previous: TimeOfDay = "unknown") -> TimeOfDay:
    """The first time of day a passage of prose names, else `previous` (the story goes on)."""
    return _time_in(text.lower()) or previous


def _time_in(text: str) -> TimeOfDay | None:
    found: list[tuple[int, TimeOfDay]] = []
    for when, words in TIMES.items():
        for word in words:
            pattern = rf"(?<!\w){re.escape(word)}(?!\w)" if word.isascii() else re.escape(word)
            if match := re.search(pattern, text):
                found.append((match.start(), when))
    return min(found)[1] if found else None


def mood_of(text: str, lyrics: int = 0, devanagari_lyrics: int = 0) -> Mood:
    """The mood whose keywords a scene's text uses most; lyrics and slokas lean devotional."""
    lower = text.lower()
    words = re.findall(r"\w+", lower)
    scores: dict[Mood, float] = {}
    for mood, keywords in MOODS.items():
        score = 0.0
        for key in keywords.split():
            if not key.isascii():
                score += lower.count(key)
            elif key.endswith("*"):
                score += sum(w.startswith(key[:-1]) for w in words)
            else:
                score += words.count(key)
        scores[mood] = score
    scores["devotional"] += 1.5 * lyrics + 2.0 * devanagari_lyrics
    best = max(scores.values())
    if best <= 0:
        return "calm"
    return next(m for m in MOOD_PRIORITY if scores[m] == best)


def word_count(text: str) -> int:
    return len([w for w in text.split() if _LETTER.search(w)])


def line_seconds(kind: LineKind, text: str) -> float:
    rate = CHANTED_WORDS_PER_SECOND if kind == "lyric" else SPOKEN_WORDS_PER_SECOND
    return round(max(MIN_LINE_SECONDS, word_count(text) / rate), 2)


def shown_seconds(text: str) -> float:
    """How long an action beat or a card stays on screen: read at action pace."""
    return round(max(MIN_SHOT_SECONDS, word_count(text) / ACTION_WORDS_PER_SECOND), 2)


def is_devanagari(text: str) -> bool:
    letters = _LETTER.findall(text)
    return bool(letters) and sum(bool(_DEVANAGARI.match(c)) for c in letters) * 2 > len(letters)


def is_offscreen(extension: str | None) -> bool:
    """V.O., O.S., O.C., OFF: heard, not seen (so not lip-synced)."""
    marks = (extension or "").split(",")
    return any(re.sub(r"[\s.'-]", "", m).upper() in OFFSCREEN for m in marks)


def language_of(notes: tuple[str, ...], text: str, default: str) -> str:
    """A `[[language: sa]]` note wins; Devanagari in a script of another script speaks Hindi."""
    for note in notes:
        if match := _LANGUAGE_NOTE.match(note):
            return match.group(1).lower()
    if default not in DEVANAGARI_LANGUAGES and is_devanagari(text):
        return "hi"
    return default
