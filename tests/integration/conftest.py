"""The studio's own processes (API, relay, projections) for one test session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from adapters.settings import PROJECT_ROOT, Settings
from tests.support.net import free_port
from tests.support.prism import sendgrid  # noqa: F401 - the SendGrid stand-in, a fixture
from tests.support.salesforce_fake import salesforce_fake  # noqa: F401 - Salesforce's, a fixture
from tests.support.stripe_mock import stripe_mock  # noqa: F401 - the Stripe stand-in, a fixture
from tests.support.versitygw import s3_server  # noqa: F401 - the S3 stand-in, a fixture
from tests.support.youtube_fake import youtube_fake  # noqa: F401 - the YouTube stand-in, a fixture

MODEL_SETTINGS = (
    "model_backends",
    "models_dir",
    "model_device",
    "image_steps",
    "image_batch",
    "image_long_side",
    "allow_noncommercial_models",
    "llm_base_url",
    "llm_model",
)


# The stand-ins of external services a test points its studio at.
SERVICE_SETTINGS = (
    "stripe_api_key",
    "stripe_webhook_secret",
    "stripe_api_base",
    "sendgrid_api_key",
    "sendgrid_api_base",
    "public_url",
    "mail_outbox_dir",
    "low_balance_credits",
    "media_store",
    "s3_bucket",
    "s3_prefix",
    "s3_endpoint_url",
    "s3_region",
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_presign_seconds",
    "s3_inputs_expire_days",
    "youtube_client_id",
    "youtube_client_secret",
    "google_oauth_base",
    "youtube_api_base",
    "youtube_chunk_bytes",
    "salesforce_instance_url",
    "salesforce_login_url",
    "salesforce_client_id",
    "salesforce_client_secret",
    "salesforce_username",
    "salesforce_private_key",
    "salesforce_ca_bundle",
    "salesforce_bulk_threshold",
)


def _env_value(value: object) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return str(value).lower() if isinstance(value, bool) else str(value)


def studio_env(settings: Settings) -> dict[str, str]:
    models = {
        f"FILMSTUDIO_{name.upper()}": _env_value(value)
        for name in (*MODEL_SETTINGS, *SERVICE_SETTINGS)
        if (value := getattr(settings, name)) is not None
    }
    return {
        **os.environ,
        **models,
        "FILMSTUDIO_TOPIC_PREFIX": settings.topic_prefix,
        "FILMSTUDIO_PG_DATABASE": settings.pg_database,
        "FILMSTUDIO_API_PORT": str(settings.api_port),
        "FILMSTUDIO_MEDIA_DIR": str(settings.media_root),  # the tests write artifacts there too
        "PYTHONUNBUFFERED": "1",
    }


class Process:
    """A studio process run for a test, its output kept in a log file."""

    def __init__(self, name: str, argv: list[str], settings: Settings, logs: Path) -> None:
        self.name = name
        self.log = logs / f"{name}.log"
        self.argv = argv
        self.settings = settings
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=studio_env(self.settings),
                cwd=PROJECT_ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to clean up, like a crash."""
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait()

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


def cli_process(name: str, settings: Settings, logs: Path) -> Process:
    return Process(name, [sys.executable, "-m", "filmstudio.cli", name], settings, logs)


@pytest.fixture(scope="session")
def studio_settings(isolated_settings: Callable[[], Settings]) -> Settings:
    """Topics and a database of the studio processes' own, apart from other tests'."""
    return isolated_settings().model_copy(update={"api_port": free_port()})


def start_studio(settings: Settings, logs: Path, *extra: str) -> tuple[str, list[Process]]:
    """API, relay, projections and the `extra` CLI processes (e.g. saga, workers) on their own
    topics and database; returns the API's base URL and the processes (started)."""
    api = Process(
        "api",
        [
            sys.executable, "-m", "uvicorn", "--factory", "filmstudio.bootstrap:api_app",
            "--host", "127.0.0.1", "--port", str(settings.api_port), "--workers", "1",
        ],
        settings,
        logs,
    ).start()  # fmt: skip
    processes = [api] + [
        cli_process(n, settings, logs).start() for n in ("relay", "projections", *extra)
    ]
    base_url = f"http://127.0.0.1:{settings.api_port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if api.popen.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"the API did not start:\n{api.log.read_text()[-3000:]}")
        time.sleep(0.2)
    return base_url, processes


@pytest.fixture(scope="session")
def studio(studio_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """API, relay and projections (no saga: tests drive productions by hand); yields the URL."""
    base_url, processes = start_studio(studio_settings, tmp_path_factory.mktemp("studio-logs"))
    yield base_url
    for process in reversed(processes):
        process.stop()
