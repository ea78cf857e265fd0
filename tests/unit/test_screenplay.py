"""The offline screenplay parser (Fountain, plain text) and the storyboard it analyses into."""

from pathlib import Path

import pytest

from domain.estimate import estimate_seconds
from domain.fountain import Element, parse_fountain, parse_plain, plain_text
from domain.screenplay import analyse, seed_for
from domain.storyboard import Storyboard
from domain.voices import voice_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
LAMP = (EXAMPLES / "the-lamp.fountain").read_text()
SLOKA = (EXAMPLES / "the-lamp-sloka.fountain").read_text()
GAYATRI = "~ॐ भूर्भुवः स्वः\n~तत्सवितुर्वरेण्यं भर्गो देवस्य धीमहि\n~धियो यो नः प्रचोदयात् ॥"


def kinds(text: str) -> list[str]:
    return [e.kind for e in parse_fountain(text)]


def only(text: str, kind: str) -> list[Element]:
    return [e for e in parse_fountain(text) if e.kind == kind]


# --- title page ---------------------------------------------------------------------------


def test_title_page_keys_and_multi_line_indented_values():
    script = (
        "Title:\n    _**THE LAMP**_\n    a short film\nCredit: written by\n"
        "Author: A. Writer\nContact:\n\tStudio Lane 1\n\tMumbai\n\nINT. ROOM - DAY\n\nA lamp.\n"
    )
    title = only(script, "title")
    assert [(e.name, e.text) for e in title] == [
        ("Title", "THE LAMP\na short film"),
        ("Credit", "written by"),
        ("Author", "A. Writer"),
        ("Contact", "Studio Lane 1\nMumbai"),
    ]
    assert title[0].markup == "_**THE LAMP**_\na short film"
    assert kinds(script)[4:] == ["scene_heading", "action"]


def test_no_title_page_without_known_keys():
    assert kinds("INT. ROOM - DAY\n\nA lamp.") == ["scene_heading", "action"]
    assert kinds("CUT TO:\n\nINT. ROOM - DAY\n\nA lamp.")[0] == "transition"
    assert kinds("Title: X\n\nA lamp.") == ["title", "action"]


# --- scene headings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "heading",
    [
        "INT. HOUSE - DAY",
        "EXT. HOUSE - DAY",
        "EST. CITY - NIGHT",
        "INT./EXT. CAR - DAY",
        "INT/EXT CAR - DAY",
        "I/E CAR - DAY",
        "int. house - day",
        "INT HOUSE - DAY",
    ],
)
def test_scene_headings(heading: str):
    (element,) = only(f"Some action.\n\n{heading}\n\nMore action.", "scene_heading")
    assert element.text == heading


def test_forced_scene_heading_and_scene_numbers():
    script = ".FLASHBACK - TWENTY YEARS EARLIER\n\nINT. HOUSE - DAY #1A#\n\n.SNIPER POV #12#\n\nx"
    headings = only(script, "scene_heading")
    assert [(h.text, h.scene_number) for h in headings] == [
        ("FLASHBACK - TWENTY YEARS EARLIER", None),
        ("INT. HOUSE - DAY", "1A"),
        ("SNIPER POV", "12"),
    ]
    assert kinds("...and then she left.") == ["action"]


def test_a_heading_needs_a_blank_line_before_it():
    assert kinds("She walks in.\nINT. HOUSE - DAY\n\nx") == ["action", "action"]
    # the spec wants a blank line after too; an all-caps one runs on into action without it
    assert kinds("INT. HOUSE - DAY\nThe door opens.") == ["scene_heading", "action"]
    assert kinds("Int the end she left.\nShe did.") == ["action"]


# --- action, characters, dialogue ---------------------------------------------------------


def test_action_paragraphs_keep_their_line_breaks():
    (action,) = parse_fountain("The room is dark.\nA FIGURE moves.")
    assert action == Element("action", "The room is dark.\nA FIGURE moves.", action.markup)


def test_forced_action_stops_an_upper_case_line_being_a_character():
    assert kinds("\nBANG!\nThe door flies open.") == ["character", "dialogue"]
    assert kinds("\n!BANG!\nThe door flies open.") == ["action"]
    assert parse_fountain("!SCREAMS echo.")[0].text == "SCREAMS echo."


def test_character_cue_and_dialogue():
    cue, line = parse_fountain("\nSTEEL\nThey're coming out of the woodwork!\nAll of them.")
    assert (cue.kind, cue.name, cue.text, cue.extension) == ("character", "STEEL", "STEEL", None)
    assert (line.kind, line.name) == ("dialogue", "STEEL")
    assert line.text == "They're coming out of the woodwork!\nAll of them."


@pytest.mark.parametrize(
    ("cue", "name", "extension"),
    [
        ("MEERA (V.O.)", "MEERA", "V.O."),
        ("JOHN (O.S.)", "JOHN", "O.S."),
        ("SARAH (CONT'D)", "SARAH", "CONT'D"),
        ("MOM (V.O.) (CONT'D)", "MOM", "V.O., CONT'D"),
        ("HANS (on the radio)", "HANS", "on the radio"),
        ("COP 2", "COP 2", None),
        ("@McCLANE", "McCLANE", None),
        ("@मीरा (V.O.)", "मीरा", "V.O."),
    ],
)
def test_character_names_and_extensions(cue: str, name: str, extension: str | None):
    element, line = parse_fountain(f"\n{cue}\nHello.")
    assert (element.kind, element.name, element.extension) == ("character", name, extension)
    assert (line.kind, line.name, line.extension) == ("dialogue", name, extension)


def test_what_is_not_a_character():
    assert kinds("THE END\n\nx") == ["action", "action"]  # nothing follows it
    assert kinds("Meera\nHello.") == ["action"]  # not upper case
    assert kinds("मीरा\nनमस्ते।") == ["action"]  # no case: force it with @
    assert kinds("She waits.\nMEERA\nHello.") == ["action"]  # no blank line before
    assert kinds("ARJUN (20s) hurries in.\nOut of breath.") == ["action"]


def test_parentheticals_sit_between_dialogue():
    script = "\nSTEEL\n(pause)\nNo, everybody!\n(beat)\nPoint Blank Sniper?"
    assert [(e.kind, e.text) for e in parse_fountain(script)] == [
        ("character", "STEEL"),
        ("parenthetical", "(pause)"),
        ("dialogue", "No, everybody!"),
        ("parenthetical", "(beat)"),
        ("dialogue", "Point Blank Sniper?"),
    ]


def test_two_spaces_keep_dialogue_going_across_an_empty_line():
    script = "\nDEALER\nTen.\n  \nTwenty.\n\nAction."
    assert [(e.kind, e.text) for e in parse_fountain(script)] == [
        ("character", "DEALER"),
        ("dialogue", "Ten.\n\nTwenty."),
        ("action", "Action."),
    ]


def test_dual_dialogue_marks_both_blocks():
    script = "\nBRICK\nScrew retirement.\n\nSTEEL ^\nScrew retirement.\n\nBRICK\nAgain."
    elements = parse_fountain(script)
    assert [(e.kind, e.name, e.dual) for e in elements] == [
        ("character", "BRICK", True),
        ("dialogue", "BRICK", True),
        ("character", "STEEL", True),
        ("dialogue", "STEEL", True),
        ("character", "BRICK", False),
        ("dialogue", "BRICK", False),
    ]


def test_dual_dialogue_marks_only_the_block_just_before():
    script = "\nBRICK\nHi.\n\nHe waits.\n\nBRICK\nHi.\n\nSTEEL ^\nYo."
    assert [e.dual for e in parse_fountain(script)] == [False, False, False, True, True, True, True]


# --- transitions, centered, lyrics --------------------------------------------------------


def test_transitions():
    assert only("x\n\nCUT TO:\n\ny", "transition")[0].text == "CUT TO:"
    assert only("x\n\n>Burn to White.\n\ny", "transition")[0].text == "Burn to White."
    assert only("x\n\nFADE OUT.", "transition")[0].text == "FADE OUT."
    assert kinds("x\nCUT TO:\n\ny") == ["action", "action"]  # no blank line before


def test_centered_text():
    (card,) = parse_fountain(">THE END<")
    assert (card.kind, card.text) == ("centered", "THE END")
    assert parse_fountain("> *Intermission* <")[0].text == "Intermission"


def test_lyrics_lines_make_a_stanza_and_a_blank_line_a_new_one():
    elements = parse_fountain("~Willy Wonka! Willy Wonka!\n~The amazing chocolatier!\n\n~Again!")
    assert [(e.kind, e.text) for e in elements] == [
        ("lyric", "Willy Wonka! Willy Wonka!\nThe amazing chocolatier!"),
        ("lyric", "Again!"),
    ]
    assert elements[0].name is None


def test_devanagari_sloka_in_lyrics_under_a_cue():
    cue, paren, lyric = parse_fountain(f"\n@मीरा\n(softly)\n{GAYATRI}")
    assert (cue.name, paren.kind, lyric.kind, lyric.name) == (
        "मीरा",
        "parenthetical",
        "lyric",
        "मीरा",
    )
    assert lyric.text.splitlines() == [
        "ॐ भूर्भुवः स्वः",
        "तत्सवितुर्वरेण्यं भर्गो देवस्य धीमहि",
        "धियो यो नः प्रचोदयात् ॥",
    ]


# --- notes, boneyard, sections, synopses, page breaks -------------------------------------


def test_notes_leave_the_text_and_stay_on_the_element():
    (action,) = parse_fountain("He opens the door. [[Is it locked?]] It creaks.")
    assert action.text == "He opens the door. It creaks."
    assert action.notes == ("Is it locked?",)
    (note,) = parse_fountain("[[A note\nover two lines]]")
    assert (note.kind, note.text) == ("note", "A note over two lines")


def test_a_note_line_inside_dialogue_does_not_break_it():
    script = "\nMEERA\n[[say it gently]]\nLight it again.\nBefore the bells."
    cue, line = parse_fountain(script)
    assert (line.kind, line.text, line.notes) == (
        "dialogue",
        "Light it again.\nBefore the bells.",
        ("say it gently",),
    )


def test_a_note_does_not_cross_an_empty_line():
    elements = parse_fountain("[[open\n\nstill open]]")
    assert all(e.kind == "action" for e in elements)


def test_boneyard_is_removed_even_across_blank_lines():
    script = "\nMEERA\n/* cut:\n\nARJUN\nNo. */\nLight it.\n\nINT. /* old */ HOUSE - DAY\n\nx"
    assert [(e.kind, e.text) for e in parse_fountain(script)] == [
        ("character", "MEERA"),
        ("dialogue", "Light it."),
        ("scene_heading", "INT. HOUSE - DAY"),
        ("action", "x"),
    ]


def test_sections_synopses_and_page_breaks():
    script = (
        "# ACT I\n\n## Dawn\n\n= Set up the lamp.\n\n===\n\nINT. ROOM - DAY\n\n= The lamp is lit."
    )
    elements = parse_fountain(script)
    assert [(e.kind, e.text, e.level) for e in elements] == [
        ("section", "ACT I", 1),
        ("section", "Dawn", 2),
        ("synopsis", "Set up the lamp.", 0),
        ("page_break", "", 0),
        ("scene_heading", "INT. ROOM - DAY", 0),
        ("synopsis", "The lamp is lit.", 0),
    ]


# --- emphasis and line endings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("*italic* and **bold**", "italic and bold"),
        ("***bold italics***", "bold italics"),
        (
            "_an *italicized* word within an underlined phrase_",
            "an italicized word within an underlined phrase",
        ),
        (
            "Steel enters the code on the keypad: \\*9765\\*",
            "Steel enters the code on the keypad: *9765*",
        ),
        ("my_snake_case stays", "my_snake_case stays"),
        ("2 * 3 * 4", "2 * 3 * 4"),
        ("  spaced   out  ", "spaced out"),
    ],
)
def test_emphasis_is_stripped(markup: str, text: str):
    assert plain_text(markup) == text


def test_dialogue_keeps_its_markup_and_speaks_plain():
    _, line = parse_fountain("\nMEERA\nLight it *again*, **now**.")
    assert (line.text, line.markup) == ("Light it again, now.", "Light it *again*, **now**.")


def test_crlf_and_byte_order_mark():
    assert kinds("\ufeffTitle: X\r\n\r\nINT. ROOM - DAY\r\n\r\nA lamp.\r\n") == [
        "title",
        "scene_heading",
        "action",
    ]


def test_plain_text_paragraphs():
    elements = parse_plain("First  paragraph\nwraps.\n\n\n  Second one.  \n")
    assert [(e.kind, e.text) for e in elements] == [
        ("scene_heading", ""),
        ("action", "First paragraph wraps."),
        ("scene_heading", ""),
        ("action", "Second one."),
    ]


# --- the storyboard: the-lamp end to end --------------------------------------------------


@pytest.fixture(scope="module")
def lamp() -> Storyboard:
    return analyse("fountain", LAMP, "en")


def test_the_lamp_title_credits_and_characters(lamp: Storyboard):
    assert lamp.title == "The Lamp"
    assert lamp.credits == {
        "Credit": "written by",
        "Author": "AI Film Studio",
        "Draft date": "2026-11-25",
    }
    assert [c.name for c in lamp.characters] == ["MEERA", "ARJUN"]
    meera, arjun = lamp.characters
    assert meera.voice == voice_for("en", 1).id and arjun.voice == voice_for("en", 2).id
    assert meera.voice != arjun.voice
    assert (meera.seed, arjun.seed) == (seed_for("MEERA"), seed_for("ARJUN"))
    assert meera.seed != arjun.seed and meera.language == "en"


def test_the_lamp_scenes(lamp: Storyboard):
    first, second = lamp.scenes
    assert [s.index for s in lamp.scenes] == [0, 1]
    assert (first.heading, first.place, first.interior) == (
        "INT. TEMPLE COURTYARD - DAWN",
        "TEMPLE COURTYARD",
        True,
    )
    assert (second.place, second.interior) == ("RIVER GHAT", False)
    assert (first.time_of_day, second.time_of_day) == ("dawn", "morning")
    assert first.mood == "devotional"  # temple, lamp, bells
    assert (first.transition, second.transition) == (None, "FADE OUT.")


def test_the_lamp_lines(lamp: Storyboard):
    first, second = lamp.scenes
    assert [(ln.character, ln.text) for ln in first.lines] == [
        ("MEERA", "Light it again, Arjun. Before the bells."),
        ("ARJUN", "The wind keeps stealing it, Amma."),
        ("MEERA", "Then we keep giving it back."),
    ]
    assert all(ln.kind == "dialogue" and ln.language == "en" for ln in lamp.scenes[0].lines)
    assert [ln.parenthetical for ln in first.lines] == [None, None, "smiling"]
    voice_over = second.lines[1]
    assert (voice_over.character, voice_over.extension) == ("MEERA", "V.O.")
    assert second.lines[0].extension is None
    # action is shown, not read: nothing of it is narrated
    assert not [ln for s in lamp.scenes for ln in s.lines if ln.kind == "narration"]


def test_the_lamp_shots(lamp: Storyboard):
    first, second = lamp.scenes
    assert [(s.speaker, s.characters, len(s.line_ids)) for s in first.shots] == [
        (None, [], 0),  # the mist and the lamp
        (None, ["MEERA"], 0),  # MEERA, (60s), wrapped in a white shawl ...
        ("MEERA", ["MEERA"], 1),
        (None, ["MEERA", "ARJUN"], 0),  # ARJUN (20s) hurries in ...
        ("ARJUN", ["MEERA", "ARJUN"], 1),
        ("MEERA", ["MEERA", "ARJUN"], 1),
    ]
    assert first.shots[5].description == "MEERA speaks (smiling): Then we keep giving it back."
    # a voice over is heard, not seen: no speaker to lip-sync, and Meera is not in the frame
    over = second.shots[-1]
    assert over.line_ids == [second.lines[1].id]
    assert (over.speaker, over.characters) == (None, ["ARJUN"])
    assert over.description == second.shots[0].description


@pytest.mark.parametrize("script", [LAMP, SLOKA])
def test_every_line_plays_in_exactly_one_shot_and_seconds_add_up(script: str):
    board = analyse("fountain", script, "hi")
    for scene in board.scenes:
        assert [i for shot in scene.shots for i in shot.line_ids] == [ln.id for ln in scene.lines]
        lines = {ln.id: ln for ln in scene.lines}
        for shot in scene.shots:
            assert shot.estimated_seconds >= sum(lines[i].estimated_seconds for i in shot.line_ids)
            assert shot.estimated_seconds > 0
        assert scene.estimated_seconds == pytest.approx(
            sum(s.estimated_seconds for s in scene.shots)
        )
    assert board.estimated_seconds == pytest.approx(sum(s.estimated_seconds for s in board.scenes))


def test_durations_agree_with_the_coarse_estimate(lamp: Storyboard):
    coarse = estimate_seconds("fountain", LAMP)
    assert 0.6 * coarse <= lamp.estimated_seconds <= 1.2 * coarse
    assert lamp.scenes[0].lines[0].estimated_seconds == pytest.approx(7 / 2.5)


def test_storyboard_json_round_trip(lamp: Storyboard):
    again = Storyboard.model_validate_json(lamp.model_dump_json())
    assert again == lamp
    sloka = analyse("fountain", SLOKA, "hi")
    assert Storyboard.model_validate_json(sloka.model_dump_json()) == sloka


def test_analysis_is_deterministic():
    assert analyse("fountain", LAMP, "en") == analyse("fountain", LAMP, "en")


# --- the sloka example, Devanagari, languages ---------------------------------------------


def test_the_sloka_example_parses_into_the_expected_shape():
    board = analyse("fountain", SLOKA, "hi")
    assert board.title == "दीपक" and board.language == "hi"
    assert [c.name for c in board.characters] == ["मीरा", "अर्जुन"]
    assert [c.voice for c in board.characters] == ["espeak:hi/1", "espeak:hi/2"]
    temple, ghat = board.scenes
    assert (temple.place, temple.interior, temple.time_of_day) == ("TEMPLE SANCTUM", True, "dawn")
    assert (ghat.heading, ghat.place, ghat.interior) == ("गंगा घाट - शाम", "गंगा घाट", None)
    assert ghat.time_of_day == "evening"
    assert temple.mood == ghat.mood == "devotional"
    assert [(ln.kind, ln.character, ln.language) for ln in temple.lines] == [
        ("narration", None, "hi"),
        ("lyric", "मीरा", "sa"),
    ]
    assert [(ln.kind, ln.character, ln.language) for ln in ghat.lines] == [
        ("dialogue", "अर्जुन", "hi"),
        ("narration", None, "hi"),
        ("lyric", None, "sa"),
    ]
    gayatri = temple.lines[1]
    assert gayatri.text.startswith("ॐ भूर्भुवः स्वः\n") and gayatri.parenthetical == "आँखें बंद करके"
    assert gayatri.estimated_seconds > len(gayatri.text.split()) / 2.5  # chanted, slower
    assert ghat.shots[-1].description == "समाप्त"  # the centered end card


@pytest.mark.parametrize("language", ["hi", "sa"])
def test_a_devanagari_sloka_in_lyrics(language: str):
    board = analyse("fountain", f"INT. TEMPLE - DAWN\n\nA diya burns.\n\n{GAYATRI}", language)
    (scene,) = board.scenes
    (line,) = scene.lines
    assert (line.kind, line.character, line.language) == ("lyric", None, language)
    assert "तत्सवितुर्वरेण्यं" in line.text and "~" not in line.text
    assert scene.mood == "devotional"
    assert scene.shots[-1].line_ids == [line.id] and scene.shots[-1].description == "A diya burns."


def test_devanagari_in_an_english_script_is_spoken_in_hindi():
    board = analyse("fountain", f"INT. TEMPLE - DAWN\n\n{GAYATRI}\n\n~Light of lights.", "en")
    assert [ln.language for ln in board.scenes[0].lines] == ["hi", "en"]


def test_a_language_note_sets_a_lines_language():
    script = "\nNARRATOR\nसुनो।\n\nNARRATOR\nतत्सवितुर्वरेण्यं [[language: sa]]"
    lines = analyse("fountain", script, "hi").scenes[0].lines
    assert [ln.language for ln in lines] == ["hi", "sa"]
    assert lines[1].text == "तत्सवितुर्वरेण्यं"


def test_a_narrator_cue_is_narration_and_not_a_character():
    board = analyse("fountain", "\nNARRATOR\nOnce, a lamp.\n\nMEERA\nHello.", "en")
    assert [c.name for c in board.characters] == ["MEERA"]
    assert [(ln.kind, ln.character) for ln in board.scenes[0].lines] == [
        ("narration", None),
        ("dialogue", "MEERA"),
    ]
    assert board.scenes[0].heading == "" and board.scenes[0].place == ""  # no heading at all


# --- plain text -----------------------------------------------------------------------------

PLAIN = """The Lamp

At dawn the temple is quiet. An old woman lights a lamp.
Her grandson runs in, late again.

By evening the lamp floats on the river. It is small. It is bright. It does not go out, however
hard the wind blows across the dark and endless water of the ghat.
"""


def test_plain_text_paragraphs_become_narrated_scenes():
    board = analyse("plain", PLAIN, "en")
    assert board.title == "The Lamp" and board.characters == []
    assert len(board.scenes) == 3
    lines = [ln for s in board.scenes for ln in s.lines]
    assert {(ln.kind, ln.character) for ln in lines} == {("narration", None)}
    assert [ln.text for ln in board.scenes[1].lines] == [
        "At dawn the temple is quiet.",
        "An old woman lights a lamp.",
        "Her grandson runs in, late again.",
    ]
    assert [s.time_of_day for s in board.scenes] == ["unknown", "dawn", "evening"]
    for scene in board.scenes:
        for shot in scene.shots:
            assert shot.estimated_seconds <= 8.0 or len(shot.line_ids) == 1
    assert len(board.scenes[2].shots) > 1


def test_a_plain_script_without_a_short_first_line_is_untitled():
    assert analyse("plain", "It was late. The lamp burned.", "en").title == "Untitled"


# --- stable ids ---------------------------------------------------------------------------


def test_editing_a_line_keeps_every_id(lamp: Storyboard):
    edited = analyse("fountain", LAMP.replace("same small fire", "same little fire"), "en")
    assert edited.scenes[0] == lamp.scenes[0]
    ids = [(s.id, [ln.id for ln in s.lines], [sh.id for sh in s.shots]) for s in edited.scenes]
    assert ids == [
        (s.id, [ln.id for ln in s.lines], [sh.id for sh in s.shots]) for s in lamp.scenes
    ]
    changed = [ln.id for ln in edited.scenes[1].lines if ln not in lamp.scenes[1].lines]
    assert len(changed) == 1  # only the edited line differs


def test_a_new_heading_gives_the_scene_new_ids(lamp: Storyboard):
    moved = analyse("fountain", LAMP.replace("EXT. RIVER GHAT", "EXT. RIVER BANK"), "en")
    assert moved.scenes[0] == lamp.scenes[0]
    assert moved.scenes[1].id != lamp.scenes[1].id
    assert not {ln.id for ln in moved.scenes[1].lines} & {ln.id for ln in lamp.scenes[1].lines}


def test_reordering_scenes_keeps_their_ids(lamp: Storyboard):
    first, second = LAMP.split("EXT. RIVER GHAT")
    title, scene_one = first.split("INT. TEMPLE")
    swapped = analyse("fountain", f"{title}EXT. RIVER GHAT{second}\n\nINT. TEMPLE{scene_one}", "en")
    assert [s.id for s in swapped.scenes] == [s.id for s in reversed(lamp.scenes)]
    assert [s.index for s in swapped.scenes] == [0, 1]


def test_notes_and_emphasis_do_not_change_ids(lamp: Storyboard):
    noted = LAMP.replace("Before the bells.", "Before the *bells*. [[louder]]")
    assert [s.id for s in analyse("fountain", noted, "en").scenes] == [s.id for s in lamp.scenes]


def test_identical_scenes_and_lines_still_get_distinct_ids():
    scene = "INT. ROOM - DAY\n\nMEERA\nAgain.\n\nMEERA\nAgain.\n\n"
    board = analyse("fountain", scene * 3, "en")
    ids = [ln.id for s in board.scenes for ln in s.lines] + [s.id for s in board.scenes]
    ids += [shot.id for s in board.scenes for shot in s.shots]
    assert len(ids) == len(set(ids))
    # a later copy's ids do not depend on what comes before it
    assert analyse("fountain", "INT. X - DAY\n\nx\n\n" + scene, "en").scenes[1] == board.scenes[
        0
    ].model_copy(update={"index": 1})


# --- voices, moods, times -----------------------------------------------------------------


def test_user_voice_overrides():
    board = analyse(
        "fountain", LAMP, "en", voices={"arjun": "espeak:en/5", "NOBODY": "piper:joe/3"}
    )
    assert board.character("ARJUN").voice == "espeak:en/5"
    assert board.character("MEERA").voice == voice_for("en", 1).id
    with pytest.raises(ValueError, match="voice"):
        analyse("fountain", LAMP, "en", voices={"MEERA": "nonsense"})


def test_many_characters_never_take_the_narrators_voice():
    script = "".join(f"\nC{i}\nHello.\n" for i in range(10))
    board = analyse("fountain", script, "hi")
    assert len(board.characters) == 10
    assert voice_for("hi", 0).id not in {c.voice for c in board.characters}


@pytest.mark.parametrize(
    ("heading", "place", "interior", "time"),
    [
        ("INT. KITCHEN - NIGHT", "KITCHEN", True, "night"),
        ("EXT. FIELD - DUSK", "FIELD", False, "dusk"),
        ("EXT. ROOF - SUNSET", "ROOF", False, "dusk"),
        ("EST. CITY - EVENING", "CITY", False, "evening"),
        ("INT./EXT. CAR - DAY", "CAR", None, "day"),
        ("I/E HOUSE - LATE AFTERNOON", "HOUSE", None, "day"),
        ("INT. HOUSE - KITCHEN - EARLY MORNING", "HOUSE - KITCHEN", True, "morning"),
        ("INT. HALL", "HALL", True, "unknown"),
    ],
)
def test_place_interior_and_time_of_day(heading: str, place: str, interior, time: str):
    (scene,) = analyse("fountain", f"{heading}\n\nx", "en").scenes
    assert (scene.place, scene.interior, scene.time_of_day) == (place, interior, time)


def test_continuous_keeps_the_time_of_day():
    script = "INT. HALL - DUSK\n\nx\n\nINT. KITCHEN - CONTINUOUS\n\ny"
    kitchen = analyse("fountain", script, "en").scenes[1]
    assert (kitchen.place, kitchen.time_of_day) == ("KITCHEN", "dusk")


@pytest.mark.parametrize(
    ("action", "mood"),
    [
        ("Gunshots. She runs, screaming, as the storm breaks.", "tense"),
        ("He weeps alone at the funeral.", "sad"),
        ("The children laugh and dance at the festival.", "joyful"),
        ("A whisper in the shadows. Something strange in the fog.", "mysterious"),
        ("The crowd cheers the champion's victory.", "triumphant"),
        ("She prays at the temple as the bells ring.", "devotional"),
        ("He reads the paper.", "calm"),
    ],
)
def test_mood_from_keywords(action: str, mood: str):
    assert analyse("fountain", f"INT. ROOM - DAY\n\n{action}", "en").scenes[0].mood == mood


def test_sections_synopses_and_dual_dialogue_reach_the_storyboard():
    script = (
        "# ACT ONE\n\n= The act's synopsis.\n\nINT. ROOM - DAY\n\n= The scene's synopsis.\n\n"
        "JACK\nI love you!\n\nJILL ^\nI hate you!\n\nCUT TO:\n\nEXT. YARD - DAY\n\nx"
    )
    room, yard = analyse("fountain", script, "en").scenes
    assert (room.section, room.synopsis, room.transition) == (
        "ACT ONE",
        "The scene's synopsis.",
        "CUT TO:",
    )
    assert (yard.section, yard.synopsis) == ("ACT ONE", None)
    assert [(ln.character, ln.dual) for ln in room.lines] == [("JACK", True), ("JILL", True)]
    assert [s.speaker for s in room.shots] == ["JACK", "JILL"]


def test_off_screen_speakers_are_not_seen():
    board = analyse("fountain", "INT. ROOM - DAY\n\nRavi cooks.\n\nASHA (O.S.)\nDinner?", "en")
    (_, heard) = board.scenes[0].shots
    assert (heard.speaker, heard.characters) == (None, [])


def test_bad_input():
    with pytest.raises(ValueError, match="fountain"):
        analyse("fdx", LAMP, "en")
    with pytest.raises(ValueError, match="nothing"):
        analyse("fountain", "Title: Empty\n\n[[just a note]]\n/* and bones */", "en")
    with pytest.raises(ValueError, match="language"):
        analyse("fountain", LAMP, "")
