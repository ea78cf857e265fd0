"""Idempotency fingerprints never hold a secret."""

from api.idempotency import request_hash, without_secrets

REGISTER = {"email": "a@example.com", "password": "correct horse battery", "display_name": "A"}


def test_the_fingerprint_does_not_depend_on_the_password():
    other = {**REGISTER, "password": "another secret entirely"}
    assert request_hash("register", REGISTER) == request_hash("register", other)


def test_the_fingerprint_still_tells_different_requests_apart():
    other = {**REGISTER, "email": "b@example.com"}
    assert request_hash("register", REGISTER) != request_hash("register", other)
    assert request_hash("register", REGISTER) != request_hash("create_project", REGISTER)


def test_secrets_are_left_out_at_any_depth():
    nested = {"user": {"password": "x", "name": "n"}, "list": [{"token": "t", "k": 1}]}
    assert without_secrets(nested) == {"user": {"name": "n"}, "list": [{"k": 1}]}
