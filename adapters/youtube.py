"""YouTube: the OAuth 2.0 authorization-code flow with PKCE (Google's endpoints over httpx), and
publishing through the Data API v3 (``google-api-python-client``): a resumable upload of a film,
resumed from its session URI after a crash, captions per language, and the thumbnail.

Errors: `YouTubeUnavailable` (try again later: quota exhausted, rate limited, 5xx, the network)
or `YouTubeRefused` (this request will never succeed; ``reason`` is Google's). Tokens are never
logged.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import mimetypes
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import google_auth_httplib2  # type: ignore[import-untyped]
import httplib2  # type: ignore[import-untyped]
import httpx
from google.auth.exceptions import RefreshError, TransportError
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build_from_document  # type: ignore[import-untyped]
from googleapiclient.discovery_cache import get_static_doc  # type: ignore[import-untyped]
from googleapiclient.errors import HttpError  # type: ignore[import-untyped]
from googleapiclient.http import MediaFileUpload  # type: ignore[import-untyped]

from adapters.settings import Settings

log = logging.getLogger(__name__)

SCOPES = (
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.force-ssl",  # captions
)
GOOGLE_AUTH_URL = "https://accounts.google.com/o/oauth2/v2/auth"
GOOGLE_TOKEN_URL = "https://oauth2.googleapis.com/token"
GOOGLE_REVOKE_URL = "https://oauth2.googleapis.com/revoke"
TIMEOUT_SECONDS = 30.0
CHUNK_UNIT = 256 * 1024  # every chunk but the last must be a multiple of this
DEFAULT_CHUNK_BYTES = 32 * CHUNK_UNIT  # 8 MiB
# Reasons (``error.errors[].reason``) that pass with time: quotas reset daily, limits per minute.
TRANSIENT_REASONS = frozenset(
    {
        "quotaExceeded",
        "rateLimitExceeded",
        "userRateLimitExceeded",
        "dailyLimitExceeded",
        "uploadLimitExceeded",
        "backendError",
        "internalError",
    }
)
Privacy = Literal["private", "unlisted", "public"]


class YouTubeUnavailable(Exception):
    """YouTube or Google cannot take this request now; the same request may succeed later."""


class YouTubeRefused(Exception):
    """YouTube or Google refused this request for good (``reason`` is Google's word for why)."""

    def __init__(self, reason: str, message: str = "", status: int | None = None) -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.status = status


def new_code_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43-128 characters of the unreserved set)."""
    return secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]


def code_challenge(verifier: str) -> str:
    """The S256 challenge of `verifier`: unpadded base64url of its SHA-256."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class OAuthEndpoints:
    auth: str = GOOGLE_AUTH_URL
    token: str = GOOGLE_TOKEN_URL
    revoke: str = GOOGLE_REVOKE_URL

    @classmethod
    def of(cls, settings: Settings) -> OAuthEndpoints:
        """Google's own, or those of the stand-in at ``google_oauth_base`` (same paths)."""
        if settings.google_oauth_base is None:
            return cls()
        base = settings.google_oauth_base.rstrip("/")
        return cls(f"{base}/o/oauth2/v2/auth", f"{base}/token", f"{base}/revoke")


@dataclass(frozen=True)
class Tokens:
    """What Google grants: a short-lived access token and the long-lived refresh token."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scopes: tuple[str, ...] = SCOPES

    def expired(self, now: datetime, margin: timedelta = timedelta(seconds=60)) -> bool:
        return now + margin >= self.expires_at


class YouTubeOAuth:
    """The OAuth 2.0 web-server flow with PKCE (S256) and offline access against Google."""

    def __init__(
        self,
        settings: Settings,
        client: httpx.Client | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if settings.youtube_client_id is None or settings.youtube_client_secret is None:
            raise ValueError("YouTube needs FILMSTUDIO_YOUTUBE_CLIENT_ID and _CLIENT_SECRET")
        self.client_id = settings.youtube_client_id
        self._secret = settings.youtube_client_secret.get_secret_value()
        self.endpoints = OAuthEndpoints.of(settings)
        self._client = client or httpx.Client(timeout=TIMEOUT_SECONDS)
        self._clock = clock

    def authorization_url(self, state: str, code_verifier: str, redirect_uri: str) -> str:
        """Google's consent page; it returns to `redirect_uri` with ``code`` and `state`."""
        query = {
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": " ".join(SCOPES),
            "state": state,
            "code_challenge": code_challenge(code_verifier),
            "code_challenge_method": "S256",
            "access_type": "offline",  # a refresh token
            "prompt": "consent",  # a refresh token even when the user consented before
            "include_granted_scopes": "true",
        }
        return f"{self.endpoints.auth}?{urlencode(query)}"

    def exchange(self, code: str, code_verifier: str, redirect_uri: str) -> Tokens:
        """The tokens for the authorization `code` the callback received."""
        answer = self._token_request(
            {
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": code_verifier,
                "redirect_uri": redirect_uri,
            }
        )
        if not answer.get("refresh_token"):
            raise YouTubeRefused("no_refresh_token", "Google granted no offline access")
        return self._tokens(answer, answer["refresh_token"])

    def refresh(self, refresh_token: str) -> Tokens:
        """A fresh access token; Google keeps the refresh token unless it sends a new one."""
        answer = self._token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token}
        )
        return self._tokens(answer, answer.get("refresh_token") or refresh_token)

    def revoke(self, token: str) -> bool:
        """Revoke `token` (a refresh token revokes its access tokens too). False when Google no
        longer knew it (revoked or expired already): revoking is idempotent."""
        response = self._post(self.endpoints.revoke, {"token": token})
        if response.status_code == 200:
            return True
        if response.status_code == 400 and _oauth_error(response)[0] == "invalid_token":
            return False
        raise _oauth_failure(response)

    def close(self) -> None:
        self._client.close()

    def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        form = {**form, "client_id": self.client_id, "client_secret": self._secret}
        response = self._post(self.endpoints.token, form)
        if response.status_code != 200:
            raise _oauth_failure(response)
        answer: dict[str, Any] = response.json()
        return answer

    def _post(self, url: str, form: dict[str, str]) -> httpx.Response:
        try:
            return self._client.post(url, data=form)
        except httpx.TransportError as error:
            raise YouTubeUnavailable(f"Google unreachable: {type(error).__name__}") from error

    def _tokens(self, answer: dict[str, Any], refresh_token: str) -> Tokens:
        scopes = tuple(str(answer.get("scope") or " ".join(SCOPES)).split())
        expires_at = self._clock() + timedelta(seconds=int(answer["expires_in"]))
        return Tokens(answer["access_token"], refresh_token, expires_at, scopes)


def _oauth_error(response: httpx.Response) -> tuple[str, str]:
    """RFC 6749 ``error`` and ``error_description`` of an answer, if it has them."""
    try:
        body = response.json()
        return str(body.get("error") or ""), str(body.get("error_description") or "")
    except (ValueError, AttributeError):
        return "", ""


def _oauth_failure(response: httpx.Response) -> Exception:
    status = response.status_code
    error, description = _oauth_error(response)
    if status == 429 or status >= 500:
        return YouTubeUnavailable(f"Google answered {status}")
    return YouTubeRefused(error or f"http_{status}", description, status)


@dataclass(frozen=True)
class VideoMetadata:
    """What viewers see of a video, and who may see it when."""

    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    privacy: Privacy = "private"
    category_id: str = "1"  # Film & Animation
    made_for_kids: bool = False
    publish_at: datetime | None = None  # a scheduled release (the video stays private until)
    language: str | None = None

    def body(self) -> dict[str, Any]:
        """The ``videos.insert`` resource body (parts snippet and status)."""
        if not self.title.strip() or len(self.title) > 100 or {"<", ">"} & set(self.title):
            raise ValueError("a YouTube title has 1-100 characters and no angle brackets")
        if self.publish_at is not None and self.privacy != "private":
            raise ValueError("a scheduled video must be private until publish_at")
        snippet: dict[str, Any] = {
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "categoryId": self.category_id,
        }
        if self.language:
            snippet["defaultLanguage"] = self.language
        status: dict[str, Any] = {
            "privacyStatus": self.privacy,
            "selfDeclaredMadeForKids": self.made_for_kids,
        }
        if self.publish_at is not None:
            status["publishAt"] = self.publish_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        return {"snippet": snippet, "status": status}


@dataclass(frozen=True)
class UploadedVideo:
    id: str
    resource: dict[str, Any]

    @property
    def url(self) -> str:
        return f"https://www.youtube.com/watch?v={self.id}"


def discovery_document(api_base: str) -> dict[str, Any]:
    """The Data API v3 discovery document shipped in google-api-python-client, pointed at
    `api_base` (uploads included: they derive from ``rootUrl``)."""
    document: dict[str, Any] = json.loads(get_static_doc("youtube", "v3"))
    root = api_base if api_base.endswith("/") else api_base + "/"
    document["rootUrl"] = root
    document["baseUrl"] = root + document.get("servicePath", "")
    document.pop("mtlsRootUrl", None)
    return document


class YouTubeUploader:
    """Publishes to one channel with its `tokens`, refreshed when they expire (`tokens` then
    holds the new ones, for the caller to store again)."""

    def __init__(
        self,
        settings: Settings,
        tokens: Tokens,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
        timeout: float = TIMEOUT_SECONDS,
    ) -> None:
        if chunk_bytes <= 0 or chunk_bytes % CHUNK_UNIT:
            raise ValueError(f"chunk_bytes must be a positive multiple of {CHUNK_UNIT}")
        if settings.youtube_client_id is None or settings.youtube_client_secret is None:
            raise ValueError("YouTube needs FILMSTUDIO_YOUTUBE_CLIENT_ID and _CLIENT_SECRET")
        self.chunk_bytes = chunk_bytes
        self._credentials = Credentials(  # type: ignore[no-untyped-call]
            token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            token_uri=OAuthEndpoints.of(settings).token,
            client_id=settings.youtube_client_id,
            client_secret=settings.youtube_client_secret.get_secret_value(),
            scopes=list(tokens.scopes),
            expiry=tokens.expires_at.astimezone(UTC).replace(tzinfo=None),  # google-auth: naive
        )
        self._scopes = tokens.scopes
        http = httplib2.Http(timeout=timeout)
        http.redirect_codes = http.redirect_codes - {308}  # "Resume Incomplete", not a redirect
        self._http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=http)
        self._service = build_from_document(
            discovery_document(settings.youtube_api_base), http=self._http
        )

    @property
    def tokens(self) -> Tokens:
        """The tokens now in use (new ones after a refresh)."""
        expiry = self._credentials.expiry
        assert self._credentials.token is not None and expiry is not None
        return Tokens(
            self._credentials.token,
            self._credentials.refresh_token or "",
            expiry.replace(tzinfo=UTC),
            self._scopes,
        )

    def upload(
        self,
        path: Path,
        metadata: VideoMetadata,
        session_uri: str | None = None,
        on_session: Callable[[str], None] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> UploadedVideo:
        """Upload the film at `path` in chunks. With `session_uri` (from `on_session`, called
        before any byte is sent) it continues that upload from the bytes YouTube has; a
        session YouTube no longer knows starts over (and calls `on_session` again)."""
        media = MediaFileUpload(
            str(path), mimetype=_mimetype(path, "video/mp4"), chunksize=self.chunk_bytes,
            resumable=True,
        )  # fmt: skip
        request = self._service.videos().insert(
            part="snippet,status", body=metadata.body(), media_body=media
        )
        if session_uri is not None:
            done = self._resume(request, session_uri, media.size())
            if done is not None:
                return UploadedVideo(done["id"], done)
        http = _SessionWatch(self._http, on_session or (lambda uri: None))
        response: dict[str, Any] | None = None
        while response is None:
            status, response = self._call(lambda: request.next_chunk(http=http, num_retries=0))
            if status is not None and on_progress is not None:
                on_progress(status.resumable_progress, status.total_size)
        log.info("uploaded video %s (%d bytes)", response["id"], media.size())
        return UploadedVideo(response["id"], response)

    def caption_languages(self, video_id: str) -> set[str]:
        """The languages of the video's caption tracks (a retried publication adds none twice)."""
        request = self._service.captions().list(part="snippet", videoId=video_id)
        answer: dict[str, Any] = self._call(lambda: request.execute(num_retries=0))
        return {item["snippet"]["language"] for item in answer.get("items", [])}

    def set_captions(
        self, video_id: str, language: str, path: Path, name: str = ""
    ) -> dict[str, Any]:
        """Add a caption track (SRT, WebVTT, ...) in `language` (BCP-47) to the video."""
        media = MediaFileUpload(
            str(path), mimetype="application/octet-stream", chunksize=-1, resumable=True
        )
        body = {"snippet": {"videoId": video_id, "language": language, "name": name}}
        request = self._service.captions().insert(part="snippet", body=body, media_body=media)
        return self._finish(request)

    def set_thumbnail(self, video_id: str, path: Path) -> dict[str, Any]:
        """Set the video's custom thumbnail (JPEG or PNG, up to 2 MB)."""
        media = MediaFileUpload(
            str(path), mimetype=_mimetype(path, "image/jpeg"), chunksize=-1, resumable=True
        )
        request = self._service.thumbnails().set(videoId=video_id, media_body=media)
        return self._finish(request)

    def close(self) -> None:
        self._service.close()

    def _finish(self, request: Any) -> dict[str, Any]:
        response: dict[str, Any] | None = None
        while response is None:
            _, response = self._call(lambda: request.next_chunk(num_retries=0))
        return response

    def _resume(self, request: Any, session_uri: str, size: int) -> dict[str, Any] | None:
        """Point `request` at `session_uri`, past the bytes YouTube has (asked with an empty
        PUT); the video when the upload had completed already."""
        headers = {"Content-Range": f"bytes */{size}", "Content-Length": "0"}
        response, content = self._call(
            lambda: self._http.request(session_uri, "PUT", headers=headers)
        )
        if response.status in (200, 201):
            video: dict[str, Any] = json.loads(content)
            return video
        if response.status in (404, 410):
            log.warning("the upload session expired: starting the upload over")
            return None
        if response.status != 308:
            raise api_failure(HttpError(response, content, uri=session_uri))
        received = response.get("range")  # "bytes=0-N", absent when nothing arrived
        request.resumable_uri = session_uri
        request.resumable_progress = int(received.rsplit("-", 1)[1]) + 1 if received else 0
        log.info("resuming an upload at byte %d of %d", request.resumable_progress, size)
        return None

    def _call(self, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except HttpError as error:
            raise api_failure(error) from error
        except RefreshError as error:
            if error.retryable:
                raise YouTubeUnavailable("Google could not refresh the token now") from error
            raise YouTubeRefused(
                "invalid_grant", "the refresh token is revoked or expired"
            ) from error
        except (TransportError, httplib2.HttpLib2Error, OSError) as error:
            raise YouTubeUnavailable(f"YouTube unreachable: {type(error).__name__}") from error


class _SessionWatch:
    """An HTTP client that hands each new upload session's URI to `on_session` as YouTube
    answers, before the first chunk goes out."""

    def __init__(self, http: Any, on_session: Callable[[str], None]) -> None:
        self._http = http
        self._on_session = on_session

    def request(self, uri: str, method: str = "GET", **kwargs: Any) -> Any:
        response, content = self._http.request(uri, method, **kwargs)
        if method == "POST" and response.status == 200 and "location" in response:
            self._on_session(response["location"])
        return response, content


def _mimetype(path: Path, default: str) -> str:
    return mimetypes.guess_type(path.name)[0] or default


def api_error_reason(status: int, content: bytes) -> tuple[str, str]:
    """Google's reason (``error.errors[0].reason``, else ``error.status``) and message."""
    try:
        error = json.loads(content).get("error") or {}
        errors = error.get("errors") or [{}]
        reason = errors[0].get("reason") or error.get("status") or f"http_{status}"
        return str(reason), str(error.get("message") or "")
    except (ValueError, AttributeError, TypeError, IndexError):
        return f"http_{status}", ""


def api_failure(error: HttpError) -> Exception:
    status = int(error.resp.status)
    reason, message = api_error_reason(status, error.content or b"")
    if status >= 500 or status == 429 or reason in TRANSIENT_REASONS:
        return YouTubeUnavailable(f"YouTube answered {status} {reason}")
    return YouTubeRefused(reason, message, status)
