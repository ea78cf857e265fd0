"""Fountain (https://fountain.io/syntax, 1.1) and plain-text screenplays parsed into flat elements.

Boneyard (`/* */`) is dropped and notes (`[[ ]]`) are lifted out of the text before the lines are
classified; a line that held only a note or boneyard neither breaks nor joins a paragraph. One
deliberate extension: `FADE OUT.`, `FADE TO BLACK.` and `CUT TO BLACK.` on their own are
transitions, as in every screenplay, though the spec wants them forced with `>`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Kind = Literal[
    "title",
    "scene_heading",
    "action",
    "character",
    "dialogue",
    "parenthetical",
    "lyric",
    "transition",
    "centered",
    "section",
    "synopsis",
    "note",
    "page_break",
]


@dataclass(frozen=True)
class Element:
    """One element. `text` is what is read or shown (notes gone, emphasis stripped, spaces
    collapsed, line breaks kept); `markup` keeps the emphasis. `name` is a title page key, or the
    speaker of a character cue and of the dialogue, parentheticals and lyrics under it."""

    kind: Kind
    text: str
    markup: str = ""
    name: str | None = None
    extension: str | None = None  # "V.O.", "O.S.", "CONT'D"; several are joined by ", "
    dual: bool = False
    scene_number: str | None = None
    level: int = 0  # section depth
    notes: tuple[str, ...] = ()


TITLE_KEYS = {"title", "credit", "author", "authors", "source", "draft date", "date", "contact"}
TITLE_KEYS |= {"copyright", "notes", "revision", "format"}
END_TRANSITIONS = {"FADE OUT.", "FADE TO BLACK.", "CUT TO BLACK.", "FADE OUT"}

_BONEYARD = re.compile(r"/\*[\s\S]*?\*/")
_NOTE = re.compile(r"\[\[((?:(?!\n\n)[\s\S])*?)\]\]")  # an empty line ends a note, "  " doesn't
_SENTINEL = re.compile("\ue000|\ue001(\\d+)\ue002")
_KEY = re.compile(r"^([A-Za-z][A-Za-z0-9 _\-]*):[ \t]*(.*)$")
_HEADING = re.compile(r"^(?:int\.?/ext|int/ext|i/e|int|ext|est)[. ]", re.IGNORECASE)
_SCENE_NUMBER = re.compile(r"\s*#([\w.\-]+)#\s*$")
_CUE = re.compile(r"^(?P<name>[^()^]*?)\s*(?P<ext>(?:\([^()]*\)\s*)*)(?P<dual>\^)?\s*$")
_CENTERED = re.compile(r"^>\s*(.*?)\s*<$")
_PAGE_BREAK = re.compile(r"^={3,}$")
_GOES_ON = ("dialogue", "action", "lyric")
_EMPHASIS = (
    re.compile(r"(?<![\\*])(\*{1,3})(?=\S)(.+?)(?<=[^\s\\])\1(?!\*)"),
    re.compile(r"(?<![\\\w])_(?=\S)(.+?)(?<=[^\s\\])_(?!\w)"),
)


def plain_text(markup: str) -> str:
    """Emphasis markers and escapes removed, spaces collapsed; line breaks kept."""
    lines = []
    for line in markup.split("\n"):
        if "*" not in line and "_" not in line and "\\" not in line:  # most lines: no markers
            lines.append(" ".join(line.split()))
            continue
        for _ in range(4):  # nested emphasis: ***a***, _an *italic* word_
            line = _EMPHASIS[0].sub(r"\2", line)
            line = _EMPHASIS[1].sub(r"\1", line)
        line = re.sub(r"\\([*_\\])", r"\1", line)
        lines.append(" ".join(line.split()))
    return "\n".join(lines).strip("\n")


@dataclass
class _Row:
    text: str
    notes: list[str]
    only_notes: bool  # held a note or boneyard and nothing else: invisible to paragraphs

    @property
    def blank(self) -> bool:
        return not self.text.strip() and self.text != "  "


def _rows(text: str) -> list[_Row]:
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").expandtabs(4)
    text = _BONEYARD.sub("\ue000", text)
    notes: list[str] = []

    def lift(match: re.Match[str]) -> str:
        notes.append(" ".join(match.group(1).split()))
        return f"\ue001{len(notes) - 1}\ue002"

    text = _NOTE.sub(lift, text)
    rows = []
    for line in text.split("\n"):
        found = [notes[int(m.group(1))] for m in _SENTINEL.finditer(line) if m.group(1)]
        clean = _SENTINEL.sub("", line)
        only = clean.strip() == "" and clean != line
        rows.append(_Row(clean if not only else "", found, only))
    return rows


def _title_page(rows: list[_Row]) -> tuple[list[Element], int]:
    entries: list[tuple[str, list[str]]] = []
    end = next((i for i, row in enumerate(rows) if row.blank), len(rows))
    for row in rows[:end]:
        key = _KEY.match(row.text)
        if key and not row.text[:1].isspace():
            entries.append((key.group(1).strip(), [key.group(2)] if key.group(2).strip() else []))
        elif entries:
            entries[-1][1].append(row.text.strip())
        else:
            return [], 0
    if not any(k.lower() in TITLE_KEYS for k, _ in entries):
        return [], 0
    out = []
    for name, values in entries:
        markup = "\n".join(v.strip() for v in values)
        out.append(Element("title", plain_text(markup), markup, name=name))
    return out, end


@dataclass(eq=False)  # drafts are found by identity
class _Draft:
    kind: Kind
    lines: list[str]
    name: str | None = None
    extension: str | None = None
    dual: bool = False
    scene_number: str | None = None
    level: int = 0
    notes: list[str] = field(default_factory=list)

    def freeze(self) -> Element:
        markup = "\n".join(self.lines).strip("\n")
        text = (self.name or "") if self.kind == "character" else plain_text(markup)
        return Element(
            self.kind,
            text,
            markup,
            self.name,
            self.extension,
            self.dual,
            self.scene_number,
            self.level,
            tuple(self.notes),
        )


class _Parser:
    """Classifies rows into drafts, a paragraph (rows between blank lines) at a time."""

    def __init__(self, rows: list[_Row]) -> None:
        self.rows = rows
        self.out: list[_Draft] = []
        self.block: Kind | None = None  # what the next line of this paragraph may extend
        self.speaker: _Draft | None = None  # the cue of the dialogue block we are in
        self.last_cue: _Draft | None = None  # the cue of the previous paragraph, if dialogue
        self.paragraph_start = 0
        self.pending: list[str] = []
        # whether the next row that is not only notes, after each row, is blank (or none is)
        self.blank_after = [True] * len(rows)
        for i in range(len(rows) - 2, -1, -1):
            later = rows[i + 1]
            self.blank_after[i] = self.blank_after[i + 1] if later.only_notes else later.blank

    def run(self, start: int) -> list[Element]:
        after_blank = True
        for i in range(start, len(self.rows)):
            row = self.rows[i]
            if row.only_notes:
                self.pending += row.notes
            elif row.blank or (row.text == "  " and not self._goes_on()):
                self._end_paragraph()
                after_blank = True
            else:
                self.pending += row.notes
                self._line(i, row.text, after_blank)
                after_blank = False
        self._end_paragraph()
        return [draft.freeze() for draft in self.out]

    def _goes_on(self) -> bool:
        return self.speaker is not None or self.block in _GOES_ON

    def _end_paragraph(self) -> None:
        if self.pending:
            if len(self.out) > self.paragraph_start:
                self.out[-1].notes += self.pending
            else:
                self.out.append(_Draft("note", ["\n".join(self.pending)]))
            self.pending = []
        if len(self.out) > self.paragraph_start:
            self.last_cue = self.speaker
        self.block, self.speaker, self.paragraph_start = None, None, len(self.out)

    def _next_blank(self, i: int) -> bool:
        return self.blank_after[i]

    def _add(self, kind: Kind, markup: str, **fields: object) -> None:
        if self.speaker is not None and kind in ("dialogue", "parenthetical", "lyric"):
            cue = self.speaker
            fields |= {"name": cue.name, "extension": cue.extension, "dual": cue.dual}
        self.out.append(_Draft(kind, [markup], **fields))  # type: ignore[arg-type]
        self.out[-1].notes += self.pending
        self.pending = []
        if kind != "character":
            self.block = kind

    def _extend(self, kind: Kind, markup: str) -> None:
        if self.block == kind and self.out and self.out[-1].kind == kind:
            self.out[-1].lines.append(markup)
            self.out[-1].notes += self.pending
            self.pending = []
        else:
            self._add(kind, markup)

    def _line(self, i: int, raw: str, after_blank: bool) -> None:
        line = raw.strip()
        if raw == "  ":  # two spaces: an empty line that keeps dialogue or action going
            if self.out[-1].kind in _GOES_ON:
                self.out[-1].lines.append("")
        elif self.speaker is not None:
            self._in_dialogue(line)
        elif _PAGE_BREAK.match(line):
            self._add("page_break", "")
        elif line.startswith("!"):
            self._extend("action", line[1:])
        elif line.startswith("~"):
            self._extend("lyric", line[1:].strip())
        elif line.startswith("#"):
            depth = len(line) - len(line.lstrip("#"))
            self._add("section", line[depth:].strip(), level=depth)
        elif line.startswith("="):
            self._add("synopsis", line[1:].strip())
        elif centered := _CENTERED.match(line):
            self._extend("centered", centered.group(1))
        elif line.startswith(">"):
            self._add("transition", line[1:].strip())
        elif after_blank and self._is_heading(line, self._next_blank(i)):
            self._heading(line)
        elif after_blank and self._next_blank(i) and _is_transition(line):
            self._add("transition", line)
        elif after_blank and (cue := _cue(line, forced_only=self._next_blank(i))):
            self._character(line, *cue)
        else:
            self._extend("action", line)

    def _in_dialogue(self, line: str) -> None:
        if line.startswith("(") and line.endswith(")"):
            self._add("parenthetical", line)
        elif line.startswith("~"):
            self._extend("lyric", line[1:].strip())
        else:
            self._extend("dialogue", line)

    @staticmethod
    def _is_heading(line: str, next_blank: bool) -> bool:
        if re.match(r"^\.\w", line):
            return True  # forced
        # the spec wants a blank line after; an all-caps heading runs on into action without one
        return _HEADING.match(line) is not None and (next_blank or line == line.upper())

    def _heading(self, line: str) -> None:
        number = _SCENE_NUMBER.search(line)
        text = line[: number.start()] if number else line
        text = text[1:] if text.startswith(".") else text
        self._add("scene_heading", text.strip(), scene_number=number and number.group(1))

    def _character(self, markup: str, name: str, extension: str | None, dual: bool) -> None:
        if dual and self.last_cue is not None:
            start = next(i for i, d in enumerate(self.out) if d is self.last_cue)
            for draft in self.out[start:]:
                draft.dual = True
        self._add("character", markup, name=name, extension=extension, dual=dual)
        self.speaker = self.out[-1]
        self.block = None


def _is_transition(line: str) -> bool:
    return line == line.upper() and (line.endswith("TO:") or line in END_TRANSITIONS)


def _cue(line: str, forced_only: bool) -> tuple[str, str | None, bool] | None:
    """A character cue's (name, extension, dual), or None when the line is not one."""
    forced = line.startswith("@")
    match = _CUE.match(line[1:] if forced else line)
    if not match or (forced_only and not forced):
        return None
    name = " ".join(match.group("name").split())
    if not name or (not forced and (name != name.upper() or not any(c.isupper() for c in name))):
        return None  # a cue needs a letter with case (force others with @), all of it upper
    extensions = [" ".join(e.split()) for e in re.findall(r"\(([^()]*)\)", match.group("ext"))]
    return name, ", ".join(extensions) or None, match.group("dual") is not None


def parse_fountain(text: str) -> list[Element]:
    """The elements of a Fountain screenplay, in order, the title page's entries first."""
    return list(_parsed(text))


@lru_cache(maxsize=16)
def _parsed(text: str) -> tuple[Element, ...]:
    """One parse per script for its recent readers (a production's request estimates its cost
    and detects its language from the same text); elements are frozen, so sharing is safe."""
    rows = _rows(text)
    title, start = _title_page(rows)
    return tuple(title + _Parser(rows).run(start))


def scene_spans(script_format: str, text: str) -> list[tuple[int, int]]:
    """Each scene's [start, end) line numbers in `text` split on newlines: from a Fountain scene
    heading to the next (the title page and anything before the first heading belong to none);
    for plain text, each paragraph."""
    lines = text.replace("\r\n", "\n").split("\n")
    blank = [not line.strip() for line in lines] + [True]
    if script_format == "fountain":
        starts = [
            i
            for i, line in enumerate(lines)
            if (i == 0 or blank[i - 1]) and _Parser._is_heading(line.strip(), blank[i + 1])
        ]
    else:
        starts = [i for i in range(len(lines)) if not blank[i] and (i == 0 or blank[i - 1])]
    return list(zip(starts, [*starts[1:], len(lines)][: len(starts)], strict=True))


def parse_plain(text: str) -> list[Element]:
    """Plain text: each paragraph becomes an (untitled) scene of one action element."""
    out: list[Element] = []
    for paragraph in re.split(r"\n\s*\n", text.lstrip("\ufeff").replace("\r\n", "\n")):
        prose = " ".join(paragraph.split())
        if prose:
            out += [Element("scene_heading", ""), Element("action", prose, prose)]
    return out
