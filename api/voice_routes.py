"""The v1 routes for voice samples: upload one to clone a voice from, list them, remove one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from adapters.voice_samples import FORMATS, MAX_UPLOAD_BYTES, container
from api import models
from api.deps import Caller, Consistent, IdempotencyKey, Services, Svc, once
from api.models import STORABLE_PATTERN, Text
from api.problems import problems
from api.upload_routes import take_upload, taking
from domain.text import unstorable
from domain.voices import Voice

router = APIRouter(prefix="/v1", tags=["voices"])
MAX_NAME_LENGTH = 200
# The upload's body, documented by hand: the route reads it itself, after authentication.
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "sample"],
                    "additionalProperties": False,
                    "properties": {
                        "name": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": MAX_NAME_LENGTH,
                            "pattern": STORABLE_PATTERN,
                        },
                        "sample": {
                            "type": "string",
                            "format": "binary",
                            "description": f"speech to clone: 3 to 60 s; {FORMATS}",
                        },
                    },
                }
            }
        },
    }
}


class VoiceSampleOut(BaseModel):
    sample_id: UUID
    voice_id: str  # cast it to a character: "final" quality only
    name: str
    seconds: float
    added_at: datetime


class VoiceSampleCreated(BaseModel):
    sample_id: UUID
    voice_id: str
    seconds: float
    position: int


def _voice_id(sample_id: UUID) -> str:
    return Voice("clone", str(sample_id), 0).id


@router.post(
    "/voices",
    status_code=201,
    response_model=VoiceSampleCreated,
    responses=problems(400, 401, 404, 409, 413, 415, 422, 503),
    openapi_extra=UPLOAD_BODY,
)
async def add_voice_sample(
    request: Request, caller: Caller, svc: Svc, key: IdempotencyKey = None
) -> JSONResponse:
    """Upload a voice sample (multipart: `name`, `sample`); it is stored encrypted and erased
    with you. The caller is authenticated before the upload is read (so no form parameters:
    FastAPI would read them first), and decoding runs off the event loop."""
    name, audio = await _upload(request)
    _check_format(audio)

    def store() -> JSONResponse:
        payload = {"name": name, "sha256": hashlib.sha256(audio).hexdigest()}
        return once(
            svc, str(caller.user_id), key, "add_voice_sample", payload,
            lambda: _add(svc, caller.user_id, key, name, audio),
        )  # fmt: skip

    return await run_in_threadpool(store)


class VoiceSampleName(models.Body):
    name: Text = Field(min_length=1, max_length=MAX_NAME_LENGTH)


@router.post(
    "/uploads/{upload_id}/voice-sample",
    status_code=201,
    response_model=VoiceSampleCreated,
    responses=problems(400, 401, 404, 409, 413, 415, 422, 503),
)
def add_uploaded_voice_sample(
    upload_id: UUID, body: VoiceSampleName, caller: Caller, svc: Svc, key: IdempotencyKey = None
) -> JSONResponse:
    """Take a voice sample sent to a presigned PUT (`POST /v1/uploads`, S3 media store only);
    the upload is deleted once the sample is stored."""

    def act() -> tuple[int, dict[str, Any]]:
        audio = take_upload(svc, caller.user_id, upload_id, "voice-sample")
        with taking(svc, caller.user_id, upload_id):
            _check_format(audio)
            return _add(svc, caller.user_id, key, body.name, audio)

    payload = {"upload_id": str(upload_id), **body.model_dump(mode="json")}
    return once(svc, str(caller.user_id), key, "add_uploaded_voice_sample", payload, act)


def _check_format(audio: bytes) -> None:
    if container(audio) is None:
        raise HTTPException(415, f"a voice sample is one of these formats: {FORMATS}")


def _add(
    svc: Services, user_id: UUID, key: str | None, name: str, audio: bytes
) -> tuple[int, dict[str, Any]]:
    """Store the sample (under an id derived from the Idempotency-Key, when there is one)."""
    sample_id = None if key is None else uuid5(NAMESPACE_URL, f"filmstudio:voice:{user_id}:{key}")
    added = svc.studio.add_voice_sample(user_id, name, audio, sample_id)
    return 201, {
        "sample_id": str(added.sample_id),
        "voice_id": _voice_id(added.sample_id),
        "seconds": added.seconds,
        "position": added.position,
    }


async def _upload(request: Request) -> tuple[str, bytes]:
    """The form's `name` and `sample` (at most MAX_UPLOAD_BYTES), read once the caller is known."""
    async with request.form(max_files=1, max_fields=4, max_part_size=64 * 1024) as form:
        if unknown := sorted(set(form) - {"name", "sample"})[:3]:
            raise HTTPException(422, f"the form has only `name` and `sample`, not {unknown}")
        name, sample = form.get("name"), form.get("sample")
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise HTTPException(422, f"`name` is a form field of 1 to {MAX_NAME_LENGTH} characters")
        if (problem := unstorable(name)) is not None:
            raise HTTPException(422, f"`name` {problem}")
        if not isinstance(sample, UploadFile):
            raise HTTPException(422, "`sample` is the form's file field: the audio to clone")
        audio = await sample.read(MAX_UPLOAD_BYTES + 1)
    if len(audio) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"a voice sample is at most {MAX_UPLOAD_BYTES // 2**20} MiB")
    return name, audio


@router.get(
    "/voices",
    response_model=list[VoiceSampleOut],
    dependencies=[Consistent],
    responses=problems(401, 422, 503),
)
def list_voice_samples(caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    return [
        {**row, "voice_id": _voice_id(row["sample_id"])}
        for row in svc.reads.voice_samples(caller.user_id)
    ]


@router.delete(
    "/voices/{sample_id}",
    response_model=models.Position,
    responses=problems(401, 404, 409, 422, 503),
)
def remove_voice_sample(sample_id: UUID, caller: Caller, svc: Svc) -> models.Position:
    """Remove a sample: its audio is deleted at once."""
    return models.Position(position=svc.studio.remove_voice_sample(caller.user_id, sample_id))
