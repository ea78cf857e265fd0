"""Hostile text in every field a creator types, against every consumer on the real stack.

The API may refuse a text (4xx with a reason) or take it; either way no answer is a server error,
and the relay, projections, saga and workers keep going: the productions of the accepted scripts
all end, and a plain production requested after them completes.
"""

from __future__ import annotations

import json

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.integration import test_pipeline
from tests.integration.test_pipeline import SHORT, creator, produce, wait_for

full = test_pipeline.full  # a whole studio of this module's own

HOSTILE = (
    "\x00",
    "nul\x00inside",
    "\ud800 lone surrogate",
    "\u202eevil right-to-left override",
    "e\u0301" * 400,
    "\ufeffBOM and zero\u200bwidth",
    "नमस्ते दुनिया " * 50,
    "👩‍👩‍👧‍👦" * 40,
    "x" * 5000,
    " \t \r\n ",
    "'; DROP TABLE rm_projects; --",
    "{{ title }} %s %(x)s ${HOME}",
    "INT. A - DAY\n\nEXT. B - NIGHT\n\n@@@\n\n> CUT TO:",
)
# Any unicode but surrogates (JSON cannot carry them as text), control characters included.
TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=300)
ACCEPTED: list[tuple[dict, str]] = []  # (creator, project id) of the hostile scripts taken
PRODUCTIONS = 3


def script_around(text: str) -> str:
    """A fountain script whose heading, action, character and line all hold `text`."""
    return f"INT. {text} - DAY\n\n{text}\n\n{text.upper()}\n{text}\n\nANA\n{text}\n"


def send(client: httpx.Client, method: str, path: str, body: dict, headers: dict) -> httpx.Response:
    """JSON as a careless client sends it: escaped, so lone surrogates arrive as they are."""
    content = json.dumps(body)  # ensure_ascii: "\\ud800" is valid JSON text
    return client.request(
        method, path, content=content, headers={**headers, "Content-Type": "application/json"}
    )


def no_server_error(response: httpx.Response, what: str) -> httpx.Response:
    assert response.status_code < 500, f"{what} answered {response.status_code}: {response.text}"
    if response.status_code >= 400:
        assert response.json().get("detail"), f"{what} refused without a reason: {response.text}"
    return response


@settings(
    max_examples=30,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=TEXT)
@example(text=HOSTILE[0])
@example(text=HOSTILE[1])
@example(text=HOSTILE[2])
@example(text=HOSTILE[3])
@example(text=HOSTILE[4])
@example(text=HOSTILE[5])
@example(text=HOSTILE[6])
@example(text=HOSTILE[7])
@example(text=HOSTILE[8])
@example(text=HOSTILE[9])
@example(text=HOSTILE[10])
@example(text=HOSTILE[11])
@example(text=HOSTILE[12])
def test_every_text_field_takes_hostile_text_without_a_server_error(full, text):
    client: httpx.Client = full["client"]
    if "fuzz_creator" not in full:
        full["fuzz_creator"] = creator(full, credits=10_000)
    headers = full["fuzz_creator"]
    auth = {"Authorization": headers["Authorization"]}
    no_server_error(send(client, "PATCH", "/v1/me", {"display_name": text}, auth), "profile")
    created = no_server_error(
        send(client, "POST", "/v1/projects", {"title": text}, auth), "create project"
    )
    if created.status_code != 201:
        created = send(client, "POST", "/v1/projects", {"title": "fuzz"}, auth)
    project_id = created.json()["project_id"]
    no_server_error(
        send(client, "PATCH", f"/v1/projects/{project_id}", {"title": text}, auth), "rename"
    )
    for script_format, script in (("plain", text), ("fountain", script_around(text))):
        revised = no_server_error(
            send(
                client,
                "PUT",
                f"/v1/projects/{project_id}/script",
                {"format": script_format, "text": script},
                auth,
            ),
            f"{script_format} script",
        )
    if revised.status_code == 200 and len(ACCEPTED) < PRODUCTIONS:
        ACCEPTED.append((headers, project_id))
    grant = {"amount": 1, "reason": text}
    no_server_error(
        send(client, "POST", f"/v1/admin/users/{headers['user_id']}/credits", grant, full["admin"]),
        "grant reason",
    )


def test_the_consumers_keep_going_after_hostile_text(full):
    """The hostile scripts' productions end (completed, or failed with a reason), a cancel with a
    hostile reason is recorded, and a plain production after them all completes."""
    client: httpx.Client = full["client"]
    assert ACCEPTED, "no hostile script was accepted: the fuzz test above did not run"
    started = []
    for headers, project_id in ACCEPTED:
        auth = {"Authorization": headers["Authorization"]}
        response = no_server_error(
            send(client, "POST", f"/v1/projects/{project_id}/productions", {}, auth),
            "production of a hostile script",
        )
        if response.status_code == 202:
            started.append((auth, response.json()["production_id"]))
    assert started, "no hostile script could be produced"
    cancelled_auth, cancelled = started.pop()
    reason = {"reason": HOSTILE[3] + HOSTILE[6][:40]}
    no_server_error(
        send(client, "POST", f"/v1/productions/{cancelled}/cancel", reason, cancelled_auth),
        "cancel with a hostile reason",
    )
    for _, production_id in started:
        ended = wait_for(full, production_id, ("completed", "failed"))
        assert ended["status"] == "completed" or ended["failure"], ended
    plain = creator(full)
    _, production_id = produce(full, plain, SHORT)
    done = wait_for(full, production_id, ("completed", "failed"))
    assert done["status"] == "completed", done["failure"]
    assert wait_for(full, cancelled, ("cancelled",))["status"] == "cancelled"
