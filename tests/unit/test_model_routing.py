"""Which units run on the model backends, where they go, and the rules around final quality."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import pytest
from pydantic import ValidationError

from adapters.settings import Settings
from adapters.topics import Topics
from domain import screenplay
from domain.errors import Conflict, Invalid, NotFound
from domain.fountain import scene_spans
from domain.production import ProductionOptions
from domain.project import Project
from domain.user import User
from domain.voices import parse_voice
from gpu_consumers.final.licences import LicenceRefused, check_licence, read_card
from gpu_consumers.final.loading import ModelMissing, model_directory
from processors import planning

LAMP = (Path(__file__).parents[2] / "examples" / "the-lamp.fountain").read_text()


def production(quality: str, **extra) -> planning.Production:
    fields = {
        "script_format": "fountain",
        "script_text": LAMP,
        "language": "en",
        "aspect_ratio": "16:9",
        "languages": ["en", "hi"],
        "burn_subtitles": False,
        "voices": {},
        "quality": quality,
    }
    return planning.Production(**{**fields, **extra})


def plan_all(p: planning.Production) -> dict[str, list[planning.PlannedUnit]]:
    board = screenplay.analyse("fountain", LAMP, "en", p.voices or None)
    fake = {"script_analysis": {"script": "a" * 64}}
    plans = {"script_analysis": planning.plan_script(p)}
    for stage in ("image_generation", "voice_synthesis", "music"):
        plans[stage] = planning.plan(stage, p, board, fake)
        fake[stage] = {u.unit: "b" * 64 for u in plans[stage]}
    plans["subtitles"] = planning.plan("subtitles", p, board, fake)
    return plans


def test_draft_runs_every_unit_offline():
    for units in plan_all(production("draft", languages=["en"])).values():
        assert {u.quality for u in units} == {"draft"}


def test_final_sends_model_stages_to_the_model_backend():
    plans = plan_all(production("final", style="noir"))
    assert {u.quality for u in plans["script_analysis"]} == {"final"}
    assert {u.quality for u in plans["image_generation"]} == {"final"}
    assert all(u.inputs.style == "noir" for u in plans["image_generation"])
    assert {u.quality for u in plans["music"]} == {"draft"}
    voices = {u.quality for u in plans["voice_synthesis"] if u.inputs.line.kind != "lyric"}
    assert voices == {"final"}
    subtitles = {u.unit: u.quality for u in plans["subtitles"]}
    assert subtitles == {"en": "draft", "hi": "final"}, "only translation needs the model"


def test_model_keys_change_with_the_model_revision_and_differ_from_draft():
    draft = plan_all(production("draft"))["image_generation"][0]
    final = plan_all(production("final"))["image_generation"][0]
    bumped = plan_all(production("final", model_revision="2"))["image_generation"][0]
    assert len({draft.key("image_generation"), final.key("image_generation"),
                bumped.key("image_generation")}) == 3  # fmt: skip


def test_cloned_voices_carry_their_owner_for_the_worker():
    owner = str(uuid4())
    sample = f"clone:{uuid4()}/0"
    p = production("final", voices={"MEERA": sample}, owner_id=owner)
    voiced = plan_all(p)["voice_synthesis"]
    cloned = [u for u in voiced if u.inputs.voice == sample]
    assert cloned and all(u.inputs.owner == owner for u in cloned)
    others = [u.inputs for u in voiced if u.inputs.voice != sample]
    assert others and all(i.owner is None for i in others)
    assert all("owner" not in i.model_dump(mode="json") for i in others), "keys stay as they were"


def test_model_stages_get_more_time_in_final_quality():
    assert planning.deadline_seconds("image_generation", "final") > planning.deadline_seconds(
        "image_generation", "draft"
    )
    assert planning.deadline_seconds("music", "final") == planning.deadline_seconds(
        "music", "draft"
    )


def test_model_units_have_their_own_work_topics():
    topics = Topics("studio")
    assert topics.work("image_generation", "final") == "studio.work.image_generation.final"
    assert topics.work("image_generation", "draft") == "studio.work.image_generation"


def test_model_voice_ids_parse_and_bad_ones_say_why():
    sample = uuid4()
    assert parse_voice(f"clone:{sample}/0").sample_id == sample
    assert parse_voice("coqui:p225/3").needs_model
    assert not parse_voice("piper:joe/1").needs_model
    with pytest.raises(ValueError, match="sample id"):
        parse_voice("clone:not-a-uuid/0")
    with pytest.raises(ValueError, match="speaker name"):
        parse_voice("coqui:bad name!/0")


def test_styles_and_model_voices_need_final_quality():
    with pytest.raises(ValidationError, match="final"):
        ProductionOptions(style="noir")
    with pytest.raises(ValidationError, match="final"):
        ProductionOptions(voices={"MEERA": f"clone:{uuid4()}/0"})
    with pytest.raises(ValidationError, match="pattern"):
        ProductionOptions(quality="final", style="../etc")
    sample = uuid4()
    options = ProductionOptions(quality="final", voices={"MEERA": f"clone:{sample}/0"})
    assert options.voice_samples() == {sample}


def test_a_user_casts_only_their_own_samples_and_erasure_forgets_them():
    user = User(id=uuid4(), email_cipher="e", display_name_cipher="n",
                password_hash_cipher="p", role="creator")  # fmt: skip
    mine, other = uuid4(), uuid4()
    user.add_voice_sample(mine, "name", 4.0)
    user.add_voice_sample(mine, "name", 4.0)
    assert len(user.collect_events()) == 2, "adding the same sample twice records it once"
    user.check_voice_samples({mine})
    with pytest.raises(Invalid, match=str(other)):
        user.check_voice_samples({other})
    with pytest.raises(NotFound):
        user.remove_voice_sample(other)
    user.erase()
    assert user.voice_samples == {}
    with pytest.raises(Conflict):
        user.add_voice_sample(uuid4(), "n", 4.0)


def test_a_suggestion_holds_only_for_the_revision_it_was_made_on():
    project = Project.create(uuid4(), "t", "en", "16:9")
    with pytest.raises(Conflict, match="no script"):
        project.suggest(uuid4(), 1, "tighten", "x", "m")
    project.revise_script("fountain", LAMP)
    suggestion = uuid4()
    project.suggest(suggestion, 1, "tighten", "INT. X - DAY\n", "m")
    assert project.suggestion(suggestion)["scene"] == 1
    with pytest.raises(Invalid, match="action"):
        project.suggest(uuid4(), 1, "rewrite", "x", "m")
    project.revise_script("fountain", LAMP + "\n")
    with pytest.raises(Conflict, match="ask again"):
        project.suggestion(suggestion)


def test_scene_spans_find_each_scene_of_a_fountain_script():
    lines = LAMP.split("\n")
    spans = scene_spans("fountain", LAMP)
    assert len(spans) == len(screenplay.analyse("fountain", LAMP, "en").scenes)
    assert all(lines[a].startswith(("INT.", "EXT.")) for a, _ in spans)
    assert spans[-1][1] == len(lines)
    assert scene_spans("plain", "One.\nTwo.\n\nThree.") == [(0, 3), (3, 4)]


def card(directory: Path, front: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "README.md").write_text(f"---\n{front}\n---\n# A model\n")
    (directory / "config.json").write_text("{}")
    return directory


def test_licences_come_from_the_model_card(tmp_path):
    assert (
        read_card(card(tmp_path / "a", "license: OpenRAIL++\nlanguage: en")).licence == "openrail++"
    )
    assert (
        read_card(
            card(tmp_path / "b", "license: other\nlicense_name: coqui-public-model-license")
        ).licence
        == "coqui-public-model-license"
    )  # noqa: E501
    assert read_card(tmp_path).licence == "unknown"


def test_a_non_commercial_or_unknown_licence_is_refused_unless_the_operator_opts_in(tmp_path):
    xtts = card(tmp_path / "xtts", "license: other\nlicense_name: coqui-public-model-license")
    with pytest.raises(LicenceRefused, match="FILMSTUDIO_ALLOW_NONCOMMERCIAL_MODELS"):
        check_licence("tts", xtts, allow_noncommercial=False)
    with pytest.raises(LicenceRefused, match="'unknown'"):
        check_licence("tts", card(tmp_path / "bare", "tags: [tts]"), allow_noncommercial=False)
    assert check_licence("tts", xtts, allow_noncommercial=True).licence.startswith("coqui")
    assert check_licence("sdxl", card(tmp_path / "sdxl", "license: openrail++"), False).commercial


def test_a_missing_model_folder_names_where_to_put_it(tmp_path):
    settings = Settings(models_dir=tmp_path)
    with pytest.raises(ModelMissing, match=str(tmp_path / "sdxl")):
        model_directory(settings, "sdxl")
    card(tmp_path / "tts", "license: cc-by-nc-4.0")
    with pytest.raises(LicenceRefused):
        model_directory(settings, "tts")


def test_a_part_with_its_own_card_needs_an_allowed_licence_too(tmp_path):
    settings = Settings(models_dir=tmp_path)
    card(tmp_path / "tts", "license: apache-2.0")
    assert model_directory(settings, "tts")[1].licence == "apache-2.0"
    card(tmp_path / "tts" / "vc", "license: cc-by-nc-nd-4.0")
    with pytest.raises(LicenceRefused, match=r"tts \(vc\)"):
        model_directory(settings, "tts")


def test_final_workers_run_only_where_the_model_backends_are_on():
    from filmstudio.processes import studio_processes

    def names(on: bool) -> list[str]:
        return [p.name for p in studio_processes(Settings(model_backends=on))]

    assert "final-workers" in names(True)
    assert "final-workers" not in names(False)
    stopped = [p.name for p in studio_processes(Settings(model_backends=False), every=True)]
    assert "final-workers" in stopped, "down stops final workers an earlier up started"
