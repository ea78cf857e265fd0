"""The script's language is decided once, in the domain, from the words it speaks."""

import pytest

from adapters.settings import PROJECT_ROOT
from domain.language import script_language, writing_system

LAMP = (PROJECT_ROOT / "examples" / "the-lamp.fountain").read_text()
SLOKA = (PROJECT_ROOT / "examples" / "the-lamp-sloka.fountain").read_text()


def test_a_devanagari_script_in_a_project_left_at_english_is_hindi():
    assert script_language("fountain", SLOKA, "en") == "hi"


@pytest.mark.parametrize("declared", ["hi", "sa", "mr"])
def test_a_declared_language_of_the_same_writing_system_is_kept(declared):
    assert script_language("fountain", SLOKA, declared) == declared


def test_english_headings_do_not_outvote_the_spoken_words():
    """The sloka script's scene headings and cues are Latin, its dialogue Devanagari."""
    assert writing_system(SLOKA) in ("LATIN", "DEVANAGARI")
    assert script_language("fountain", SLOKA, "en") == "hi"


def test_an_english_script_stays_english():
    assert script_language("fountain", LAMP, "en") == "en"


@pytest.mark.parametrize(
    ("text", "language"),
    [("வணக்கம் உலகம்", "ta"), ("నమస్కారం", "te"), ("নমস্কার", "bn"), ("ਸਤ ਸ੍ਰੀ ਅਕਾਲ", "pa")],
)
def test_plain_text_in_another_script_names_its_language(text, language):
    assert script_language("plain", text, "en") == language


def test_a_script_without_letters_keeps_the_declared_language():
    assert script_language("plain", "1234 ... !!!", "sa") == "sa"


def test_a_production_records_the_detected_language(tmp_path):
    from uuid import uuid4

    from domain.production import Production, ProductionOptions
    from domain.project import Project

    project = Project.create(uuid4(), "Deepak", "en", "16:9")
    project.revise_script("fountain", SLOKA)
    production = Production.request(uuid4(), project, ProductionOptions(), 10, 30.0)
    assert production.options["language"] == "hi"
    chosen = Production.request(uuid4(), project, ProductionOptions(language="sa"), 10, 30.0)
    assert chosen.options["language"] == "sa", "the creator's choice wins"
