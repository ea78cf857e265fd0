"""Script analysis, model backend: transformers classifiers enrich the offline parser's storyboard.

The family folder (see `loading.py`) holds two `save_pretrained` models: `entities/`, a token
classifier with CoNLL-style BIO labels (B-PER, I-LOC, ...), and `mood/`, a sequence classifier
whose labels are storyboard moods. The parser's storyboard stays the skeleton: ids, lines, shots
and their order are kept; the models only choose a confident mood, name the places in the action,
and add the known characters the action names to the shots that show them.

Only what is shown is read for names: a heading's place and the descriptions of shots nobody is
seen speaking in (a name in dialogue is addressed, not seen).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from domain.storyboard import Mood, Scene, Shot, Storyboard
from gpu_consumers.final.loading import ModelMissing

if TYPE_CHECKING:  # transformers is imported on load: this module imports without it
    from transformers import Pipeline

MOODS: frozenset[str] = frozenset(get_args(Mood))
PERSON = frozenset({"PER", "PERSON"})
PLACE = frozenset({"LOC", "LOCATION", "GPE", "FAC"})
_SHOUTED = re.compile(r"\b[A-Z][A-Z'’]+\b")  # a screenplay's CAPS names read badly to cased models
_TRIM = " \t\n.,;:!?\"'()[]“”‘’"


def _unshout(text: str) -> str:
    """Capitalise all-caps words, keeping every offset (so spans index the same text)."""
    out = _SHOUTED.sub(lambda m: m[0].capitalize(), text)
    return out if len(out) == len(text) else text


def _surface(text: str, entity: dict[str, Any]) -> str:
    """An entity's words as written (from its offsets), else its tokens without `##` pieces."""
    if entity.get("start") is not None and entity.get("end") is not None:
        word = text[entity["start"] : entity["end"]]
    else:
        word = str(entity.get("word", "")).replace(" ##", "").replace("##", "")
    return " ".join(word.split()).strip(_TRIM)


def _unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order, without case-insensitive repeats."""
    seen: dict[str, str] = {}
    for item in items:
        seen.setdefault(item.casefold(), item)
    return list(seen.values())


def _shown(scene: Scene, shot: Shot) -> str | None:
    """What a shot shows in words: its description, unless that is someone's speech."""
    if shot.speaker:
        return None
    spoken = {
        line.text.splitlines()[0]
        for line in scene.lines
        if line.id in shot.line_ids and line.character and line.text
    }
    return None if shot.description in spoken else shot.description


class ScriptAnalyser:
    """An entity tagger and a mood classifier, loaded once, applied to whole storyboards."""

    def __init__(
        self, entities: Pipeline, mood: Pipeline, threshold: float = 0.5, batch_size: int = 16
    ) -> None:
        self.entities, self.mood = entities, mood
        self.threshold, self.batch_size = threshold, batch_size

    @classmethod
    def load(cls, directory: Path, device: str, threshold: float = 0.5) -> ScriptAnalyser:
        """Both models from `directory` (`entities/`, `mood/`) on `device`; nothing downloaded."""
        from transformers import (
            AutoModelForSequenceClassification,
            AutoModelForTokenClassification,
            AutoTokenizer,
            pipeline,
        )

        for name in ("entities", "mood"):
            if not (directory / name / "config.json").is_file():
                raise ModelMissing(f"the script-analysis model has no {name}/ in {directory}")
        ner_path, mood_path = directory / "entities", directory / "mood"
        entities = pipeline(
            "token-classification",
            model=AutoModelForTokenClassification.from_pretrained(ner_path, local_files_only=True),
            tokenizer=AutoTokenizer.from_pretrained(ner_path, local_files_only=True),
            aggregation_strategy="simple",
            device=device,
        )
        mood = pipeline(
            "text-classification",
            model=AutoModelForSequenceClassification.from_pretrained(
                mood_path, local_files_only=True
            ),
            tokenizer=AutoTokenizer.from_pretrained(mood_path, local_files_only=True),
            device=device,
        )
        return cls(entities, mood, threshold)

    def enrich(self, board: Storyboard) -> Storyboard:
        """A new storyboard: model moods where confident, locations, mentioned characters, and
        the characters each shot's action names added to that shot."""
        shown = {s.id: [_shown(s, shot) or "" for shot in s.shots] for s in board.scenes}
        found = self._entities([t for s in board.scenes for t in (s.place, *shown[s.id]) if t])
        moods = self._moods([self._mood_text(scene) for scene in board.scenes])
        names = [c.name for c in board.characters]

        def named(text: str, kinds: frozenset[str]) -> list[str]:
            return [words for kind, words in found.get(text, []) if kind in kinds]

        scenes = []
        for scene, (label, score) in zip(board.scenes, moods, strict=True):
            people: list[str] = []
            shots = []
            for shot, text in zip(scene.shots, shown[scene.id], strict=True):
                who = _unique(n for e in named(text, PERSON) if (n := self._who(e, names)))
                people += who
                extra = [n for n in who if n not in shot.characters]
                characters = [*shot.characters, *extra]
                shots.append(shot.model_copy(update={"characters": characters}) if extra else shot)
            places = [e for t in (scene.place, *shown[scene.id]) for e in named(t, PLACE)]
            speakers = {line.character for line in scene.lines}
            update: dict[str, Any] = {
                "shots": shots,
                "locations": _unique(places),
                "mentioned": [n for n in _unique(people) if n not in speakers],
            }
            if label in MOODS and score >= self.threshold:
                update |= {"mood": label, "mood_source": "model"}
            scenes.append(scene.model_copy(update=update))
        return board.model_copy(update={"scenes": scenes})

    def _entities(self, texts: list[str]) -> dict[str, list[tuple[str, str]]]:
        """Each distinct text's (entity group, words) pairs, in order."""
        unique = list(dict.fromkeys(texts))
        if not unique:
            return {}
        readable = [_unshout(text) for text in unique]
        results = self.entities(readable, batch_size=self.batch_size)
        return {
            text: [
                (str(e.get("entity_group", "")).upper(), word)
                for e in entities
                if (word := _surface(shown, e))
            ]
            for text, shown, entities in zip(unique, readable, results, strict=True)
        }

    def _moods(self, texts: list[str]) -> list[tuple[str, float]]:
        """Each text's top (label, score); labels lower-cased."""
        if not texts:
            return []
        results = self.mood(texts, batch_size=self.batch_size, truncation=True)
        tops = [r[0] if isinstance(r, list) else r for r in results]
        return [(str(t["label"]).strip().lower(), float(t["score"])) for t in tops]

    @staticmethod
    def _mood_text(scene: Scene) -> str:
        """A scene in words: its heading, what is shown and what is said, in order."""
        said = {line.id: line.text for line in scene.lines}
        parts = [scene.heading]
        for shot in scene.shots:
            parts += [_shown(scene, shot) or "", *(said[i] for i in shot.line_ids if i in said)]
        return _unshout("\n".join(dict.fromkeys(p for p in parts if p)))

    @staticmethod
    def _who(entity: str, names: list[str]) -> str | None:
        """The known character an entity names: the whole name, else one unambiguous part of it
        ("Ravi" for RAVI KUMAR); case-insensitive."""
        key = entity.casefold()
        if exact := [n for n in names if n.casefold() == key]:
            return exact[0]
        partial = [n for n in names if key in n.casefold().split()]
        return partial[0] if len(partial) == 1 else None
