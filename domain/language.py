"""Which language a script is written in: decided here, once, for the whole studio.

A project names its language; a script written in another writing system overrides it (a
Devanagari script in a project left at the default "en" is Hindi), so the storyboard, the voices
and the subtitle track all agree with the words on the page.
"""

from __future__ import annotations

import re
import unicodedata

from domain.fountain import parse_fountain

# The writing system of each language the studio speaks; Latin for English.
SCRIPT_OF = {
    "en": "LATIN",
    "hi": "DEVANAGARI",
    "sa": "DEVANAGARI",
    "mr": "DEVANAGARI",
    "ne": "DEVANAGARI",
    "ta": "TAMIL",
    "te": "TELUGU",
    "kn": "KANNADA",
    "ml": "MALAYALAM",
    "bn": "BENGALI",
    "gu": "GUJARATI",
    "pa": "GURMUKHI",
}
# The language a script in each writing system speaks when its project says otherwise.
LANGUAGE_OF_SCRIPT = {
    "LATIN": "en",
    "DEVANAGARI": "hi",
    "TAMIL": "ta",
    "TELUGU": "te",
    "KANNADA": "kn",
    "MALAYALAM": "ml",
    "BENGALI": "bn",
    "GUJARATI": "gu",
    "GURMUKHI": "pa",
}
_LETTER = re.compile(r"[^\W\d_]")
_SAMPLE = 20_000  # letters read: enough to tell a script, cheap for the longest one


def writing_system(text: str) -> str | None:
    """The writing system most of the text's letters are in (None: no letters)."""
    counts: dict[str, int] = {}
    for letter in _LETTER.findall(text[: _SAMPLE * 4])[:_SAMPLE]:
        name = unicodedata.name(letter, "")
        system = name.split(" ", 1)[0] if name else ""
        counts[system] = counts.get(system, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda system: counts[system])


def spoken_text(script_format: str, text: str) -> str:
    """The words a script speaks (its dialogue and lyrics; plain text is all narration), else
    what it shows: headings, cues and the title page say nothing of its language."""
    if script_format == "plain":
        return text
    elements = parse_fountain(text)
    spoken = [e.text for e in elements if e.kind in ("dialogue", "lyric")]
    return "\n".join(spoken or [e.text for e in elements if e.kind in ("action", "centered")])


def script_language(script_format: str, text: str, declared: str) -> str:
    """The language the script is in: `declared` when its writing system fits the words, else
    the language of the words' writing system (or `declared` when that is not one we speak)."""
    system = writing_system(spoken_text(script_format, text))
    if system is None or SCRIPT_OF.get(declared) == system:
        return declared
    return LANGUAGE_OF_SCRIPT.get(system, declared)
