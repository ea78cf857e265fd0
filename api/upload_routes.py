"""Direct uploads with the S3 media store: the API hands out a presigned PUT, the client sends
its voice sample or script straight to the bucket, then names the upload to the route that takes
it (`POST /v1/uploads/{upload_id}/voice-sample`, `PUT /v1/projects/{id}/script/from-upload`).

Uploads live under the caller's own folder, so nobody can take another's; a taken upload is
deleted, one never taken expires after a day (the bucket's lifecycle), and erasure deletes them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal
from uuid import UUID, uuid4

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from adapters.s3_media import S3MediaStore, UploadTooLarge
from adapters.voice_samples import MAX_UPLOAD_BYTES
from api import models
from api.deps import Caller, Services, Svc
from api.problems import problems
from domain.errors import DomainError
from domain.project import MAX_SCRIPT_BYTES

router = APIRouter(prefix="/v1", tags=["uploads"])

Purpose = Literal["voice-sample", "script"]
VoiceSampleType = Literal[
    "audio/wav", "audio/x-wav", "audio/flac", "audio/ogg", "audio/opus", "audio/mpeg",
    "audio/mp4", "audio/x-m4a", "audio/webm", "video/webm", "application/octet-stream",
]  # fmt: skip
ScriptType = Literal["text/plain", "text/x-fountain", "text/markdown", "application/octet-stream"]
MAX_BYTES: dict[str, int] = {"voice-sample": MAX_UPLOAD_BYTES, "script": MAX_SCRIPT_BYTES}
UPLOAD_LINK_SECONDS = 900
TYPE_NOTE = "the Content-Type the upload will be sent with (the link is signed for it)"


class VoiceSampleUpload(models.Body):
    purpose: Literal["voice-sample"]
    content_type: VoiceSampleType = Field(description=TYPE_NOTE)


class ScriptUpload(models.Body):
    purpose: Literal["script"]
    content_type: ScriptType = Field(description=TYPE_NOTE)


UploadRequest = Annotated[VoiceSampleUpload | ScriptUpload, Field(discriminator="purpose")]


class UploadTicket(BaseModel):
    upload_id: UUID
    url: str = Field(description="PUT the file's bytes here, with the headers below")
    method: Literal["PUT"]
    headers: dict[str, str]
    max_bytes: int = Field(description="larger uploads are refused (413) when taken")
    expires_at: datetime


class TakeUpload(models.Body):
    upload_id: UUID


def s3_store(svc: Services) -> S3MediaStore:
    """The S3 media store; 409 with the local one, which has no direct uploads."""
    if not isinstance(svc.media, S3MediaStore):
        raise HTTPException(
            409,
            "direct uploads need the S3 media store; send the file to the API instead "
            "(POST /v1/voices, PUT /v1/projects/{project_id}/script)",
        )
    return svc.media


def take_upload(svc: Services, owner: UUID, upload_id: UUID, purpose: Purpose) -> bytes:
    """The bytes of the caller's upload (404 when there is none, 413 when too large)."""
    store = s3_store(svc)
    try:
        return store.read_upload(owner, upload_id, MAX_BYTES[purpose])
    except FileNotFoundError:
        raise HTTPException(404, f"no upload {upload_id}: never sent, taken or expired") from None
    except UploadTooLarge:
        store.delete_upload(owner, upload_id)
        limit = MAX_BYTES[purpose]
        raise HTTPException(413, f"a {purpose} upload is at most {limit} bytes") from None


@contextmanager
def taking(svc: Services, owner: UUID, upload_id: UUID) -> Iterator[None]:
    """Delete the upload once what is inside succeeds or refuses it (a 4xx); keep it for a
    retry when the studio failed (a 5xx: the database unavailable, say)."""
    try:
        yield
    except HTTPException as error:
        if error.status_code < 500:
            s3_store(svc).delete_upload(owner, upload_id)
        raise
    except DomainError:
        s3_store(svc).delete_upload(owner, upload_id)
        raise
    s3_store(svc).delete_upload(owner, upload_id)


@router.post(
    "/uploads",
    status_code=201,
    response_model=UploadTicket,
    responses=problems(400, 401, 409, 413, 422, 503),
)
def new_upload(body: UploadRequest, caller: Caller, svc: Svc) -> UploadTicket:
    """A presigned PUT for a voice sample or a script, valid for 15 minutes; the file goes
    straight to the media store, then `POST /v1/uploads/{upload_id}/voice-sample` or
    `PUT /v1/projects/{project_id}/script/from-upload` takes it."""
    store = s3_store(svc)
    upload_id = uuid4()
    issued = datetime.now(UTC)
    url = store.presigned_put(caller.user_id, upload_id, body.content_type, UPLOAD_LINK_SECONDS)
    return UploadTicket(
        upload_id=upload_id,
        url=url,
        method="PUT",
        headers={"Content-Type": body.content_type},
        max_bytes=MAX_BYTES[body.purpose],
        expires_at=issued + timedelta(seconds=UPLOAD_LINK_SECONDS),
    )
