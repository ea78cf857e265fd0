"""An API client for a studio under fire: it retries through connection errors, 5xx and 503s
(the API itself gets killed), and POSTs carry an Idempotency-Key so a retry never acts twice."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from filmstudio.apiclient import detail

RETRY_STATUSES = frozenset({500, 502, 503, 504})
IN_PROGRESS = "still in progress"  # the idempotency store's 409 while a first try runs
STUCK_AFTER = 30.0  # seconds of "still in progress" before the caller is told the key is stuck


class ApiError(RuntimeError):
    """The API refused a request for good (or never answered within the deadline)."""

    def __init__(self, method: str, path: str, status: int | None, reason: str) -> None:
        super().__init__(f"{method} {path}: {status or 'no answer'} {reason}")
        self.status = status


class StuckKey(ApiError):
    """An Idempotency-Key whose first request died mid-way keeps answering 409 in progress."""


class Api:
    """One HTTP client shared by the productions; counts its retries (thread-safe)."""

    def __init__(
        self,
        base_url: str,
        deadline: float = 300.0,
        transport: httpx.BaseTransport | None = None,
        pause: float = 0.1,
    ) -> None:
        self.http = httpx.Client(
            base_url=base_url, timeout=httpx.Timeout(30.0, connect=5.0), transport=transport
        )
        self.pause = pause  # the first retry's wait; it grows by as much per try, up to 2 s
        self.deadline = deadline
        self.retries = 0
        self.stuck_keys = 0
        self._lock = threading.Lock()

    def close(self) -> None:
        self.http.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        ok: tuple[int, ...] = (200, 201, 202),
        idempotent: bool = False,
        **kwargs: Any,
    ) -> httpx.Response:
        """The answer whose status is in `ok`; retried while the studio recovers.

        `idempotent` adds a fresh Idempotency-Key, kept across the retries of this call.
        """
        headers = dict(kwargs.pop("headers", None) or {})
        if idempotent:
            headers["Idempotency-Key"] = str(uuid.uuid4())
        started = time.monotonic()
        in_progress_since: float | None = None
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as error:
                last, status = type(error).__name__, None
            else:
                if response.status_code in ok:
                    return response
                status, last = response.status_code, detail(response)
                if status == 409 and IN_PROGRESS in last:
                    in_progress_since = in_progress_since or time.monotonic()
                    if time.monotonic() - in_progress_since > STUCK_AFTER:
                        with self._lock:
                            self.stuck_keys += 1
                        raise StuckKey(method, path, status, last)
                elif status not in RETRY_STATUSES:
                    raise ApiError(method, path, status, last)
            if time.monotonic() - started > self.deadline:
                raise ApiError(method, path, status, f"gave up after {self.deadline:.0f} s: {last}")
            with self._lock:
                self.retries += 1
            attempt += 1
            time.sleep(min(2.0, self.pause * attempt))

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.call(method, path, **kwargs).json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(api: Api, email: str, password: str) -> dict[str, str]:
    body = api.json("POST", "/v1/auth/token", data={"username": email, "password": password})
    return bearer(body["access_token"])
