"""What each stage's GPU worker computes with the model backends ("final" quality).

Each compute takes a batch of units (image generation renders a batch in one pipeline call; the
others go unit by unit) and writes the same artifact files as the offline backends, so every later
stage reads them unchanged. Models load once per process, on first use, from
`settings.models_root` (`loading.py`); `model.json` beside each artifact names the model folder's
fingerprint and licence.
"""

from __future__ import annotations

import json
import tempfile
from functools import cache
from pathlib import Path
from typing import Any
from uuid import UUID

from PIL import Image

from adapters.media import MediaStore
from adapters.settings import get_settings
from domain import screenplay
from domain.voices import VARIANTS, parse_voice, voice_for
from gpu_consumers import units as offline
from gpu_consumers.draft import subtitles, voices
from gpu_consumers.draft.timeline import place
from gpu_consumers.final.loading import device, fingerprint, model_directory, release_memory
from gpu_consumers.worker import BatchCompute, one_by_one
from schemas.work import LineInputs, ScriptInputs, ShotInputs, SubtitlesInputs, WorkUnit

MODEL_META = "model.json"


@cache
def _loaded(family: str) -> tuple[Any, dict[str, str]]:
    """The family's loaded model and what artifacts record of it (loaded once per process)."""
    settings = get_settings()
    directory, card = model_directory(settings, family)
    where = device(settings)
    if family == "sdxl":
        from gpu_consumers.final.images import ImageGenerator

        model: Any = ImageGenerator.load(directory, where)
    elif family == "script-analysis":
        from gpu_consumers.final.analysis import ScriptAnalyser

        model = ScriptAnalyser.load(directory, where)
    else:
        from gpu_consumers.final.speech import NeuralVoice

        model = NeuralVoice.load(directory, where)
    return model, {"family": family, "fingerprint": fingerprint(directory), "licence": card.licence}


def _record(out: Path, meta: dict[str, str], **extra: Any) -> None:
    (out / MODEL_META).write_text(json.dumps({**meta, **extra}))


def script_analysis(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    """The parser's storyboard, enriched by the script-analysis model."""
    i = offline.inputs_of(unit, ScriptInputs)
    analyser, meta = _loaded("script-analysis")
    board = screenplay.analyse(i.format, i.text, i.language, i.voices or None)
    (out / offline.STORYBOARD).write_text(analyser.enrich(board).model_dump_json(indent=1))
    _record(out, meta)
    release_memory()


def _render_size(width: int, height: int, long_side: int) -> dict[str, int]:
    """The frame's shape with its long side at `long_side` (SDXL's own scale is about 1344x768
    for 16:9), in multiples of 64."""
    scale = long_side / max(width, height)
    return {"width": max(64, round(width * scale / 64) * 64),
            "height": max(64, round(height * scale / 64) * 64)}  # fmt: skip


def image_generation(units: list[WorkUnit], media: MediaStore, outs: list[Path]) -> None:
    """One SDXL call for the whole batch at SDXL's scale; each frame then at its unit's size."""
    from gpu_consumers.final.images import frame_request

    settings = get_settings()
    generator, meta = _loaded("sdxl")
    shots = [offline.inputs_of(u, ShotInputs) for u in units]
    requests = [
        frame_request(
            i.model_copy(update=_render_size(i.width, i.height, settings.image_long_side)),
            settings.image_steps,
            settings.image_guidance,
        )
        for i in shots
    ]
    images = generator.generate(requests)
    for shot, request, image, out in zip(shots, requests, images, outs, strict=True):
        size = (shot.width, shot.height)
        if image.size != size:
            image = image.resize(size, Image.Resampling.LANCZOS)
        image.save(out / offline.FRAME)
        _record(out, meta, seed=request.seed, style=request.style)


def voice_synthesis(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    """The neural voice: a model speaker, or a clone of the creator's sample. A language the
    model does not speak falls back to the offline voice of that language."""
    inputs = offline.inputs_of(unit, LineInputs)
    line = inputs.line
    voice = parse_voice(inputs.voice)
    model, meta = _loaded("tts")
    if model.languages and line.language not in model.languages:
        fallback = voice_for(line.language, voice.variant).id
        spoken_by = inputs.model_copy(update={"voice": fallback})
        offline.voice_synthesis(unit.model_copy(update={"inputs": spoken_by}), media, out)
        return
    speaker = None
    if voice.engine == "coqui" and voice.voice != "auto":
        speaker = voice.voice
    elif model.speakers and voice.sample_id is None:
        speaker = model.speakers[voice.variant % min(VARIANTS, len(model.speakers))]
    with tempfile.TemporaryDirectory() as private:  # the clear sample never enters the store
        reference = None
        if voice.sample_id is not None:
            if inputs.owner is None:
                raise ValueError(f"the cloned voice {voice.id} names no owner")
            reference = Path(private) / "sample.wav"
            owner = UUID(inputs.owner)  # LookupError once removed or its owner erased
            reference.write_bytes(_samples().load(owner, voice.sample_id))
        speech = model.speak(line.text, line.language, speaker, reference)
    audio = Path(offline.LINE_AUDIO).stem
    spoken = voices.save(speech, out, audio, line.id, voice.id, line.language, line.text)
    (out / offline.LINE_SPEECH).write_text(spoken.model_dump_json())
    _record(out, meta, speaker=speaker or "", cloned=reference is not None)


@cache
def _samples() -> Any:
    from adapters.keystore import KeyStore
    from adapters.postgres import connection_pool
    from adapters.voice_samples import VoiceSampleStore

    settings = get_settings()
    keys = KeyStore(
        connection_pool(settings, max_size=2, name="voice-samples"), settings.secret("master_key")
    )
    return VoiceSampleStore(settings.voice_samples_root, keys)


def translated_subtitles(unit: WorkUnit, media: MediaStore, out: Path) -> None:
    """The script language's cues, translated by the language model, timings kept."""
    from adapters.llm import LanguageModel

    board, speech = offline.placement_inputs(unit, media)
    cues = subtitles.build_cues(place(board, speech).lines)
    llm = LanguageModel.from_settings(get_settings())
    language = offline.inputs_of(unit, SubtitlesInputs).language
    texts = llm.translate([" ".join(c.lines) for c in cues], board.language, language)
    subtitles.write_cues(subtitles.retext(cues, texts), out / offline.SRT, out / offline.VTT)
    (out / MODEL_META).write_text(json.dumps({"family": "llm", "model": llm.model}))


MODEL_COMPUTE: dict[str, BatchCompute] = {
    "script_analysis": one_by_one(script_analysis),
    "image_generation": image_generation,
    "voice_synthesis": one_by_one(voice_synthesis),
    "subtitles": one_by_one(translated_subtitles),
}
