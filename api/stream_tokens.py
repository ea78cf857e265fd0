"""Link tokens: short-lived, read-only tokens for one production, sent as `?token=` by what cannot
send an `Authorization` header (`EventSource`, `<video>`, `<track>`, a download link).

A link token names its user, the user's password version, one production and one scope
(`events`: open that production's live stream; `media`: read its film, thumbnail and subtitles).
It is signed with a key derived from the access tokens' secret and carries an audience of its
own, so it is never accepted as a bearer token, nor a bearer token as a link token. Like an access
token it stops working when its user is erased or changes their password.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal
from uuid import UUID

import jwt
from fastapi import Depends, Query
from fastapi.security import OAuth2PasswordBearer

from api.auth import ALGORITHM, unauthorized
from api.deps import Services, Svc, checked_caller
from commands.handlers import Identity

AUDIENCE = "filmstudio:link"
Scope = Literal["events", "media"]
STREAM_TOKEN_SECONDS = 60  # time to open the stream; an open stream is not cut when it expires
optional_bearer = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
Bearer = Annotated[str | None, Depends(optional_bearer)]
LinkToken = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="a link token of this production, instead of the bearer header (for what "
        "cannot send one: `EventSource`, `<video>`, a download link)",
    ),
]


class LinkTokens:
    """Issues and checks link tokens."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"filmstudio link tokens", hashlib.sha256).digest()

    def issue(
        self, identity: Identity, production_id: UUID, scope: Scope, seconds: int
    ) -> tuple[str, datetime]:
        """A token and when it expires."""
        now = int(time.time())
        claims = {
            "sub": str(identity.user_id),
            "pwv": identity.password_version,
            "prd": str(production_id),
            "scp": scope,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + seconds,
        }
        token = jwt.encode(claims, self._key, algorithm=ALGORITHM)
        return token, datetime.fromtimestamp(now + seconds, UTC)

    def check(self, token: str, production_id: UUID, scope: Scope) -> tuple[UUID, int]:
        """The user and password version of a valid token of `scope` for `production_id`."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["exp", "sub", "prd", "scp", "aud"]},
            )
            user_id, production, pwv = UUID(claims["sub"]), UUID(claims["prd"]), int(claims["pwv"])
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as error:
            raise unauthorized("invalid or expired link token") from error
        if production != production_id or claims["scp"] != scope:
            raise unauthorized(f"this link token is not for this production's {scope}")
        return user_id, pwv


def link_tokens(svc: Services) -> LinkTokens:
    """The link tokens of the API's secret (the one its access tokens are signed with)."""
    return LinkTokens(svc.settings.secret("jwt_secret"))


def _linked_caller(scope: Scope) -> Callable[..., Identity]:
    def linked_caller(
        production_id: UUID,
        svc: Svc,
        bearer: Bearer,
        token: LinkToken = None,
    ) -> Identity:
        """The caller by their bearer token, else by a link token of this production."""
        if bearer:
            return checked_caller(svc, bearer)
        if not token:
            raise unauthorized("Not authenticated")
        user_id, password_version = link_tokens(svc).check(token, production_id, scope)
        current = svc.studio.identity(user_id)
        if current is None:
            raise unauthorized("this account no longer exists")
        if current.password_version != password_version:
            raise unauthorized("the password changed since this link was made: reload it")
        return current

    return linked_caller


EventsCaller = Annotated[Identity, Depends(_linked_caller("events"))]
MediaCaller = Annotated[Identity, Depends(_linked_caller("media"))]
