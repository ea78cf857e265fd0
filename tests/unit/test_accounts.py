"""Account flows: e-mail verification, password reset (single use, no enumeration, older tokens
refused after), e-mail preferences, and the signed tokens of the e-mailed links."""

import time
from uuid import uuid4

import jwt
import pytest
from fastapi.testclient import TestClient
from psycopg_pool import ConnectionPool

from adapters.account_tokens import AccountTokens, InvalidToken
from api.app import create_app
from api.auth import Tokens
from api.deps import Services
from domain.errors import Conflict, Invalid
from filmstudio.bootstrap import InMemoryStudio

EMAIL, PASSWORD = "ravi@example.com", "first-password-1"
SECRET = "unit-test-account-token-secret-32b"


@pytest.fixture
def links() -> AccountTokens:
    return AccountTokens(SECRET, verify_ttl_seconds=600, reset_ttl_seconds=600)


def registered(memory: InMemoryStudio):
    user_id, _ = memory.studio.register(EMAIL, PASSWORD, "Ravi")
    return user_id


def event_types(memory: InMemoryStudio, after: int) -> list[str]:
    return [e.type for e in memory.envelopes(after)]


def test_verification_is_recorded_once(memory):
    user_id = registered(memory)
    before = memory.store.last_position()
    memory.studio.verify_email(user_id)
    memory.studio.verify_email(user_id)
    assert event_types(memory, before) == ["user.Verified"]


def test_a_reset_request_for_an_unknown_address_records_nothing(memory):
    registered(memory)
    before = memory.store.last_position()
    memory.studio.request_password_reset("nobody@example.com")
    assert event_types(memory, before) == []
    memory.studio.request_password_reset(EMAIL)
    assert event_types(memory, before) == ["user.PasswordResetRequested"]


def test_a_reset_link_works_once_and_the_new_password_replaces_the_old(memory):
    user_id = registered(memory)
    memory.studio.reset_password(user_id, 0, "second-password-2")
    with pytest.raises(Conflict, match="already used"):
        memory.studio.reset_password(user_id, 0, "third-password-3")
    assert memory.studio.authenticate(EMAIL, PASSWORD) is None
    signed_in = memory.studio.authenticate(EMAIL, "second-password-2")
    assert signed_in is not None and signed_in.password_version == 1


def test_email_preferences_take_known_languages_and_record_changes_only(memory):
    user_id = registered(memory)
    before = memory.store.last_position()
    memory.studio.change_email_preferences(user_id, "hi", None)
    memory.studio.change_email_preferences(user_id, "hi", True)  # nothing new
    memory.studio.change_email_preferences(user_id, None, False)
    assert event_types(memory, before) == ["user.EmailPreferencesChanged"] * 2
    with pytest.raises(Invalid):
        memory.studio.change_email_preferences(user_id, "xx", None)


def test_a_link_token_is_good_for_its_own_purpose_only(links):
    user_id = uuid4()
    token = links.mint(user_id, "password-reset", password_version=3)
    read = links.read(token, "password-reset")
    assert (read.user_id, read.password_version) == (user_id, 3)
    with pytest.raises(InvalidToken):
        links.read(token, "verify")
    with pytest.raises(InvalidToken):
        AccountTokens("another-secret-of-thirty-two-bytes", 600, 600).read(token, "password-reset")


def test_an_expired_link_is_refused_and_unsubscribe_links_do_not_expire(links):
    user_id = uuid4()
    stale = jwt.encode(
        {"sub": str(user_id), "aud": "verify", "iss": "filmstudio", "exp": int(time.time()) - 1},
        SECRET,
        algorithm="HS256",
    )
    with pytest.raises(InvalidToken, match="expired"):
        links.read(stale, "verify")
    assert "exp" not in jwt.decode(
        links.mint(user_id, "unsubscribe"), options={"verify_signature": False}
    )
    assert links.read(links.mint(user_id, "unsubscribe"), "unsubscribe").user_id == user_id


def test_the_api_refuses_tokens_issued_before_a_password_change(memory, unit_settings, links):
    user_id = registered(memory)
    tokens = Tokens("unit-test-jwt-secret-of-thirty-two-bytes", 3600)
    old = {"Authorization": f"Bearer {tokens.issue(memory.studio.identity(user_id))}"}
    services = Services(
        unit_settings, memory.studio, ConnectionPool("", open=False), None, None, tokens, None,
        links, None, memory.media,
    )  # type: ignore[arg-type]  # fmt: skip
    with TestClient(create_app(unit_settings, lambda _: services)) as client:
        assert client.patch("/v1/me", json={"display_name": "R"}, headers=old).status_code == 200
        reset = links.mint(user_id, "password-reset", password_version=0)
        confirm = {"token": reset, "password": "second-password-2"}
        assert client.post("/v1/auth/password-reset/confirm", json=confirm).status_code == 200
        again = client.post("/v1/auth/password-reset/confirm", json=confirm)
        assert again.status_code == 400 and "already used" in again.json()["detail"]
        refused = client.patch("/v1/me", json={"display_name": "R"}, headers=old)
        assert refused.status_code == 401 and "password changed" in refused.json()["detail"]
        new = {"Authorization": f"Bearer {tokens.issue(memory.studio.identity(user_id))}"}
        assert client.patch("/v1/me", json={"display_name": "R"}, headers=new).status_code == 200
        forged = client.post("/v1/auth/verify", json={"token": "not-a-token"})
        assert forged.status_code == 400
        verified = client.post("/v1/auth/verify", json={"token": links.mint(user_id, "verify")})
        assert verified.status_code == 200
