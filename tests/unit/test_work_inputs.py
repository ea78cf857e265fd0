"""The typed inputs of work units: one model per stage, checked on the wire, hashed into keys."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from adapters.media import artifact_key
from domain import screenplay
from domain.stages import STAGES
from domain.storyboard import Scene
from gpu_consumers.units import inputs_of
from processors import planning
from schemas.work import (
    STAGE_INPUTS,
    DeadLetter,
    FilmInputs,
    JoinInputs,
    LineInputs,
    SceneSetting,
    ScoreInputs,
    SegmentInputs,
    ShotInputs,
    SoundInputs,
    SubtitlesInputs,
    WorkUnit,
)

LAMP = (Path(__file__).parents[2] / "examples" / "the-lamp.fountain").read_text()
Plans = dict[str, list[planning.PlannedUnit]]


def production(script: str = LAMP, **extra) -> planning.Production:
    fields = {
        "script_format": "fountain",
        "script_text": script,
        "language": "en",
        "aspect_ratio": "16:9",
        "languages": ["en", "hi"],
        "burn_subtitles": True,
        "voices": {},
    }
    return planning.Production(**{**fields, **extra})


def plan_all(p: planning.Production) -> Plans:
    """Every stage's units, each stage planned on the keys of the units before it."""
    board = screenplay.analyse(p.script_format, p.script_text, p.language, p.voices or None)
    plans = {"script_analysis": planning.plan_script(p)}
    artifacts = {"script_analysis": {u.unit: u.key("script_analysis") for u in plans[STAGES[0]]}}
    for stage in STAGES[1:]:
        plans[stage] = planning.plan(stage, p, board, artifacts)
        artifacts[stage] = {u.unit: u.key(stage) for u in plans[stage]}
    return plans


def keys(plans: Plans) -> dict[tuple[str, str], str]:
    return {(stage, u.unit): u.key(stage) for stage, units in plans.items() for u in units}


def work(stage: str, planned: planning.PlannedUnit) -> WorkUnit:
    return WorkUnit(
        production_id=uuid4(),
        stage=stage,
        unit=planned.unit,
        attempt=1,
        quality=planned.quality,
        key=planned.key(stage),
        inputs=planned.inputs,
    )


@pytest.fixture(scope="module")
def draft() -> Plans:
    return plan_all(production())


@pytest.fixture(scope="module")
def final() -> Plans:
    cloned = {"MEERA": f"clone:{uuid4()}/0"}
    return plan_all(production(quality="final", style="noir", voices=cloned, owner_id=str(uuid4())))


def _of_its_stage(stage: str, inputs: object) -> bool:
    """Exactly the stage's model; composition's validates as one of its kinds."""
    if stage == "composition":
        return type(inputs) in (SegmentInputs, JoinInputs, SoundInputs, FilmInputs)
    return type(inputs) is STAGE_INPUTS[stage]


def test_every_stage_has_its_inputs_model():
    assert set(STAGE_INPUTS) == set(STAGES)
    assert len(set(STAGE_INPUTS.values())) == len(STAGES), "no two stages share a model"


def test_a_scene_setting_is_a_scene_without_its_shots_and_lines():
    content = {"shots", "lines", "estimated_seconds"}
    assert set(SceneSetting.model_fields) == set(Scene.model_fields) - content
    scene = screenplay.analyse("fountain", LAMP, "en").scenes[0]
    setting = SceneSetting.of(scene)
    assert setting.with_content(scene.shots, scene.lines) == scene


def test_planned_inputs_are_the_models_of_their_stages(draft, final):
    for plans in (draft, final):
        for stage, units in plans.items():
            assert units, f"the lamp has units of {stage}"
            assert all(_of_its_stage(stage, u.inputs) for u in units)


def test_every_stage_survives_the_wire_unchanged(draft, final):
    for plans in (draft, final):
        for stage, units in plans.items():
            for planned in units:
                unit = work(stage, planned)
                wire = json.loads(unit.to_bytes())
                assert wire["inputs"] == planned.inputs.model_dump(mode="json")
                decoded = WorkUnit.model_validate_json(unit.to_bytes())
                assert decoded == unit
                assert type(decoded.inputs) is type(planned.inputs)
                assert _of_its_stage(stage, decoded.inputs)
                again = planning.PlannedUnit(
                    planned.unit, decoded.inputs, planned.quality, planned.version, planned.owner
                )
                assert again.key(stage) == unit.key, "the key is the same after the trip"
                letter = DeadLetter(unit=unit, error="boom", attempts=3)
                assert DeadLetter.model_validate_json(letter.to_bytes()) == letter


def test_inputs_that_do_not_fit_the_stage_are_rejected(draft):
    samples = {stage: units[0] for stage, units in draft.items()}
    for stage in STAGES:
        for other, planned in samples.items():
            if other == stage:
                continue
            with pytest.raises(ValidationError, match=STAGE_INPUTS[stage].__name__):
                work(stage, planned)  # the model itself
            unit = work(other, planned)
            wire = {**json.loads(unit.to_bytes()), "stage": stage}
            with pytest.raises(ValidationError, match="inputs"):
                WorkUnit.model_validate(wire)  # its JSON object


def test_unknown_stages_and_stray_or_missing_fields_are_rejected(draft):
    unit = work("music", draft["music"][0])
    wire = json.loads(unit.to_bytes())
    with pytest.raises(ValidationError, match="no inputs for stage 'sculpture'"):
        WorkUnit.model_validate({**wire, "stage": "sculpture"})
    with pytest.raises(ValidationError, match="extra"):
        WorkUnit.model_validate({**wire, "inputs": {**wire["inputs"], "tempo": 90}})
    without_mood = {k: v for k, v in wire["inputs"].items() if k != "mood"}
    with pytest.raises(ValidationError, match="mood"):
        WorkUnit.model_validate({**wire, "inputs": without_mood})
    with pytest.raises(ValidationError, match="mood"):
        WorkUnit.model_validate({**wire, "inputs": {**wire["inputs"], "mood": "bored"}})
    subtitles = json.loads(work("subtitles", draft["subtitles"][0]).to_bytes())
    with pytest.raises(ValidationError, match="pattern"):
        WorkUnit.model_validate({**subtitles, "inputs": {**subtitles["inputs"], "storyboard": "x"}})


def test_a_reader_asking_for_another_stage_s_inputs_is_told(draft):
    unit = work("music", draft["music"][0])
    assert isinstance(inputs_of(unit, ScoreInputs), ScoreInputs)
    with pytest.raises(TypeError, match="ScoreInputs, not ShotInputs"):
        inputs_of(unit, ShotInputs)


def test_the_key_hashes_the_json_of_the_inputs(draft):
    planned = draft["music"][0]
    assert isinstance(planned.inputs, ScoreInputs)
    plain = {
        "mood": planned.inputs.mood,
        "seconds": planned.inputs.seconds,
        "scene": planned.inputs.scene,
    }
    assert planned.key("music") == artifact_key("music", "draft", planning.VERSION, plain)


def test_an_uncloned_voice_has_no_owner_on_the_wire(final):
    voiced = final["voice_synthesis"]
    cloned = [u for u in voiced if isinstance(u.inputs, LineInputs) and u.inputs.owner]
    plain = [u for u in voiced if isinstance(u.inputs, LineInputs) and u.inputs.owner is None]
    assert cloned and plain
    assert all(
        "owner" in json.loads(work("voice_synthesis", u).to_bytes())["inputs"] for u in cloned
    )
    for u in plain:
        assert "owner" not in json.loads(work("voice_synthesis", u).to_bytes())["inputs"]


def test_editing_one_shot_changes_only_what_it_touches(draft):
    edited = plan_all(production(LAMP.replace("Mist hangs", "Fog hangs")))
    before, after = keys(draft), keys(edited)
    first, second = screenplay.analyse("fountain", LAMP, "en").scenes
    per_scene = ("image_generation", "voice_synthesis", "music", "lip_sync")
    of_first = [k for k in before if k[0] in per_scene and first.id in k[1]]
    of_second = [k for k in before if k[0] in per_scene and second.id in k[1]]
    assert of_first and of_second
    assert all(after.get(k) == before[k] for k in of_second), "the other scene is reused"
    misty = next(shot.id for shot in first.shots if "Mist hangs" in shot.description)
    changed = {k for k in of_first if after.get(k) != before[k]}
    assert ("image_generation", misty) in changed, "the edited shot is painted again"
    assert set(of_first) - changed, "the edited scene's other units are reused"
    for whole in (("script_analysis", "script"), ("subtitles", "en"), ("composition", "film")):
        assert before[whole] != after[whole]


def test_editing_a_line_re_voices_it_and_leaves_the_other_scene(draft):
    first, second = screenplay.analyse("fountain", LAMP, "en").scenes
    line = second.lines[0]
    script = LAMP.replace(line.text, line.text.replace("small", "little"))
    edited = screenplay.analyse("fountain", script, "en").scenes[1].lines[0]
    before, after = keys(draft), keys(plan_all(production(script)))
    assert edited.text != line.text
    assert before["voice_synthesis", line.id] != after["voice_synthesis", edited.id]
    assert before["voice_synthesis", line.id] not in after.values()
    for unit in [k for k in before if first.id in k[1]]:
        assert before[unit] == after[unit], f"{unit} of the untouched scene is reused"


def test_editing_a_line_re_renders_its_shot_s_piece_the_next_one_and_the_film(draft):
    board = screenplay.analyse("fountain", LAMP, "en")
    shots = [shot for scene in board.scenes for shot in scene.shots]
    for scene in board.scenes:
        line = scene.lines[0]
        at = next(i for i, shot in enumerate(shots) if line.id in shot.line_ids)
        edited = plan_all(production(LAMP.replace(line.text, line.text + " Truly.")))
        before, after = keys(draft), keys(edited)
        changed = {k[1] for k in before if k[0] == "composition" and after.get(k) != before[k]}
        # the next piece opens with the crossfade out of the edited shot
        expected = {f"shot-{s.id}" for s in shots[at : at + 2]} | {"sound", "film"}
        assert changed == expected, "every other piece is found by its key"


def test_composition_plans_the_sound_and_a_piece_per_shot_then_the_film_after_them(draft):
    board = screenplay.analyse("fountain", LAMP, "en")
    shots = [shot for scene in board.scenes for shot in scene.shots]
    units = draft["composition"]
    pieces = [f"shot-{shot.id}" for shot in shots]
    assert [u.unit for u in units] == ["sound", *pieces, "film"]
    assert [u.after for u in units] == [()] * (len(pieces) + 1) + [("sound", *pieces)]
    sound, film = units[0], units[-1].inputs
    assert isinstance(film, FilmInputs) and isinstance(sound.inputs, SoundInputs)
    assert film.pieces == [u.key("composition") for u in units[1:-1]], "named by their keys"
    assert film.sound == sound.key("composition")
    assert (sound.inputs.voices, sound.inputs.music) == (film.voices, film.music)
    inputs = [u.inputs for u in units[1:-1]]
    assert all(isinstance(p, SegmentInputs) for p in inputs)
    segments = [p for p in inputs if isinstance(p, SegmentInputs)]
    assert [[s.id for s in p.shots] for p in segments] == [[shot.id] for shot in shots]
    lead_ins = [p.lead_in.id if p.lead_in else None for p in segments]
    assert lead_ins == [None, *(shot.id for shot in shots[:-1])], "opened by the crossfade in"
    assert [(p.head, p.tail) for p in segments] == [(0, 15)] * (len(shots) - 1) + [(0, 0)]
    assert all(p.burn and p.burn_track is None and not p.earlier for p in segments)


def test_a_piece_opened_by_a_lead_in_has_no_head_to_cut(draft):
    piece = draft["composition"][2].inputs
    assert isinstance(piece, SegmentInputs) and piece.lead_in is not None
    with pytest.raises(ValidationError, match="no head to cut"):
        SegmentInputs.model_validate({**piece.model_dump(), "head": 15})


def test_burning_a_translated_track_makes_every_piece_depend_on_every_voice():
    plans = plan_all(production(quality="final", languages=["hi"]))
    pieces = [u.inputs for u in plans["composition"][1:-1]]
    hindi = plans["subtitles"][0].key("subtitles")
    assert all(isinstance(p, SegmentInputs) for p in pieces)
    assert {p.burn_track for p in pieces} == {hindi}  # type: ignore[union-attr]
    # each after the shots before its lead-in: the track is timed on the film
    assert [len(p.earlier) for p in pieces] == [0, *range(len(pieces) - 1)]  # type: ignore[union-attr]


def test_keys_follow_each_kind_of_input():
    base = keys(plan_all(production()))
    portrait = keys(plan_all(production(aspect_ratio="9:16")))
    tracked = keys(plan_all(production(burn_subtitles=False)))
    assert base == keys(plan_all(production())), "the same production, the same keys"
    frames = [k for k in base if k[0] == "image_generation"]
    assert all(base[k] != portrait[k] for k in frames)
    assert all(base[k] == tracked[k] for k in base if k[0] != "composition")
    assert base["composition", "film"] != tracked["composition", "film"]
    noir = keys(plan_all(production(quality="final", style="noir")))
    watercolour = keys(plan_all(production(quality="final", style="watercolour")))
    assert all(noir[k] != watercolour[k] for k in frames)
    assert all(noir[k] == watercolour[k] for k in base if k[0] in ("voice_synthesis", "music"))


def test_inputs_are_frozen(draft):
    inputs = draft["music"][0].inputs
    with pytest.raises(ValidationError, match="frozen"):
        inputs.seconds = 1.0  # type: ignore[misc]
    assert SubtitlesInputs.model_config.get("extra") == "forbid"
