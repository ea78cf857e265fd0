"""What the CLIs that drive the running studio through its public API share: the local creator,
the admin's credit grants, errors as messages, and a Server-Sent Events reader."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import click
import httpx

from adapters.settings import Settings

LOCAL_CREATOR_EMAIL = "demo-creator@filmstudio.example.com"
LOCAL_CREATOR_NAME = "Demo Creator"
LOCAL_CREATOR_PASSWORD_FILE = "demo_password"


def api_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def detail(response: httpx.Response) -> str:
    """The API's reason for a refusal (its `detail`), else the body's start."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    found = body.get("detail", body) if isinstance(body, dict) else body
    return found if isinstance(found, str) else str(found)[:300]


def checked(response: httpx.Response) -> dict[str, Any]:
    """The JSON body of a successful answer; a refusal becomes a `click.ClickException`."""
    if response.status_code >= 400:
        request = response.request
        raise click.ClickException(
            f"{request.method} {request.url.path}: {response.status_code} {detail(response)}"
        )
    return response.json()


def token(client: httpx.Client, email: str, password: str) -> dict[str, str]:
    """Bearer headers for a user."""
    response = client.post("/v1/auth/token", data={"username": email, "password": password})
    return {"Authorization": f"Bearer {checked(response)['access_token']}"}


def admin_headers(client: httpx.Client, settings: Settings) -> dict[str, str]:
    """Bearer headers for this installation's admin (its password is in the local state)."""
    return token(client, settings.admin_email, settings.secret("admin_password"))


def local_creator(client: httpx.Client, settings: Settings) -> tuple[str, dict[str, str]]:
    """The local creator: registered once, reused on later runs; (user id, bearer headers)."""
    password = settings.secret(LOCAL_CREATOR_PASSWORD_FILE)
    response = client.post(
        "/v1/auth/register",
        json={
            "email": LOCAL_CREATOR_EMAIL,
            "password": password,
            "display_name": LOCAL_CREATOR_NAME,
        },
    )
    if response.status_code != 409:
        checked(response)
    headers = token(client, LOCAL_CREATOR_EMAIL, password)
    return checked(client.get("/v1/me", headers=headers))["user_id"], headers


def grant_credits(
    client: httpx.Client, settings: Settings, user_id: str, amount: int, reason: str
) -> int:
    """Grant credits as the admin; the position of the grant."""
    response = client.post(
        f"/v1/admin/users/{user_id}/credits",
        headers=admin_headers(client, settings),
        json={"amount": amount, "reason": reason},
    )
    return checked(response)["position"]


def iter_sse(lines: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event, data) of each Server-Sent Event in a stream of lines; comments are skipped."""
    event, data = "message", []
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)
