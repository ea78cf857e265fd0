"""Bearer tokens (JWT, HS256) and the caller's identity."""

from __future__ import annotations

import time
from typing import Annotated
from uuid import UUID

import jwt
from fastapi import Depends, HTTPException
from fastapi.security import OAuth2PasswordBearer

from commands.handlers import Identity

ALGORITHM = "HS256"
oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token")


class Tokens:
    """Issues and checks the API's access tokens."""

    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._secret = secret
        self.ttl_seconds = ttl_seconds

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
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
            return Identity(
                user_id=UUID(claims["sub"]),
                role=str(claims.get("role", "creator")),
                password_version=int(claims.get("pwv", 0)),
            )
        except (jwt.PyJWTError, ValueError) as error:
            raise unauthorized("invalid or expired token") from error


def unauthorized(detail: str) -> HTTPException:
    """The 401 of a token that is no (longer a) good one."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


Token = Annotated[str, Depends(oauth2)]
