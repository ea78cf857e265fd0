"""A local fake of Google's OAuth 2.0 endpoints and of the YouTube Data API v3 upload endpoints
(videos.insert, captions.insert, thumbnails.set; and captions.list), speaking the real protocols
over plain HTTP:

- ``GET /o/oauth2/v2/auth`` is the consent page of a user who always agrees: it redirects to the
  ``redirect_uri`` with a one-time ``code`` bound to the PKCE ``code_challenge`` (S256 only).
- ``POST /token`` (form): ``authorization_code`` (the verifier's S256 must match the code's
  challenge) and ``refresh_token`` grants, RFC 6749 errors (``invalid_grant``, ``invalid_client``).
- ``POST /revoke``: revokes a refresh token with its access tokens (or an access token with its
  refresh token); an unknown or revoked token is ``400 invalid_token``.
- Resumable uploads: ``POST /upload/youtube/v3/...?uploadType=resumable`` (Bearer token,
  metadata JSON) answers ``200`` with a session URI in ``Location``; ``PUT`` chunks with
  ``Content-Range: bytes a-b/total`` answer ``308`` with ``Range: bytes=0-N`` until the last,
  which answers the resource (a Video with an id, a Caption, a ThumbnailSetResponse); an empty
  ``PUT`` with ``Content-Range: bytes */total`` asks how far an upload got.

Misbehaviour on request: `fail_next` (``quota``: 403 quotaExceeded, ``server_error``: 500
backendError), `cut_after` (the connection is reset once a session has received N bytes, as
when an uploader dies mid-chunk; like Google, the fake then keeps only whole 256 KiB units of what
it got, so a client must resume from the ``Range`` it is told) and `hold_after` (the answer to the
chunk that passes N bytes waits, `holding` set, until `release`: a test kills an uploader process
there). `received` counts the body bytes each session received, resent ones included.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

UPLOAD_SCOPE = "https://www.googleapis.com/auth/youtube.upload"
FORCE_SSL_SCOPE = "https://www.googleapis.com/auth/youtube.force-ssl"
YOUTUBE_SCOPE = "https://www.googleapis.com/auth/youtube"
KNOWN_SCOPES = {UPLOAD_SCOPE, FORCE_SSL_SCOPE, YOUTUBE_SCOPE}
ACCESS_TOKEN_SECONDS = 3599
UPLOAD_PATHS = {
    "/upload/youtube/v3/videos": "video",
    "/upload/youtube/v3/captions": "caption",
    "/upload/youtube/v3/thumbnails/set": "thumbnail",
}
NEEDED_SCOPES = {  # any one of them will do, as on YouTube
    "video": {UPLOAD_SCOPE, FORCE_SSL_SCOPE, YOUTUBE_SCOPE},
    "caption": {FORCE_SSL_SCOPE},
    "thumbnail": {UPLOAD_SCOPE, FORCE_SSL_SCOPE, YOUTUBE_SCOPE},
}
FAILURES = {
    "quota": (403, "youtube.quota", "quotaExceeded", "The request cannot be completed because "
              "you have exceeded your quota."),
    "server_error": (500, "global", "backendError", "Backend Error"),
}  # fmt: skip
PERSIST_UNIT = 256 * 1024  # what a cut upload keeps is a multiple of this
RANGE = re.compile(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)")


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class Grant:
    """What a user consented to: an authorization code's or a refresh token's."""

    client_id: str
    scopes: frozenset[str]
    challenge: str = ""
    redirect_uri: str = ""


@dataclass
class Session:
    """One resumable upload."""

    kind: str
    metadata: dict[str, Any]
    query: dict[str, str]
    total: int
    data: bytearray = field(default_factory=bytearray)
    resource: dict[str, Any] | None = None


class YouTubeFake:
    """The fake, on a free 127.0.0.1 port in a background thread; ``base_url`` serves as both
    ``google_oauth_base`` and ``youtube_api_base``."""

    def __init__(
        self,
        client_id: str = "fake-client.apps.googleusercontent.com",
        client_secret: str = "fake-client-secret",
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.lock = threading.RLock()
        self.codes: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        self.access_tokens: dict[str, tuple[Grant, str, float]] = {}  # (grant, refresh, expiry)
        self.revoked: set[str] = set()
        self.sessions: dict[str, Session] = {}
        self.received: dict[str, int] = {}  # upload id -> body bytes received, all PUTs together
        self.videos: dict[str, dict[str, Any]] = {}
        self.video_bytes: dict[str, bytes] = {}
        self.captions: dict[str, list[tuple[str, bytes]]] = {}  # video id -> (language, file)
        self.thumbnails: dict[str, bytes] = {}
        self.failures: list[tuple[str, str | None]] = []  # (failure, only for this kind)
        self.cut_at: int | None = None
        self.cuts = 0
        self.hold_at: int | None = None
        self.holding = threading.Event()
        self._released = threading.Event()
        self.token_requests: list[dict[str, str]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> YouTubeFake:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what tests tell it ----------------------------------------------------------------

    def fail_next(self, kind: str, times: int = 1, on: str | None = None) -> None:
        """Answer the next `times` upload requests (only those of kind `on`: video, caption,
        thumbnail, when given) with failure `kind` (quota, server_error)."""
        if kind not in FAILURES or on not in {None, *NEEDED_SCOPES}:
            raise ValueError(f"unknown failure {kind!r} on {on!r}")
        with self.lock:
            self.failures.extend([(kind, on)] * times)

    def cut_after(self, size: int) -> None:
        """Reset the connection once an upload session has received `size` bytes (once)."""
        with self.lock:
            self.cut_at = size

    def hold_after(self, size: int) -> None:
        """Hold the answer to the chunk that brings a session past `size` bytes (its bytes kept)
        until `release`, then drop the connection; `holding` is set meanwhile (once)."""
        with self.lock:
            self.hold_at = size
            self.holding.clear()
            self._released.clear()

    def release(self) -> None:
        with self.lock:
            self.hold_at = None
        self._released.set()

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token, (grant, refresh, _) in list(self.access_tokens.items()):
                self.access_tokens[token] = (grant, refresh, 0.0)

    def received_for(self, session_uri: str) -> int:
        """Body bytes the session at `session_uri` has received, resent ones included."""
        upload_id = parse_qs(urlsplit(session_uri).query)["upload_id"][0]
        return self.received.get(upload_id, 0)

    def resource_of(self, session_uri: str) -> dict[str, Any] | None:
        """What the upload at `session_uri` created (a Video, ...), once it completed."""
        upload_id = parse_qs(urlsplit(session_uri).query)["upload_id"][0]
        session = self.sessions.get(upload_id)
        return session.resource if session else None

    def consent_code(self, auth_url: str) -> tuple[str, str]:
        """The code and state a user's consent at `auth_url` would send to the redirect URI."""
        status, headers, _ = self._authorize(parse_qs(urlsplit(auth_url).query))
        if status != 302:
            raise AssertionError(f"the consent page refused {auth_url}")
        answer = parse_qs(urlsplit(headers["Location"]).query)
        return answer["code"][0], answer["state"][0]

    # -- OAuth -----------------------------------------------------------------------------

    def _authorize(self, query: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        one = {k: v[0] for k, v in query.items()}
        scopes = frozenset(one.get("scope", "").split())
        problem = None
        if one.get("client_id") != self.client_id:
            problem = "invalid_client"
        elif one.get("response_type") != "code":
            problem = "unsupported_response_type"
        elif one.get("code_challenge_method") != "S256" or len(one.get("code_challenge", "")) != 43:
            problem = "invalid_request: PKCE with S256 is required"
        elif not scopes or not scopes <= KNOWN_SCOPES:
            problem = "invalid_scope"
        elif not one.get("redirect_uri"):
            problem = "invalid_request: redirect_uri"
        if problem:
            return 400, {"Content-Type": "text/plain"}, f"Error 400: {problem}".encode()
        code = "4/" + secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = Grant(
                self.client_id, scopes, one["code_challenge"], one["redirect_uri"]
            )
        back = {"state": one.get("state", ""), "code": code, "scope": " ".join(sorted(scopes))}
        return 302, {"Location": f"{one['redirect_uri']}?{urlencode(back)}"}, b""

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.token_requests.append({k: v for k, v in form.items() if k != "client_secret"})
        if (
            form.get("client_id") != self.client_id
            or form.get("client_secret") != self.client_secret
        ):
            return 401, {"error": "invalid_client", "error_description": "Unauthorized"}
        grant_type = form.get("grant_type")
        with self.lock:
            if grant_type == "authorization_code":
                grant = self.codes.pop(form.get("code", ""), None)  # one use only
                if grant is None:
                    return 400, _oauth_error("invalid_grant", "Malformed auth code.")
                if form.get("redirect_uri") != grant.redirect_uri:
                    return 400, _oauth_error("redirect_uri_mismatch", "Bad Request")
                if s256(form.get("code_verifier", "")) != grant.challenge:
                    return 400, _oauth_error("invalid_grant", "Invalid code verifier.")
                refresh = "1//" + secrets.token_urlsafe(32)
                self.refresh_tokens[refresh] = grant
                return 200, {**self._access(grant, refresh), "refresh_token": refresh}
            if grant_type == "refresh_token":
                refresh = form.get("refresh_token", "")
                grant = self.refresh_tokens.get(refresh)
                if grant is None or refresh in self.revoked:
                    return 400, _oauth_error("invalid_grant", "Token has been expired or revoked.")
                return 200, self._access(grant, refresh)
        return 400, _oauth_error("unsupported_grant_type", "Invalid grant_type.")

    def _access(self, grant: Grant, refresh: str) -> dict[str, Any]:
        token = "ya29." + secrets.token_urlsafe(32)
        self.access_tokens[token] = (grant, refresh, time.time() + ACCESS_TOKEN_SECONDS)
        return {
            "access_token": token,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "scope": " ".join(sorted(grant.scopes)),
            "token_type": "Bearer",
        }

    def _revoke(self, token: str) -> tuple[int, dict[str, Any]]:
        with self.lock:
            if token in self.revoked or (
                token not in self.refresh_tokens and token not in self.access_tokens
            ):
                return 400, _oauth_error("invalid_token", "Token expired or revoked")
            refresh = self.access_tokens[token][1] if token in self.access_tokens else token
            self.revoked |= {refresh} | {
                access for access, (_, r, _) in self.access_tokens.items() if r == refresh
            }
        return 200, {}

    def _caller(self, authorization: str | None) -> Grant | None:
        token = (authorization or "").removeprefix("Bearer ")
        with self.lock:
            entry = self.access_tokens.get(token)
            if entry is None or token in self.revoked or entry[2] < time.time():
                return None
            return entry[0]

    # -- uploads ---------------------------------------------------------------------------

    def _failure(self, kind: str) -> tuple[int, dict[str, Any]] | None:
        with self.lock:
            due = next((i for i, (_, on) in enumerate(self.failures) if on in (None, kind)), None)
            if due is None:
                return None
            status, domain, reason, message = FAILURES[self.failures.pop(due)[0]]
        return status, _api_error(status, reason, message, domain)

    def _start(
        self, kind: str, query: dict[str, str], headers: Any, body: bytes
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        grant = self._caller(headers.get("Authorization"))
        if grant is None:
            error = _api_error(
                401, "authError", "Invalid Credentials", status_name="UNAUTHENTICATED"
            )
            return 401, error, {"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'}
        if not grant.scopes & NEEDED_SCOPES[kind]:
            error = _api_error(403, "insufficientPermissions", "Insufficient Permission")
            return 403, error, {}
        failure = self._failure(kind)
        if failure:
            return failure[0], failure[1], {}
        if query.get("uploadType") != "resumable" or "X-Upload-Content-Length" not in headers:
            error = _api_error(400, "badRequest", "A resumable upload with its length is expected")
            return 400, error, {}
        metadata = json.loads(body) if body else {}
        video_id = query.get("videoId") or metadata.get("snippet", {}).get("videoId")
        if kind != "video" and video_id not in self.videos:
            return 404, _api_error(404, "videoNotFound", "The video was not found."), {}
        if kind == "video" and not metadata.get("snippet", {}).get("title"):
            return 400, _api_error(400, "invalidTitle", "The video title is empty."), {}
        upload_id = secrets.token_urlsafe(18)
        with self.lock:
            self.sessions[upload_id] = Session(
                kind, metadata, query, int(headers["X-Upload-Content-Length"])
            )
        location = f"{self.base_url}{_path_of(kind)}?uploadType=resumable&upload_id={upload_id}"
        return 200, {}, {"Location": location, "X-GUploader-UploadID": upload_id}

    def _list_captions(self, query: dict[str, str], headers: Any) -> tuple[int, dict[str, Any]]:
        """captions.list: the video's tracks (snippets only, as with ``part=snippet``)."""
        grant = self._caller(headers.get("Authorization"))
        if grant is None:
            return 401, _api_error(401, "authError", "Invalid Credentials")
        if FORCE_SSL_SCOPE not in grant.scopes:
            return 403, _api_error(403, "insufficientPermissions", "Insufficient Permission")
        video_id = query.get("videoId", "")
        if query.get("part") != "snippet" or video_id not in self.videos:
            return 404, _api_error(404, "videoNotFound", "The video was not found.")
        tracks = self.captions.get(video_id, [])
        items = [
            {
                "kind": "youtube#caption",
                "id": f"{video_id}.{n}",
                "snippet": {"videoId": video_id, "language": language, "trackKind": "standard"},
            }
            for n, (language, _) in enumerate(tracks)
        ]
        return 200, {"kind": "youtube#captionListResponse", "items": items}

    def _complete(self, session: Session) -> dict[str, Any]:
        data = bytes(session.data)
        if session.kind == "video":
            video_id = secrets.token_urlsafe(8)[:11]
            resource = {
                "kind": "youtube#video",
                "id": video_id,
                "snippet": {
                    **session.metadata.get("snippet", {}),
                    "publishedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "channelId": "UCfakechannel0000000000",
                },
                "status": {**session.metadata.get("status", {}), "uploadStatus": "uploaded"},
            }
            self.videos[video_id] = resource
            self.video_bytes[video_id] = data
            return resource
        if session.kind == "caption":
            snippet = session.metadata["snippet"]
            self.captions.setdefault(snippet["videoId"], []).append((snippet["language"], data))
            return {
                "kind": "youtube#caption",
                "id": secrets.token_urlsafe(18),
                "snippet": {**snippet, "trackKind": "standard", "status": "serving"},
            }
        video_id = session.query["videoId"]
        self.thumbnails[video_id] = data
        url = f"{self.base_url}/vi/{video_id}/default.jpg"
        return {
            "kind": "youtube#thumbnailSetResponse",
            "items": [{"default": {"url": url, "width": 120, "height": 90}}],
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _send(self, status: int, body: bytes | dict[str, Any], **headers: str) -> None:
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status, "Resume Incomplete" if status == 308 else None)
                if not isinstance(body, bytes):
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _target(self) -> tuple[str, dict[str, str]]:
                parts = urlsplit(self.path)
                return parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}

            def do_GET(self) -> None:
                path, query = self._target()
                if path == "/o/oauth2/v2/auth":
                    status, headers, body = fake._authorize(parse_qs(urlsplit(self.path).query))
                    self._send(status, body, **headers)
                elif path == "/youtube/v3/captions":
                    self._send(*fake._list_captions(query, self.headers))
                else:
                    self._send(404, _api_error(404, "notFound", "Not Found"))

            def do_POST(self) -> None:
                path, query = self._target()
                body = self._body()
                if path in ("/token", "/revoke"):
                    form = {**query, **{k: v[0] for k, v in parse_qs(body.decode()).items()}}
                    if path == "/token":
                        status, answer = fake._token(form)
                    else:
                        status, answer = fake._revoke(form.get("token", ""))
                    self._send(status, answer)
                elif path in UPLOAD_PATHS:
                    status, answer, headers = fake._start(
                        UPLOAD_PATHS[path], query, self.headers, body
                    )
                    self._send(status, b"" if status == 200 else answer, **headers)
                else:
                    self._send(404, _api_error(404, "notFound", "Not Found"))

            def do_PUT(self) -> None:
                path, query = self._target()
                upload_id = query.get("upload_id", "")
                session = fake.sessions.get(upload_id)
                if path not in UPLOAD_PATHS or session is None:
                    self._body()
                    self._send(404, _api_error(404, "notFound", "No such upload session"))
                    return
                match = RANGE.fullmatch(self.headers.get("Content-Range", ""))
                length = int(self.headers.get("Content-Length") or 0)
                if match is None or (match.group(1) is None and length):
                    self._body()
                    self._send(400, _api_error(400, "badRequest", "Bad Content-Range"))
                    return
                if match.group(1) is not None:
                    if not self._chunk(upload_id, session, int(match.group(1)), length):
                        return  # the connection was cut
                    failure = fake._failure(session.kind)
                    if failure:
                        self._send(*failure)
                        return
                if session.resource is None and len(session.data) == session.total:
                    with fake.lock:
                        session.resource = fake._complete(session)
                if session.resource is not None:
                    self._send(200, session.resource)
                elif session.data:
                    self._send(308, b"", Range=f"bytes=0-{len(session.data) - 1}")
                else:
                    self._send(308, b"")

            def _chunk(self, upload_id: str, session: Session, start: int, length: int) -> bool:
                """Take a chunk's bytes; False when the connection was cut mid-chunk."""
                with fake.lock:
                    before = fake.received.get(upload_id, 0)
                    cut = fake.cut_at is not None and before + length > fake.cut_at
                    take = fake.cut_at - before if cut and fake.cut_at is not None else length
                    if cut:
                        fake.cut_at = None
                        fake.cuts += 1
                data = self.rfile.read(max(take, 0))
                with fake.lock:
                    fake.received[upload_id] = before + len(data)
                    if start <= len(session.data) and session.resource is None:
                        session.data += data[len(session.data) - start :]
                        del session.data[session.total :]
                    if cut:
                        del session.data[len(session.data) // PERSIST_UNIT * PERSIST_UNIT :]
                    hold = fake.hold_at is not None and before + len(data) >= fake.hold_at
                    if hold:
                        fake.hold_at = None
                if hold:
                    fake.holding.set()
                    fake._released.wait(timeout=120)
                if cut or hold:  # as if the uploader died: a reset, no answer
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                    self.close_connection = True
                    return False
                return True

        return Handler


def _path_of(kind: str) -> str:
    return next(path for path, k in UPLOAD_PATHS.items() if k == kind)


def _oauth_error(error: str, description: str) -> dict[str, Any]:
    return {"error": error, "error_description": description}


def _api_error(
    status: int, reason: str, message: str, domain: str = "global", status_name: str = ""
) -> dict[str, Any]:
    """A Google API error body (``error.errors[].reason``, as the Data API answers)."""
    error = {"message": message, "domain": domain, "reason": reason}
    name = status_name or ("UNAUTHENTICATED" if status == 401 else "")
    return {"error": {"code": status, "message": message, "errors": [error], "status": name}}


@pytest.fixture(scope="session")
def youtube_fake() -> Iterator[YouTubeFake]:
    """The YouTube and Google OAuth fake, running for this test session."""
    with YouTubeFake() as fake:
        yield fake
