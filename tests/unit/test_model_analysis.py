"""The model backend of script analysis, run for real on tiny random models steered to known
answers: moods, locations, mentioned characters and shot characters enrich the parser's
storyboard without changing what the parser found."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.settings import Settings
from domain.screenplay import analyse
from domain.storyboard import Storyboard
from gpu_consumers.final.analysis import ScriptAnalyser
from gpu_consumers.final.loading import ModelMissing, model_directory
from tests.tinymodels.analysis import (
    ENTITY_LABELS,
    MOODS,
    build_tiny_analysis,
    steer_entities,
    steer_mood,
)

LAMP = (Path(__file__).resolve().parents[2] / "examples" / "the-lamp.fountain").read_text()
MARKET = """Title: Market Day

INT. KUMAR HOUSE - NIGHT

RAVI KUMAR paces by the window.

RAVI KUMAR
Where is she?

EXT. CHANDNI BAZAAR - DAY

Crowds fill the lanes. Ravi watches from a tea stall near the Red Fort, a sword at his belt.

SITA
He never comes to Delhi.

SITA
(laughing)
Then who is that?
"""
STEER = {
    "meera": "B-PER",
    "arjun": "B-PER",
    "ravi": "B-PER",
    "kumar": "I-PER",
    "sita": "B-PER",
    "temple": "B-LOC",
    "courtyard": "I-LOC",
    "river": "B-LOC",
    "ghat": "I-LOC",
    "chandni": "B-LOC",
    "bazaar": "I-LOC",
    "red": "B-LOC",
    "fort": "I-LOC",
    "delhi": "B-LOC",  # named only in dialogue: not a place of the scene
    "sword": "B-WEAPON",  # a label the studio does not know
}
ENRICHED = {"mood", "mood_source", "locations", "mentioned"}

Build = Callable[..., Path]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_analysis(
        tmp_path_factory.mktemp("analysis"),
        list(STEER),
        entity_labels=[*ENTITY_LABELS, "B-WEAPON"],
        moods=[*MOODS, "angry"],
    )


@pytest.fixture
def models(base: Path, tmp_path: Path) -> Build:
    """A steered copy of the tiny models: `models(mood, probability)`."""

    def make(mood: str | None = "tense", probability: float = 0.9) -> Path:
        directory = tmp_path / "script-analysis"
        shutil.rmtree(directory, ignore_errors=True)
        shutil.copytree(base, directory)
        steer_entities(directory, STEER)
        steer_mood(directory, mood, probability)
        return directory

    return make


def parsed(script: str) -> Storyboard:
    return analyse("fountain", script, "en")


def assert_kept(before: Storyboard, after: Storyboard) -> None:
    """Everything the parser found is still there, in order; shots only gain characters."""
    assert after.model_dump(exclude={"scenes"}) == before.model_dump(exclude={"scenes"})
    assert [s.id for s in after.scenes] == [s.id for s in before.scenes]
    for old, new in zip(before.scenes, after.scenes, strict=True):
        assert new.model_dump(exclude=ENRICHED | {"shots"}) == old.model_dump(
            exclude=ENRICHED | {"shots"}
        )
        assert new.lines == old.lines
        for a, b in zip(old.shots, new.shots, strict=True):
            assert b.model_dump(exclude={"characters"}) == a.model_dump(exclude={"characters"})
            assert b.characters[: len(a.characters)] == a.characters


def test_the_lamp_gets_model_moods_and_places(models: Build):
    board = parsed(LAMP)
    assert {s.mood_source for s in board.scenes} == {"parser"}  # the offline path
    assert all(s.locations == s.mentioned == [] for s in board.scenes)
    enriched = ScriptAnalyser.load(models("tense", 0.9), "cpu").enrich(board)
    assert_kept(board, enriched)
    assert [(s.mood, s.mood_source) for s in enriched.scenes] == [("tense", "model")] * 2
    assert [s.locations for s in enriched.scenes] == [["Temple Courtyard"], ["River Ghat"]]
    assert [s.mentioned for s in enriched.scenes] == [[], []]  # both speak in both scenes
    # "Light it again, Arjun." names ARJUN in speech: he is addressed, not yet shown
    assert enriched.scenes[0].shots[2].characters == ["MEERA"]
    assert Storyboard.model_validate_json(enriched.model_dump_json()) == enriched


def test_a_character_named_in_the_action_is_mentioned_and_drawn(models: Build):
    board = parsed(MARKET)
    house, bazaar = board.scenes
    assert bazaar.shots[0].characters == []  # the parser looks for "RAVI KUMAR", not "Ravi"
    enriched = ScriptAnalyser.load(models(), "cpu").enrich(board)
    assert_kept(board, enriched)
    house, bazaar = enriched.scenes
    assert house.mentioned == []  # he speaks there
    assert house.locations == []  # KUMAR HOUSE reads as a person's name, not a place
    assert bazaar.mentioned == ["RAVI KUMAR"]
    assert bazaar.shots[0].characters == ["RAVI KUMAR"]
    assert [s.characters for s in bazaar.shots[1:]] == [["SITA"]]  # both lines, one shot
    # Delhi is only named in dialogue; the sword's label is unknown
    assert bazaar.locations == ["Chandni Bazaar", "Red Fort"]
    assert Storyboard.model_validate_json(enriched.model_dump_json()) == enriched


@pytest.mark.parametrize(
    ("mood", "probability", "threshold", "model_wins"),
    [
        ("sad", 0.6, 0.5, True),
        ("sad", 0.4, 0.5, False),  # not confident
        ("sad", 0.6, 0.7, False),  # the threshold is the analyser's
        (None, 0.0, 0.5, False),  # every mood equally likely (1/8)
        ("angry", 0.99, 0.5, False),  # not a storyboard mood
    ],
)
def test_the_model_mood_only_when_confident_and_known(
    models: Build, mood: str | None, probability: float, threshold: float, model_wins: bool
):
    board = parsed(LAMP)
    analyser = ScriptAnalyser.load(models(mood, probability), "cpu", threshold=threshold)
    enriched = analyser.enrich(board)
    expected = [("sad", "model")] * 2 if model_wins else [(s.mood, "parser") for s in board.scenes]
    assert [(s.mood, s.mood_source) for s in enriched.scenes] == expected


def test_random_unsteered_models_still_keep_the_parsers_storyboard(base: Path):
    board = parsed(MARKET)
    enriched = ScriptAnalyser.load(base, "cpu").enrich(board)
    assert_kept(board, enriched)
    names = {c.name for c in board.characters}
    assert all(set(s.mentioned) <= names for s in enriched.scenes)


def test_missing_models_are_model_missing(tmp_path: Path, base: Path):
    settings = Settings(models_dir=tmp_path)
    with pytest.raises(ModelMissing, match="not installed"):
        model_directory(settings, "script-analysis")
    shutil.copytree(base, tmp_path / "script-analysis")
    directory, card = model_directory(settings, "script-analysis")
    assert card.licence == "mit"
    shutil.rmtree(directory / "mood")
    with pytest.raises(ModelMissing, match="mood"):
        ScriptAnalyser.load(directory, "cpu")
