"""The tokens of the links the studio e-mails: verify an address, reset a password, unsubscribe.

Signed (JWT, HS256) with a secret of their own, so nothing is stored: a verification token is
good until it expires; a reset token names the password version it was minted for, so it
stops working once the password changes (single use) or after an hour; an unsubscribe token
does not expire. Each token is good for its own purpose only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal
from uuid import UUID

import jwt

ALGORITHM = "HS256"
ISSUER = "filmstudio"
Purpose = Literal["verify", "password-reset", "unsubscribe"]


class InvalidToken(Exception):
    """The token is malformed, forged, expired, or for another purpose."""


@dataclass(frozen=True)
class AccountToken:
    user_id: UUID
    purpose: Purpose
    password_version: int


class AccountTokens:
    def __init__(self, secret: str, verify_ttl_seconds: int, reset_ttl_seconds: int) -> None:
        self._secret = secret
        self._ttl: dict[str, int | None] = {
            "verify": verify_ttl_seconds,
            "password-reset": reset_ttl_seconds,
            "unsubscribe": None,
        }

    def mint(self, user_id: UUID, purpose: Purpose, password_version: int = 0) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "sub": str(user_id),
            "aud": purpose,
            "iss": ISSUER,
            "iat": now,
            "pwv": password_version,
        }
        ttl = self._ttl[purpose]
        if ttl is not None:
            claims["exp"] = now + ttl
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def read(self, token: str, purpose: Purpose) -> AccountToken:
        """The token's claims; InvalidToken unless it is a good token for `purpose`."""
        required = ["sub", "aud", "iss"] + (["exp"] if self._ttl[purpose] is not None else [])
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=purpose,
                issuer=ISSUER,
                options={"require": required},
            )
            return AccountToken(UUID(claims["sub"]), purpose, int(claims.get("pwv", 0)))
        except (jwt.PyJWTError, ValueError, TypeError) as error:
            raise InvalidToken(f"this {purpose} link is not valid or has expired") from error
