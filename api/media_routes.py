"""A completed production's media: the film (with HTTP Range), its subtitles and thumbnail.

Files come from the media store under the artifact keys of the caller's production in the read
model; nothing from the request's path is used to build a file path. The local store's files are
served by the API; with S3 the routes answer `307` to a presigned GET of the object. The `/link`
routes answer a URL that needs no header (for `<video>`, `<track>`, a download link): S3's
presigned GET, or the API's own route with `?token=`, a read-only link token of the production.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel

from adapters.s3_media import S3MediaStore
from api.deps import Caller, Services, Svc
from api.problems import problem, problem_response, problems
from api.production_view import SUBTITLES_PREFIX, subtitle_languages
from api.stream_tokens import MediaCaller, link_tokens
from commands.handlers import Identity

router = APIRouter(prefix="/v1", tags=["media"])

FILM_FILE = "film.mp4"
THUMBNAIL_FILE = "thumbnail.jpg"
SUBTITLE_TYPES = {"vtt": "text/vtt; charset=utf-8", "srt": "application/x-subrip; charset=utf-8"}
CHUNK_BYTES = 256 * 1024
CACHE_CONTROL = "private, max-age=86400"
_RANGE_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True)
class ByteRange:
    """An inclusive byte range of a file."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


class RangeNotSatisfiable(Exception):
    """No byte of the requested range lies within the file."""


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The single byte range a `Range` header asks for, clamped to a file of `size` bytes.

    None means "send the whole file": no header, another unit than bytes, a malformed header, or
    several ranges (a server may ignore a Range header). Raises `RangeNotSatisfiable` when the
    range starts past the end (or is an empty suffix).
    """
    if not header:
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in specs:
        return None
    match = _RANGE_SPEC.match(specs)
    if match is None:
        return None
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(size - suffix, 0), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return ByteRange(start, min(end, size - 1))


def read_chunks(path: Path, start: int, length: int) -> Iterator[bytes]:
    """The bytes of `path` from `start`, `length` of them, in chunks."""
    with path.open("rb") as handle:
        handle.seek(start)
        left = length
        while left > 0:
            chunk = handle.read(min(CHUNK_BYTES, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def _artifacts(svc: Services, user_id: UUID, production_id: UUID) -> dict[str, str]:
    """The artifact keys of the caller's completed production; 404 or 409 otherwise."""
    row = svc.reads.production(user_id, production_id)
    if row is None:
        raise HTTPException(404, "no such production")
    if row["status"] != "completed":
        raise HTTPException(409, f"not rendered yet: the production is {row['status']}")
    return row["artifacts"] or {}


def _key(artifacts: dict[str, str], artifact: str) -> str:
    key = artifacts.get(artifact)
    if key is None:
        raise HTTPException(404, f"this production has no {artifact}")
    return key


def _missing(artifact: str, name: str) -> HTTPException:
    return HTTPException(404, f"the {artifact}'s {name} is missing from the media store")


def _file(svc: Services, artifacts: dict[str, str], artifact: str, name: str) -> Path:
    try:
        return svc.media.path(_key(artifacts, artifact), name)
    except (ValueError, OSError):
        raise _missing(artifact, name) from None


def _presigned(svc: Services, artifacts: dict[str, str], artifact: str, name: str) -> str | None:
    """A presigned GET of the file when the store is S3; None for the local store."""
    if not isinstance(svc.media, S3MediaStore):
        return None
    try:
        return svc.media.presigned_get(_key(artifacts, artifact), name)
    except (ValueError, FileNotFoundError):
        raise _missing(artifact, name) from None


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=307, headers={"Cache-Control": "private, no-store"})


BINARY = {"schema": {"type": "string", "format": "binary"}}
TEXT = {"schema": {"type": "string"}}
MEDIA_PROBLEMS = {
    **problems(401, 422, 503),
    404: problem_response(404, "no such production (or not yours), or the file is missing"),
    409: problem_response(409, "not rendered yet"),
}


REDIRECT: dict[int | str, Any] = {
    307: {
        "description": "with the S3 media store: the file is at a presigned link",
        "headers": {
            "Location": {"description": "the presigned GET", "schema": {"type": "string"}},
        },
    }
}


def _media(media_type: str, body: dict[str, Any], description: str) -> dict[int | str, Any]:
    return {
        200: {"content": {media_type: body}, "description": description},
        **REDIRECT,
        **MEDIA_PROBLEMS,
    }


FILM_HEADERS = {
    name: {"description": description, "schema": {"type": "string"}}
    for name, description in (
        ("Accept-Ranges", "`bytes`"),
        ("ETag", "the film's version, for `If-Range`"),
        ("Content-Length", "bytes in this answer"),
    )
}
FILM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **_media("video/mp4", BINARY, "the whole film"),
    206: {
        "content": {"video/mp4": BINARY},
        "description": "the requested byte range",
        "headers": {
            **FILM_HEADERS,
            "Content-Range": {"description": "bytes START-END/SIZE", "schema": {"type": "string"}},
        },
    },
    416: problem_response(416, "the range starts past the end of the film"),
}
FILM_RESPONSES[200]["headers"] = FILM_HEADERS


@router.head(
    "/productions/{production_id}/film",
    operation_id="film_head",
    response_class=Response,
    responses=FILM_RESPONSES,
)
@router.get("/productions/{production_id}/film", response_class=Response, responses=FILM_RESPONSES)
def film(
    production_id: UUID,
    request: Request,
    caller: MediaCaller,
    svc: Svc,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> Response:
    """The film as H.264/AAC MP4; supports a single `Range: bytes=...` (206 partial content).
    With the S3 media store: `307` to a presigned GET (which supports ranges too)."""
    artifacts = _artifacts(svc, caller.user_id, production_id)
    url = _presigned(svc, artifacts, "film", FILM_FILE)
    if url is not None:
        return _redirect(url)
    path = _file(svc, artifacts, "film", FILM_FILE)
    size = path.stat().st_size
    etag = f'"{artifacts["film"]}"'
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": CACHE_CONTROL}
    try:
        wanted = None if if_range not in (None, etag) else parse_range(range_header, size)
    except RangeNotSatisfiable:
        return problem(
            request,
            416,
            f"range not satisfiable: the film has {size} bytes",
            {**headers, "Content-Range": f"bytes */{size}"},
        )
    status, start, length = 200, 0, size
    if wanted is not None:
        status, start, length = 206, wanted.start, wanted.length
        headers["Content-Range"] = wanted.content_range(size)
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return Response(status_code=status, headers=headers, media_type="video/mp4")
    return StreamingResponse(
        read_chunks(path, start, length),
        status_code=status,
        headers=headers,
        media_type="video/mp4",
    )


@router.get(
    "/productions/{production_id}/thumbnail.jpg",
    response_class=FileResponse,
    responses=_media("image/jpeg", BINARY, "a still of the film"),
)
def thumbnail(production_id: UUID, caller: MediaCaller, svc: Svc) -> Response:
    """A still of the film, as JPEG (with S3: `307` to a presigned GET)."""
    artifacts = _artifacts(svc, caller.user_id, production_id)
    url = _presigned(svc, artifacts, "film", THUMBNAIL_FILE)
    if url is not None:
        return _redirect(url)
    path = _file(svc, artifacts, "film", THUMBNAIL_FILE)
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": CACHE_CONTROL})


def _subtitles(
    production_id: UUID, lang: str, kind: str, caller: Identity, svc: Services
) -> Response:
    artifacts = _artifacts(svc, caller.user_id, production_id)
    if f"{SUBTITLES_PREFIX}{lang}" not in artifacts:
        produced = ", ".join(subtitle_languages(artifacts)) or "none"
        raise HTTPException(404, f"no subtitles in {lang[:20]!r}; this film has: {produced}")
    url = _presigned(svc, artifacts, f"{SUBTITLES_PREFIX}{lang}", f"subtitles.{kind}")
    if url is not None:
        return _redirect(url)
    path = _file(svc, artifacts, f"{SUBTITLES_PREFIX}{lang}", f"subtitles.{kind}")
    return FileResponse(
        path,
        media_type=SUBTITLE_TYPES[kind],
        filename=f"{lang}.{kind}",
        content_disposition_type="inline",
        headers={"Cache-Control": CACHE_CONTROL},
    )


@router.get(
    "/productions/{production_id}/subtitles/{lang}.vtt",
    response_class=FileResponse,
    responses=_media("text/vtt", TEXT, "WebVTT subtitles"),
)
def subtitles_vtt(production_id: UUID, lang: str, caller: MediaCaller, svc: Svc) -> Response:
    """The subtitles in one language, as WebVTT."""
    return _subtitles(production_id, lang, "vtt", caller, svc)


@router.get(
    "/productions/{production_id}/subtitles/{lang}.srt",
    response_class=FileResponse,
    responses=_media("application/x-subrip", TEXT, "SubRip subtitles"),
)
def subtitles_srt(production_id: UUID, lang: str, caller: MediaCaller, svc: Svc) -> Response:
    """The subtitles in one language, as SubRip."""
    return _subtitles(production_id, lang, "srt", caller, svc)


class FilmLink(BaseModel):
    url: str
    expires_at: datetime


def _signed(svc: Services, caller: Identity, production_id: UUID, url: str) -> FilmLink:
    """The API's own URL of a media file with a read-only link token of the production, lasting
    `s3_presign_seconds` like a presigned S3 link."""
    token, expires = link_tokens(svc).issue(
        caller, production_id, "media", svc.settings.s3_presign_seconds
    )
    return FilmLink(url=f"{url}?{urlencode({'token': token})}", expires_at=expires)


def _presigned_link(url: str, svc: Services) -> FilmLink:
    expires = datetime.now(UTC) + timedelta(seconds=svc.settings.s3_presign_seconds)
    return FilmLink(url=url, expires_at=expires)


@router.get(
    "/productions/{production_id}/film/link",
    response_model=FilmLink,
    responses=MEDIA_PROBLEMS,
)
def film_link(production_id: UUID, request: Request, caller: Caller, svc: Svc) -> FilmLink:
    """A link to the film that needs no header and lasts `s3_presign_seconds`: with S3 a
    presigned GET, with the local store the API's film URL with a read-only link token."""
    artifacts = _artifacts(svc, caller.user_id, production_id)
    url = _presigned(svc, artifacts, "film", FILM_FILE)
    if url is not None:
        return _presigned_link(url, svc)
    _file(svc, artifacts, "film", FILM_FILE)
    own = str(request.url_for("film", production_id=production_id))
    return _signed(svc, caller, production_id, own)


def _subtitles_link(
    production_id: UUID, lang: str, kind: str, request: Request, caller: Identity, svc: Services
) -> FilmLink:
    artifacts = _artifacts(svc, caller.user_id, production_id)
    if f"{SUBTITLES_PREFIX}{lang}" not in artifacts:
        produced = ", ".join(subtitle_languages(artifacts)) or "none"
        raise HTTPException(404, f"no subtitles in {lang[:20]!r}; this film has: {produced}")
    url = _presigned(svc, artifacts, f"{SUBTITLES_PREFIX}{lang}", f"subtitles.{kind}")
    if url is not None:
        return _presigned_link(url, svc)
    _file(svc, artifacts, f"{SUBTITLES_PREFIX}{lang}", f"subtitles.{kind}")
    own = str(request.url_for(f"subtitles_{kind}", production_id=production_id, lang=lang))
    return _signed(svc, caller, production_id, own)


@router.get(
    "/productions/{production_id}/subtitles/{lang}.vtt/link",
    response_model=FilmLink,
    responses=MEDIA_PROBLEMS,
)
def subtitles_vtt_link(
    production_id: UUID, lang: str, request: Request, caller: Caller, svc: Svc
) -> FilmLink:
    """A link to the WebVTT subtitles that needs no header (for `<track>`), like the film's."""
    return _subtitles_link(production_id, lang, "vtt", request, caller, svc)


@router.get(
    "/productions/{production_id}/subtitles/{lang}.srt/link",
    response_model=FilmLink,
    responses=MEDIA_PROBLEMS,
)
def subtitles_srt_link(
    production_id: UUID, lang: str, request: Request, caller: Caller, svc: Svc
) -> FilmLink:
    """A link to the SubRip subtitles that needs no header (a download link), like the film's."""
    return _subtitles_link(production_id, lang, "srt", request, caller, svc)
