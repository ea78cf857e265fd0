"""Productions driven through the public API while faults land: one lane per creator.

Each lane registers a creator, is granted credits by the admin, uploads an example script and
requests a production; then, by its kind, lets it complete, cancels it once it runs, or revises
the script while it renders and requests the revision too. While faults remain to be injected a
lane keeps requesting revisions, so every fault lands during productions.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

from bench.chaos.client import Api, ApiError, StuckKey, login

KINDS = ("revise", "cancel", "complete")
TERMINAL = ("completed", "failed", "cancelled")
GRANT = 1000
PASSWORD = "chaos monkey password"
POLL_SECONDS = 2.0
MAX_EXTRA = 20  # revisions a lane requests at most while faults remain


@dataclass
class Production:
    lane: int
    kind: str
    production_id: str
    user_id: str
    expect: str = "completed"  # what it must end as; a cancel refused because it had finished
    status: str = "requested"  # leaves it at what it finished as
    duration_seconds: float | None = None
    failure: str = ""
    requested_at: float = 0.0  # time.monotonic() when requested
    seconds: float = 0.0  # request to its end, as this lane saw it


@dataclass
class Creator:
    user_id: str
    email: str
    headers: dict[str, str]
    granted: int = 0  # what the admin was asked to grant (the events say what was granted)


@dataclass
class Lanes:
    """`busy()` says whether faults remain; lanes keep productions running while it is true."""

    api: Api
    admin: dict[str, str]
    scripts: list[Path]
    busy: Callable[[], bool]
    timeout: float = 1200.0
    productions: list[Production] = field(default_factory=list)
    creators: list[Creator] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, count: int) -> None:
        """Run `count` lanes concurrently until each is done."""
        threads = [
            threading.Thread(target=self._lane, args=(i,), name=f"lane-{i}", daemon=True)
            for i in range(count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _lane(self, lane: int) -> None:
        try:
            self._scenario(lane, KINDS[lane % len(KINDS)])
        except Exception as error:  # reported as an invariant failure, never swallowed
            with self._lock:
                self.errors.append(f"lane {lane}: {type(error).__name__}: {error}")

    def _scenario(self, lane: int, kind: str) -> None:
        creator = self._creator(lane)
        script = self.scripts[lane % len(self.scripts)]
        text = script.read_text()
        project = self.api.json(
            "POST", "/v1/projects", ok=(201,), idempotent=True, headers=creator.headers,
            json={"title": f"Chaos {lane} {script.stem}"},
        )["project_id"]  # fmt: skip
        self._revise(creator, project, text)
        first = self._request(lane, kind, creator, project)
        if kind == "cancel":
            self._wait(creator, first, ("running", *TERMINAL), self.timeout)
            self._cancel(creator, first)
        elif kind == "revise":
            self._wait(creator, first, ("running", *TERMINAL), self.timeout)
            revised = text + f"\n\nThe scene holds a moment longer (lane {lane}).\n"
            self._revise(creator, project, revised)
            second = self._request(lane, "revised", creator, project)
            self._wait(creator, second, TERMINAL, self.timeout)
        self._wait(creator, first, TERMINAL, self.timeout)
        for take in range(MAX_EXTRA):
            if not self.busy():
                break
            self._revise(creator, project, text + f"\n\nTake {take + 2} of lane {lane}.\n")
            extra = self._request(lane, "extra", creator, project)
            self._wait(creator, extra, TERMINAL, self.timeout)

    def _creator(self, lane: int) -> Creator:
        email = f"chaos-{lane}-{uuid.uuid4().hex[:8]}@example.com"
        body = {"email": email, "password": PASSWORD, "display_name": f"Chaos {lane}"}
        try:
            registered = self.api.json(
                "POST", "/v1/auth/register", ok=(201,), idempotent=True, json=body
            )
            user_id = registered["user_id"]
        except (StuckKey, ApiError) as error:
            if not isinstance(error, StuckKey) and error.status != 409:
                raise
            headers = login(self.api, email, PASSWORD)  # the first try registered it
            user_id = self.api.json("GET", "/v1/me", headers=headers)["user_id"]
        creator = Creator(user_id, email, login(self.api, email, PASSWORD))
        self.api.call(
            "POST", f"/v1/admin/users/{user_id}/credits", idempotent=True, headers=self.admin,
            json={"amount": GRANT, "reason": f"chaos lane {lane}"},
        )  # fmt: skip
        creator.granted = GRANT
        with self._lock:
            self.creators.append(creator)
        return creator

    def _revise(self, creator: Creator, project: str, text: str) -> None:
        self.api.call(
            "PUT", f"/v1/projects/{project}/script", headers=creator.headers,
            json={"format": "fountain", "text": text},
        )  # fmt: skip

    def _request(self, lane: int, kind: str, creator: Creator, project: str) -> Production:
        path = f"/v1/projects/{project}/productions"
        for _ in range(3):
            key = str(uuid.uuid4())
            headers = {**creator.headers, "Idempotency-Key": key}
            try:
                body = self.api.json("POST", path, ok=(202,), headers=headers, json={})
                production_id = body["production_id"]
                break
            except StuckKey:  # the API died mid-request: did the production get recorded?
                production_id = str(
                    uuid5(NAMESPACE_URL, f"filmstudio:production:{creator.user_id}:{key}")
                )
                found = self.api.call(
                    "GET", f"/v1/productions/{production_id}", ok=(200, 404),
                    headers=creator.headers,
                )  # fmt: skip
                if found.status_code == 200:
                    break
        else:
            raise ApiError("POST", path, 409, "every Idempotency-Key got stuck")
        production = Production(lane, kind, production_id, creator.user_id)
        production.requested_at = time.monotonic()
        with self._lock:
            self.productions.append(production)
        return production

    def _cancel(self, creator: Creator, production: Production) -> None:
        response = self.api.call(
            "POST", f"/v1/productions/{production.production_id}/cancel", ok=(200, 409),
            headers=creator.headers, json={"reason": "chaos: cancelled on purpose"},
        )  # fmt: skip
        if response.status_code == 200:
            production.expect = "cancelled"
        else:  # it had finished already: it must stay what it finished as
            production.expect = self._view(creator, production)["status"]

    def _view(self, creator: Creator, production: Production) -> dict[str, Any]:
        path = f"/v1/productions/{production.production_id}"
        response = self.api.call("GET", path, ok=(200, 404), headers=creator.headers)
        if response.status_code == 404:  # not projected yet
            return {"status": "requested"}
        body: dict[str, Any] = response.json()
        return body

    def _wait(
        self, creator: Creator, production: Production, statuses: tuple[str, ...], timeout: float
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            view = self._view(creator, production)
            if view["status"] in statuses:
                break
            if time.monotonic() > deadline:
                production.status = f"timed out ({view['status']})"
                return
            time.sleep(POLL_SECONDS)
        if view["status"] in TERMINAL and production.status not in TERMINAL:
            production.status = view["status"]
            production.duration_seconds = view.get("duration_seconds")
            production.failure = view.get("failure", "")
            production.seconds = time.monotonic() - production.requested_at
