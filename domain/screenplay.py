"""Script analysis, offline: a Fountain or plain-text script made into a Storyboard.

In Fountain, action is shown, not read: it makes silent shots. Dialogue is spoken by its
character; a cue named NARRATOR (or सूत्रधार) is the narrator (`character` None, voice index 0).
Lyrics (`~`, for songs, poems and slokas) are chanted by the narrator, or by the character whose
cue they sit under. Plain text is all narration: each paragraph a scene, each sentence a line.

Ids hash a scene's own content (never its position or its neighbours), so editing one scene
changes only that scene's ids; shots and lines are `<scene id>-shot<n>` and `<scene id>-line<n>`.
A shot's `speaker` is the character seen speaking; one heard off screen (V.O., O.S.) is not.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from domain.fountain import Element, parse_fountain, parse_plain
from domain.script_traits import (
    is_devanagari,
    is_offscreen,
    language_of,
    line_seconds,
    mood_of,
    parse_heading,
    shown_seconds,
    time_in_prose,
)
from domain.storyboard import Character, Line, LineKind, Scene, Shot, Storyboard, TimeOfDay
from domain.voices import VARIANTS, parse_voice, voice_for

__all__ = ["Element", "analyse", "parse_fountain", "parse_plain", "seed_for"]

NARRATOR_NAMES = {"NARRATOR", "NARRATION", "सूत्रधार"}
MAX_NARRATED_SHOT_SECONDS = 8.0  # plain text: a new picture at least this often
_CONTENT_KINDS = {
    "action",
    "centered",
    "character",
    "dialogue",
    "parenthetical",
    "lyric",
    "transition",
}
_SENTENCE_END = re.compile(r"(?<=[.!?।॥…])\s+")


def seed_for(name: str) -> int:
    """A character's seed: the same name always looks the same (31 bits, fits any RNG)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()[:12]


@dataclass
class _Part:
    """The elements of one scene, from its heading to the next."""

    heading: Element | None
    body: list[Element] = field(default_factory=list)
    section: str | None = None

    def has_content(self) -> bool:
        return self.heading is not None or any(e.kind in _CONTENT_KINDS for e in self.body)


def _scene_id(part: _Part, seen: dict[str, int]) -> str:
    """A scene's id names its heading and which scene of that heading it is, not its content:
    editing a line keeps the scene's ids (and its shots' and lines', which count within it), so
    an edit re-renders what the edited line touches, not the scene. Moving scenes keeps theirs;
    scenes without a heading count among themselves."""
    heading = part.heading.text.strip() if part.heading else ""
    seen[heading] = seen.get(heading, 0) + 1
    return "sc-" + _hash(heading, seen[heading])


def _parts(elements: Iterable[Element]) -> list[_Part]:
    parts = [_Part(None)]
    section: str | None = None
    for element in elements:
        if element.kind == "scene_heading":
            parts.append(_Part(element, section=section))
        else:
            if element.kind == "section":
                section = element.text
            parts[-1].body.append(element)
    return [p for p in parts if p.has_content()]


def _is_narrator(name: str | None) -> bool:
    return name is not None and name.upper() in NARRATOR_NAMES


def _cast(elements: list[Element], language: str, voices: dict[str, str]) -> list[Character]:
    overrides = {name.upper(): parse_voice(voice).id for name, voice in voices.items()}
    names = [e.name for e in elements if e.kind == "character" and not _is_narrator(e.name)]
    cast = []
    for i, name in enumerate(dict.fromkeys(n for n in names if n)):
        default = voice_for(language, 1 + i % (VARIANTS - 1)).id  # never the narrator's
        voice = overrides.get(name.upper(), default)
        cast.append(Character(name=name, voice=voice, seed=seed_for(name), language=language))
    return cast


class _SceneBuilder:
    """Walks one scene's elements into lines and shots."""

    def __init__(self, scene_id: str, language: str, cast: list[str], narrate: bool) -> None:
        self.id, self.language, self.cast, self.narrate = scene_id, language, cast, narrate
        self.lines: list[Line] = []
        self.shots: list[Shot] = []
        self.present: list[str] = []
        self.cue: Element | None = None
        self.parenthetical: str | None = None
        self.shown = ""  # the last thing shown: what off-screen voices play over
        self.voice_key: object = None  # who the current shot hears; a new one starts a shot

    def add(self, element: Element) -> None:
        if element.kind in ("action", "centered"):
            self._enter(element.text)
            if self.narrate:
                self._narrate(element)
            else:
                self._shot(element.text, None, [], shown_seconds(element.text))
        elif element.kind == "character":
            self.cue, self.parenthetical = element, None
            if element.name and not _is_narrator(element.name) and not self._offscreen():
                self._enter(element.name)
        elif element.kind == "parenthetical":
            self.parenthetical = element.text.strip("()").strip() or None
        elif element.kind in ("dialogue", "lyric"):
            self._speak(element)

    def _offscreen(self) -> bool:
        return self.cue is not None and is_offscreen(self.cue.extension)

    def _enter(self, text: str) -> None:
        for name in self.cast:
            if name not in self.present and re.search(
                rf"(?<!\w){re.escape(name)}(?!\w)", text, re.I
            ):
                self.present.append(name)

    def _line(self, kind: LineKind, element: Element, who: str | None, text: str) -> Line:
        notes = element.notes + (self.cue.notes if self.cue and element.name else ())
        line = Line(
            id=f"{self.id}-line{len(self.lines) + 1:02d}",
            kind=kind,
            character=who,
            text=text,
            language=language_of(notes, text, self.language),
            parenthetical=self.parenthetical if element.name else None,
            extension=element.extension,
            dual=element.dual,
            estimated_seconds=line_seconds(kind, text),
        )
        self.lines.append(line)
        self.parenthetical = None
        return line

    def _speak(self, element: Element) -> None:
        text = element.text.strip()
        if not text:
            return
        who = None if _is_narrator(element.name) else element.name
        kind: LineKind = "lyric" if element.kind == "lyric" else "dialogue"
        kind = "narration" if who is None and kind == "dialogue" else kind
        line = self._line(kind, element, who, text)
        seen = who if who and not (element.name and self._offscreen()) else None
        key = (who, seen, element.dual, kind == "lyric")
        if self.shots and self.voice_key == key:
            self._extend(line)
            return
        if seen:
            paren = f" ({line.parenthetical})" if line.parenthetical else ""
            description = f"{seen} speaks{paren}: {text.splitlines()[0]}"
        else:
            description = self.shown or text.splitlines()[0]
        self._shot(description, seen, [line], line.estimated_seconds)
        self.voice_key = key

    def _narrate(self, element: Element) -> None:
        group: list[Line] = []
        for sentence in _SENTENCE_END.split(element.text):
            line = self._line("narration", element, None, sentence.strip())
            seconds = sum(g.estimated_seconds for g in group) + line.estimated_seconds
            if group and seconds > MAX_NARRATED_SHOT_SECONDS:
                self._narrated_shot(group)
                group = []
            group.append(line)
        self._narrated_shot(group)

    def _narrated_shot(self, group: list[Line]) -> None:
        seconds = sum(g.estimated_seconds for g in group)
        self._shot(" ".join(g.text for g in group), None, group, seconds)

    def _shot(self, description: str, speaker: str | None, lines: list[Line], s: float) -> None:
        if not lines:
            self.shown = description
        characters = list(dict.fromkeys([*self.present, *([speaker] if speaker else [])]))
        self.shots.append(
            Shot(
                id=f"{self.id}-shot{len(self.shots) + 1:02d}",
                description=description,
                characters=characters,
                speaker=speaker,
                line_ids=[line.id for line in lines],
                estimated_seconds=round(s, 2),
            )
        )
        self.voice_key = None

    def _extend(self, line: Line) -> None:
        shot = self.shots[-1]
        self.shots[-1] = shot.model_copy(
            update={
                "line_ids": [*shot.line_ids, line.id],
                "estimated_seconds": round(shot.estimated_seconds + line.estimated_seconds, 2),
            }
        )


def _scene(part: _Part, scene_id: str, index: int, ctx: _Context) -> Scene:
    builder = _SceneBuilder(scene_id, ctx.language, ctx.cast, ctx.narrate)
    synopses: list[str] = []
    transition: str | None = None
    after_section = False
    for element in part.body:
        builder.add(element)
        if element.kind == "section":
            after_section = True  # a synopsis after a section is the section's, not the scene's
        elif element.kind == "synopsis" and not after_section:
            synopses.append(element.text)
        elif element.kind == "transition":
            transition = element.text
    heading = part.heading.text if part.heading else ""
    place, interior, when = parse_heading(heading, ctx.time)
    if ctx.narrate:
        when = time_in_prose(" ".join(e.text for e in part.body), ctx.time)
    lyrics = [line for line in builder.lines if line.kind == "lyric"]
    spoken = " ".join(e.text for e in part.body if e.kind in _CONTENT_KINDS)
    mood = mood_of(
        f"{heading} {spoken}", len(lyrics), sum(is_devanagari(line.text) for line in lyrics)
    )
    ctx.time = when
    return Scene(
        id=scene_id,
        index=index,
        heading=heading,
        place=place,
        interior=interior,
        time_of_day=when,
        mood=mood,
        synopsis=" ".join(synopses) or None,
        section=part.section,
        transition=transition,
        shots=builder.shots,
        lines=builder.lines,
        estimated_seconds=round(sum(s.estimated_seconds for s in builder.shots), 2),
    )


@dataclass
class _Context:
    language: str
    cast: list[str]
    narrate: bool
    time: TimeOfDay = "unknown"


def analyse(
    script_format: str, text: str, language: str, voices: dict[str, str] | None = None
) -> Storyboard:
    """The storyboard of a `fountain` or `plain` script whose words are in `language`.

    `voices` maps character names (any case) to voice ids, overriding the defaults; names not in
    the script are ignored, a malformed voice id is a ValueError."""
    if script_format == "fountain":
        elements = parse_fountain(text)
    elif script_format == "plain":
        elements = parse_plain(text)
    else:
        raise ValueError(f"a script is 'fountain' or 'plain', not {script_format!r}")
    if not language:
        raise ValueError("a script needs a language")
    characters = _cast(elements, language, voices or {})
    ctx = _Context(language, [c.name for c in characters], narrate=script_format == "plain")
    scenes: list[Scene] = []
    seen: dict[str, int] = {}
    for part in _parts(elements):
        scene_id = _scene_id(part, seen)
        scenes.append(_scene(part, scene_id, len(scenes), ctx))
    if not any(scene.shots for scene in scenes):
        raise ValueError("the script has nothing to show or say")
    title_page = {e.name or "": e.text for e in elements if e.kind == "title"}
    title = next((v for k, v in title_page.items() if k.lower() == "title"), None)
    if script_format == "plain":  # a short first paragraph with no full stop is the title
        first = elements[1].text if len(elements) > 1 else ""
        title = first if len(first.split()) <= 8 and not re.search(r"[.!?।॥]$", first) else None
    return Storyboard(
        title=" ".join((title or "Untitled").split()),
        language=language,
        credits={k: v for k, v in title_page.items() if k.lower() != "title"},
        characters=characters,
        scenes=scenes,
        estimated_seconds=round(sum(s.estimated_seconds for s in scenes), 2),
    )
