"""SendGrid's stand-in for the tests: Prism serving SendGrid's own OpenAPI description
(`tests/support/specs/sendgrid-mail-v3.json`), behind a small recording proxy.

Prism answers a well-formed Mail Send with 202 and a malformed one with 400 (the violations in
its `sl-violations` header); the proxy keeps every request's body, whether it carried an
`Authorization` header, and Prism's answer, so a test can count and read what was sent.
The session fixture `sendgrid` installs Prism (`deploy/local/prism.sh`, idempotent) and starts
both on free loopback ports; both are stopped at the end.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from filmstudio import procutil
from tests.support.net import free_port

ROOT = Path(__file__).resolve().parents[2]
SPEC = Path(__file__).resolve().parent / "specs" / "sendgrid-mail-v3.json"
INSTALL = ROOT / "deploy" / "local" / "prism.sh"
PRISM = ROOT / ".build" / "prism" / "node_modules" / ".bin" / "prism"
START_TIMEOUT = 90.0
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


@dataclass(frozen=True)
class Recorded:
    """One request the proxy forwarded, and Prism's answer."""

    method: str
    path: str
    body: bytes
    authorized: bool  # an Authorization header was sent
    status: int
    violations: list[dict[str, Any]]  # Prism's `sl-violations`: why a request was refused

    def json(self) -> Any:
        return json.loads(self.body)


class SendGridStandIn:
    """The proxy's address (`base_url`, what `sendgrid_api_base` is set to) and its record."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._recorded: list[Recorded] = []
        self._lock = threading.Lock()

    def record(self, request: Recorded) -> None:
        with self._lock:
            self._recorded.append(request)

    def requests(self, path: str = "/v3/mail/send") -> list[Recorded]:
        """The requests to `path` so far, oldest first."""
        with self._lock:
            return [r for r in self._recorded if r.path.split("?")[0] == path]

    def clear(self) -> None:
        with self._lock:
            self._recorded.clear()


def _handler(prism_url: str, stand_in: SendGridStandIn) -> type[BaseHTTPRequestHandler]:
    client = httpx.Client(base_url=prism_url, timeout=30.0)

    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            answer = client.request(self.command, self.path, content=body, headers=headers)
            violations = json.loads(answer.headers.get("sl-violations") or "[]")
            stand_in.record(
                Recorded(
                    self.command,
                    self.path,
                    body,
                    "authorization" in {k.lower() for k in self.headers},
                    answer.status_code,
                    violations,
                )
            )
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_HEADERS}
            self._answer(answer.status_code, kept, answer.content)

        def _answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
            pass

    return Forward


def start_prism(port: int, log: Path) -> subprocess.Popen[bytes]:
    """Prism on `port` serving SendGrid's description, started as its own binary (killing an
    `npx` wrapper would leave Prism running) in its own process group."""
    subprocess.run([str(INSTALL)], check=True, cwd=ROOT)
    with log.open("ab") as out:
        prism = subprocess.Popen(
            [str(PRISM), "mock", "-h", "127.0.0.1", "-p", str(port), str(SPEC)],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        procutil.wait_until(
            lambda: prism.poll() is None and procutil.port_in_use("127.0.0.1", port),
            START_TIMEOUT,
            "Prism to listen",
        )
    except procutil.ServiceTimeout as error:
        stop_prism(prism)
        raise RuntimeError(f"Prism did not start:\n{procutil.tail(log)}") from error
    return prism


def stop_prism(prism: subprocess.Popen[bytes]) -> None:
    procutil.terminate(prism.pid, timeout=5.0)
    prism.wait()


@pytest.fixture(scope="session")
def sendgrid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SendGridStandIn]:
    """Prism on SendGrid's description behind a recording proxy, for the whole session."""
    logs = tmp_path_factory.mktemp("prism")
    prism_port = free_port()
    prism = start_prism(prism_port, logs / "prism.log")
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    stand_in = SendGridStandIn(f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(f"http://127.0.0.1:{prism_port}", stand_in)
    thread = threading.Thread(target=server.serve_forever, name="sendgrid-proxy", daemon=True)
    thread.start()
    try:
        yield stand_in
    finally:
        server.shutdown()
        server.server_close()
        stop_prism(prism)
