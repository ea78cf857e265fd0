"""Screen-time and credit estimates."""

import pytest

from domain.estimate import MINIMUM_SECONDS, estimate, estimate_seconds

FOUNTAIN = """Title: Test

INT. KITCHEN - NIGHT

Asha stirs a pot.

ASHA
Dinner is almost ready, and so is the storm.

RAVI (O.S.)
I can hear it already.

EXT. STREET - NIGHT

Rain hammers the tin roofs.
"""


def test_dialogue_scenes_and_action_all_add_time():
    seconds = estimate_seconds("fountain", FOUNTAIN)
    dialogue = (9 + 4) / 2.5
    assert seconds > dialogue + 2 * 3.0


def test_tiny_script_takes_the_minimum():
    assert estimate_seconds("plain", "Hi.") == MINIMUM_SECONDS


def test_plain_paragraphs_are_narrated_scenes():
    text = " ".join(["word"] * 150) + "\n\n" + " ".join(["word"] * 150)
    assert estimate_seconds("plain", text) == pytest.approx(300 / 2.5 + 2 * 3.0)


def test_credits_per_started_minute_scaled_by_quality():
    text = " ".join(["word"] * 200)  # 80 s + 3 s -> 2 minutes
    assert estimate("plain", text, 10).credits == 20
    assert estimate("plain", text, 10, "final").credits == 80


def test_the_estimate_counts_the_scenes_the_parser_finds():
    """A heading the old estimate rule missed (INT/EXT, a forced `.HEADING`) or a capitalised
    action line it took for one: the estimate and the storyboard agree on the scenes."""
    from domain import screenplay
    from domain.estimate import SECONDS_PER_SCENE

    script = (
        "INT/EXT. CAR - DAY\n\nAsha drives.\n\n"
        ".THE ROOFTOP\n\nRavi waits.\n\n"
        "INTERIOR DESIGNERS ARE HERE\n\n"  # an action line, not a heading
        "EXT. STREET - NIGHT\n\nRain.\n"
    )
    scenes = len(screenplay.analyse("fountain", script, "en").scenes)
    assert scenes == 3
    action_words = 2 + 2 + 4 + 1  # "Asha drives." "Ravi waits." "INTERIOR DESIGNERS ..." "Rain."
    expected = action_words / 4.0 + scenes * SECONDS_PER_SCENE
    assert estimate_seconds("fountain", script) == pytest.approx(max(expected, 5.0), abs=0.1)
