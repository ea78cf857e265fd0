"""Publishing to YouTube: connect a channel (OAuth 2.0 with PKCE), publish a completed film, and
see its publications. Without a configured YouTube client these routes answer 503."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from adapters.youtube import YouTubeRefused, YouTubeUnavailable
from api.deps import Caller, Consistent, IdempotencyKey, Services, Svc, once
from api.problems import problems
from commands.publishing import ConnectRefused, Publishing, YouTubeNotConfigured
from domain.publication import PublishOptions

router = APIRouter(prefix="/v1", tags=["publishing"])


class ConsentPage(BaseModel):
    url: str = Field(description="Google's consent page to send the browser to")


class Connected(BaseModel):
    connected: bool


class PublicationAccepted(BaseModel):
    publication_id: UUID
    position: int


class PublicationOut(BaseModel):
    publication_id: UUID
    title: str
    privacy: str
    state: str = Field(description="requested, uploading, uploaded or failed")
    attempts: int
    video_id: str | None
    url: str | None
    failure: str | None
    requested_at: datetime
    updated_at: datetime


def _publishing(svc: Services) -> Publishing:
    if svc.publishing is None:
        raise HTTPException(503, "YouTube publishing is not configured here")
    return svc.publishing


def _google(call: Any) -> Any:
    """Run `call`, mapping Google's and the configuration's failures to HTTP errors."""
    try:
        return call()
    except YouTubeNotConfigured as error:
        raise HTTPException(503, str(error)) from None
    except YouTubeUnavailable as error:
        raise HTTPException(
            503, f"Google is unavailable: {error}", headers={"Retry-After": "5"}
        ) from None
    except YouTubeRefused as error:
        raise HTTPException(502, f"Google refused: {error.reason}") from None


@router.get("/youtube/connect", response_model=ConsentPage, responses=problems(401, 404, 503))
def connect(caller: Caller, svc: Svc) -> ConsentPage:
    """Google's consent page for your channel: send the browser to `url`; Google sends it back
    to `/v1/youtube/callback`."""
    publishing = _publishing(svc)
    return ConsentPage(url=_google(lambda: publishing.connect_url(caller.user_id)))


@router.get("/youtube/callback", response_model=Connected, responses=problems(400, 422, 502, 503))
def callback(
    svc: Svc,
    code: Annotated[str, Query(min_length=1, max_length=2048)],
    state: Annotated[str, Query(min_length=1, max_length=256)],
) -> Connected:
    """Where Google's consent page returns: the code is exchanged once for the tokens, which
    are kept sealed under your key."""
    publishing = _publishing(svc)
    try:
        _google(lambda: publishing.complete_connection(code, state))
    except ConnectRefused as error:
        raise HTTPException(400, str(error)) from None
    return Connected(connected=True)


@router.get("/youtube/connection", response_model=Connected, responses=problems(401, 503))
def connection(caller: Caller, svc: Svc) -> Connected:
    """Whether your YouTube channel is connected."""
    return Connected(connected=_publishing(svc).connected(caller.user_id))


@router.delete("/youtube/connection", response_model=Connected, responses=problems(401, 502, 503))
def disconnect(caller: Caller, svc: Svc) -> Connected:
    """Revoke the studio's access to your channel at Google and forget the token."""
    publishing = _publishing(svc)
    _google(lambda: publishing.disconnect(caller.user_id))
    return Connected(connected=False)


@router.post(
    "/productions/{production_id}/publish",
    status_code=202,
    response_model=PublicationAccepted,
    responses=problems(400, 401, 404, 409, 413, 422, 503),
)
def publish(
    production_id: UUID,
    options: PublishOptions,
    caller: Caller,
    svc: Svc,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Publish your completed film to your connected channel; the publisher uploads it (see
    `/publications`). A film published before is refused (409) unless `republish` is true."""
    publishing = _publishing(svc)

    def act() -> tuple[int, dict[str, Any]]:
        accepted = _google(lambda: publishing.publish(caller.user_id, production_id, options))
        return 202, {"publication_id": str(accepted.publication_id), "position": accepted.position}

    payload = {"production_id": str(production_id), **options.model_dump(mode="json")}
    return once(svc, str(caller.user_id), key, "publish", payload, act)


@router.get(
    "/productions/{production_id}/publications",
    response_model=list[PublicationOut],
    responses=problems(401, 422, 503),
    dependencies=[Consistent],
)
def publications(production_id: UUID, caller: Caller, svc: Svc) -> list[dict[str, Any]]:
    """Your film's publications, newest first: state, and once uploaded the video id and URL."""
    return svc.reads.publications(caller.user_id, production_id)
