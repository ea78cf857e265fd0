"""API steps the integration tests share: a registered creator, credits, a scripted project."""

from __future__ import annotations

import uuid

import httpx

SCRIPT = """Title: The Lamp

INT. TEMPLE COURTYARD - DAWN

A single oil lamp flickers.

MEERA
Light it again, before the bells.
"""


def register(api: httpx.Client, name: str = "Creator") -> dict:
    email = f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com"
    password = "correct horse battery"
    response = api.post(
        "/v1/auth/register", json={"email": email, "password": password, "display_name": name}
    )
    assert response.status_code == 201, response.text
    token = api.post("/v1/auth/token", data={"username": email, "password": password})
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return {"email": email, "password": password, "headers": headers, **response.json()}


def grant(api: httpx.Client, admin_headers: dict, user_id: str, amount: int) -> int:
    response = api.post(
        f"/v1/admin/users/{user_id}/credits",
        json={"amount": amount, "reason": "test credits"},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    return response.json()["position"]


def project_with_script(api: httpx.Client, user: dict, text: str = SCRIPT) -> tuple[str, int]:
    created = api.post("/v1/projects", json={"title": "The Lamp"}, headers=user["headers"])
    assert created.status_code == 201, created.text
    project_id = created.json()["project_id"]
    revised = api.put(
        f"/v1/projects/{project_id}/script",
        json={"format": "fountain", "text": text},
        headers=user["headers"],
    )
    assert revised.status_code == 200, revised.text
    return project_id, revised.json()["position"]
