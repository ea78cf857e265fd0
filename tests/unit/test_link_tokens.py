"""Link tokens: read-only, short-lived, for one production and one scope, never a bearer token."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from fastapi import HTTPException

from adapters.settings import Settings
from api import stream_tokens
from api.auth import Tokens
from api.stream_tokens import LinkTokens
from commands.handlers import Identity

SECRET = "a-secret-of-the-tests-32-bytes-long!"
USER = Identity(user_id=uuid.uuid4(), role="creator", password_version=2)
PRODUCTION = uuid.uuid4()


def _refused(call, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(HTTPException) as raised:
        call()
    assert raised.value.status_code == 401
    assert reason in raised.value.detail


def test_a_token_names_its_user_password_version_and_expiry() -> None:
    tokens = LinkTokens(SECRET)
    token, expires = tokens.issue(USER, PRODUCTION, "media", 60)
    assert tokens.check(token, PRODUCTION, "media") == (USER.user_id, 2)
    assert 55 <= (expires - datetime.now(UTC)).total_seconds() <= 60


def test_another_production_scope_key_or_an_expired_token_is_refused() -> None:
    tokens = LinkTokens(SECRET)
    token, _ = tokens.issue(USER, PRODUCTION, "media", 60)
    _refused(lambda: tokens.check(token, uuid.uuid4(), "media"), "not for this production")
    _refused(lambda: tokens.check(token, PRODUCTION, "events"), "not for this production")
    _refused(lambda: LinkTokens("other").check(token, PRODUCTION, "media"), "invalid or expired")
    expired, _ = tokens.issue(USER, PRODUCTION, "media", -1)
    _refused(lambda: tokens.check(expired, PRODUCTION, "media"), "invalid or expired")
    _refused(lambda: tokens.check(token[:-3] + "AAA", PRODUCTION, "media"), "invalid or expired")


def test_link_tokens_and_access_tokens_are_not_interchangeable() -> None:
    access = Tokens(SECRET, 600)
    link, _ = LinkTokens(SECRET).issue(USER, PRODUCTION, "events", 60)
    _refused(lambda: access.identity(link), "invalid or expired token")
    bearer = access.issue(USER)
    _refused(lambda: LinkTokens(SECRET).check(bearer, PRODUCTION, "events"), "invalid or expired")


def _svc(tmp_path, current: Identity | None) -> SimpleNamespace:  # type: ignore[no-untyped-def]
    settings = Settings(state_dir=tmp_path, jwt_secret=SECRET)
    return SimpleNamespace(settings=settings, studio=SimpleNamespace(identity=lambda _: current))


def test_the_link_stops_working_once_the_user_is_erased_or_changed_password(tmp_path) -> None:
    dependency = stream_tokens._linked_caller("media")
    token, _ = LinkTokens(SECRET).issue(USER, PRODUCTION, "media", 60)
    assert dependency(PRODUCTION, _svc(tmp_path, USER), None, token) == USER
    _refused(lambda: dependency(PRODUCTION, _svc(tmp_path, None), None, token), "no longer exists")
    changed = Identity(user_id=USER.user_id, role="creator", password_version=3)
    _refused(lambda: dependency(PRODUCTION, _svc(tmp_path, changed), None, token), "password")
    _refused(lambda: dependency(PRODUCTION, _svc(tmp_path, USER), None, None), "Not authenticated")
