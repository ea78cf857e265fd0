"""Bearer tokens (JWT, HS256) and the caller's identity."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

from commands.handlers import Identity

ALGORITHM = "HS256"
VERIFIED_TOKENS = 4096  # tokens whose signature was checked, kept with their expiry
oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token")


class Tokens:
    """Issues and checks the API's access tokens."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds
        # A token's claims never change, so a checked signature need not be checked again on
        # every request (twice per request: the trace's actor, then the route's caller); the
        # expiry is still checked each time. Failures are not kept.
        self._verified = lru_cache(maxsize=VERIFIED_TOKENS)(self._verify)

    def issue(self, identity: Identity) -> str:
        now = int(time.time())
        claims = {
            "sub": str(identity.user_id),
            "role": identity.role,
            "pwv": identity.password_version,
            "iat": now,
            "exp": now + self.ttl_seconds,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def identity(self, token: str) -> Identity:
        """The token's claims; 401 when it is not ours, malformed or expired."""
        identity, expires = self._verified(token)
        if expires <= time.time():
            raise unauthorized("invalid or expired token")
        return identity

    def _verify(self, token: str) -> tuple[Identity, float]:
        """(identity, expiry) of a token whose signature and claims check out."""
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
            identity = Identity(
                user_id=UUID(claims["sub"]),
                role=str(claims.get("role", "creator")),
                password_version=int(claims.get("pwv", 0)),
            )
            return identity, float(claims["exp"])
        except (jwt.PyJWTError, ValueError) as error:
            raise unauthorized("invalid or expired token") from error


def unauthorized(detail: str) -> HTTPException:
    """The 401 of a token that is no (longer a) good one."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


Token = Annotated[str, Depends(oauth2)]
