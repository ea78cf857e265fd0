"""The YouTube adapter without a server: PKCE, the consent URL, Google's OAuth answers (through
httpx's mock transport), the video resource, the discovery document, and error mapping."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httplib2
import httpx
import pytest
from googleapiclient.errors import HttpError
from pydantic import SecretStr

from adapters.settings import Settings
from adapters.youtube import (
    GOOGLE_AUTH_URL,
    SCOPES,
    OAuthEndpoints,
    Tokens,
    VideoMetadata,
    YouTubeOAuth,
    YouTubeRefused,
    YouTubeUnavailable,
    YouTubeUploader,
    api_failure,
    code_challenge,
    discovery_document,
    new_code_verifier,
)

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(youtube_client_id="cid", youtube_client_secret=SecretStr("csecret"))


def oauth(answer: httpx.Response | Exception, seen: list[httpx.Request] | None = None):
    def handle(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        if isinstance(answer, Exception):
            raise answer
        return answer

    client = httpx.Client(transport=httpx.MockTransport(handle))
    return YouTubeOAuth(SETTINGS, client=client, clock=lambda: NOW)


def test_the_code_challenge_is_s256_of_the_verifier() -> None:
    # RFC 7636, appendix B.
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_verifier_is_random_and_of_the_allowed_characters() -> None:
    verifiers = {new_code_verifier() for _ in range(20)}
    assert len(verifiers) == 20
    assert all(re.fullmatch(r"[A-Za-z0-9\-._~]{43,128}", v) for v in verifiers)


def test_the_consent_url_asks_for_offline_upload_and_captions_with_pkce() -> None:
    url = oauth(httpx.Response(500)).authorization_url("st", "v" * 43, "https://s.example/cb")
    assert url.startswith(GOOGLE_AUTH_URL + "?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["scope"].split() == list(SCOPES)
    assert query["code_challenge"] == code_challenge("v" * 43)
    assert query["code_challenge_method"] == "S256"
    assert (query["access_type"], query["prompt"]) == ("offline", "consent")
    assert (query["client_id"], query["state"], query["response_type"]) == ("cid", "st", "code")
    assert query["redirect_uri"] == "https://s.example/cb"


def test_a_stand_in_base_moves_every_oauth_endpoint() -> None:
    endpoints = OAuthEndpoints.of(SETTINGS.model_copy(update={"google_oauth_base": "http://h:1/"}))
    assert endpoints == OAuthEndpoints(
        "http://h:1/o/oauth2/v2/auth", "http://h:1/token", "http://h:1/revoke"
    )


def test_oauth_needs_a_client() -> None:
    with pytest.raises(ValueError, match="CLIENT_ID"):
        YouTubeOAuth(Settings())


def test_the_exchange_sends_the_verifier_and_reads_the_tokens() -> None:
    seen: list[httpx.Request] = []
    answer = {"access_token": "ya29.a", "refresh_token": "1//r", "expires_in": 3599,
              "scope": " ".join(SCOPES), "token_type": "Bearer"}  # fmt: skip
    tokens = oauth(httpx.Response(200, json=answer), seen).exchange("4/c", "ver", "https://cb")
    form = parse_qs(seen[0].content.decode())
    assert form["grant_type"] == ["authorization_code"] and form["code_verifier"] == ["ver"]
    assert form["client_secret"] == ["csecret"] and form["redirect_uri"] == ["https://cb"]
    assert tokens == Tokens("ya29.a", "1//r", NOW + timedelta(seconds=3599), SCOPES)
    assert "ya29" not in repr(tokens) and "1//r" not in repr(tokens)


def test_a_refresh_keeps_the_refresh_token() -> None:
    answer = {"access_token": "ya29.b", "expires_in": 3599, "token_type": "Bearer"}
    tokens = oauth(httpx.Response(200, json=answer)).refresh("1//r")
    assert (tokens.access_token, tokens.refresh_token) == ("ya29.b", "1//r")


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(400, json={"error": "invalid_grant"}), YouTubeRefused),
        (httpx.Response(401, json={"error": "invalid_client"}), YouTubeRefused),
        (httpx.Response(503, text="down"), YouTubeUnavailable),
        (httpx.Response(429, json={"error": "rate_limit_exceeded"}), YouTubeUnavailable),
        (httpx.ConnectError("refused"), YouTubeUnavailable),
    ],
)
def test_oauth_errors_are_mapped(answer: httpx.Response | Exception, error: type) -> None:
    with pytest.raises(error):
        oauth(answer).refresh("1//r")


def test_revoking_twice_is_not_an_error() -> None:
    assert oauth(httpx.Response(200, json={})).revoke("1//r") is True
    gone = httpx.Response(400, json={"error": "invalid_token"})
    assert oauth(gone).revoke("1//r") is False
    with pytest.raises(YouTubeUnavailable):
        oauth(httpx.Response(500)).revoke("1//r")


def test_tokens_expire_a_minute_early() -> None:
    tokens = Tokens("a", "r", NOW + timedelta(seconds=90))
    assert not tokens.expired(NOW)
    assert tokens.expired(NOW + timedelta(seconds=31))


def test_the_video_resource() -> None:
    publish = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    body = VideoMetadata("Film", "About", ("a", "b"), "private", made_for_kids=True,
                         publish_at=publish, language="hi").body()  # fmt: skip
    assert body["snippet"] == {"title": "Film", "description": "About", "tags": ["a", "b"],
                               "categoryId": "1", "defaultLanguage": "hi"}  # fmt: skip
    assert body["status"] == {"privacyStatus": "private", "selfDeclaredMadeForKids": True,
                              "publishAt": "2027-01-02T03:04:05Z"}  # fmt: skip


@pytest.mark.parametrize(
    "metadata",
    [
        VideoMetadata(""),
        VideoMetadata("x" * 101),
        VideoMetadata("a <b>"),
        VideoMetadata("ok", privacy="public", publish_at=NOW),
    ],
)
def test_a_video_youtube_would_refuse_is_refused_here(metadata: VideoMetadata) -> None:
    with pytest.raises(ValueError):
        metadata.body()


def test_the_discovery_document_points_uploads_at_the_api_base() -> None:
    document = discovery_document("http://127.0.0.1:9")
    assert document["rootUrl"] == "http://127.0.0.1:9/"
    insert = document["resources"]["videos"]["methods"]["insert"]
    assert insert["mediaUpload"]["protocols"]["resumable"]["multipart"] is True


def test_chunks_are_whole_multiples_of_256_kib() -> None:
    tokens = Tokens("a", "r", NOW)
    with pytest.raises(ValueError, match="multiple"):
        YouTubeUploader(SETTINGS, tokens, chunk_bytes=1000)


def http_error(status: int, reason: str | None) -> HttpError:
    content = (
        b'{"error": {"code": %d, "message": "m", "errors": [{"reason": "%s"}]}}'
        % (status, reason.encode())
        if reason
        else b"<html>Bad Gateway</html>"
    )
    return HttpError(httplib2.Response({"status": status}), content, uri="http://x")


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        (403, "quotaExceeded", YouTubeUnavailable),
        (403, "rateLimitExceeded", YouTubeUnavailable),
        (403, "uploadLimitExceeded", YouTubeUnavailable),
        (500, "backendError", YouTubeUnavailable),
        (502, None, YouTubeUnavailable),
        (429, None, YouTubeUnavailable),
        (403, "forbidden", YouTubeRefused),
        (400, "invalidTitle", YouTubeRefused),
        (404, "videoNotFound", YouTubeRefused),
    ],
)
def test_api_errors_are_mapped(status: int, reason: str | None, error: type) -> None:
    failure = api_failure(http_error(status, reason))
    assert isinstance(failure, error)
    if isinstance(failure, YouTubeRefused):
        assert (failure.reason, failure.status) == (reason, status)
