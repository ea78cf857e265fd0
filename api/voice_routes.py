"""The v1 routes for voice samples: upload one to clone a voice from, list them, remove one."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from adapters.voice_samples import MAX_UPLOAD_BYTES
from api import models
from api.deps import Caller, Consistent, IdempotencyKey, Svc, once
from domain.voices import Voice

router = APIRouter(prefix="/v1", tags=["voices"])


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
    responses={413: {"description": "the upload is too large"}},
)
async def add_voice_sample(
    name: Annotated[str, Form(max_length=200)],
    sample: Annotated[UploadFile, File(description="speech to clone: 3 to 60 s, any format")],
    caller: Caller,
    svc: Svc,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Upload a voice sample; it is stored encrypted and erased with you."""
    audio = await sample.read(MAX_UPLOAD_BYTES + 1)
    if len(audio) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"a voice sample is at most {MAX_UPLOAD_BYTES // 2**20} MiB")
    sample_id = (
        None if key is None else uuid5(NAMESPACE_URL, f"filmstudio:voice:{caller.user_id}:{key}")
    )

    def act() -> tuple[int, dict[str, Any]]:
        added = svc.studio.add_voice_sample(caller.user_id, name, audio, sample_id)
        return 201, {
            "sample_id": str(added.sample_id),
            "voice_id": _voice_id(added.sample_id),
            "seconds": added.seconds,
            "position": added.position,
        }

    payload = {"name": name, "sha256": hashlib.sha256(audio).hexdigest()}
    return once(svc, str(caller.user_id), key, "add_voice_sample", payload, act)


@router.get("/voices", response_model=list[VoiceSampleOut], dependencies=[Consistent])
def list_voice_samples(caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    return [
        {**row, "voice_id": _voice_id(row["sample_id"])}
        for row in svc.reads.voice_samples(caller.user_id)
    ]


@router.delete("/voices/{sample_id}", response_model=models.Position)
def remove_voice_sample(sample_id: UUID, caller: Caller, svc: Svc) -> models.Position:
    """Remove a sample: its audio is deleted at once."""
    return models.Position(position=svc.studio.remove_voice_sample(caller.user_id, sample_id))
