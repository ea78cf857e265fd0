"""What the contract test (test_contract.py) and bench/contract.py share: a studio with a language
model, a creator with credits and a scripted project, and schemathesis' configuration for it."""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from pydantic import SecretStr

from adapters.settings import Settings
from tests.integration.apiflow import grant, project_with_script, register
from tests.integration.conftest import free_port, start_studio
from tests.support.openai_server import LocalOpenAIServer
from tests.support.stripe_mock import TEST_KEY, running_stripe_mock
from tests.support.youtube_fake import YouTubeFake

ADMIN_PATHS = r"^/v1/admin/"
CREDITS = 100_000
# Stop reading an event stream after this many events: a live production's never ends by itself.
MAX_STREAM_EVENTS = 2


@dataclass(frozen=True)
class Contract:
    """A live API and the callers schemathesis acts as."""

    base_url: str
    creator: dict[str, str]  # headers of a creator with credits and a scripted project
    admin: dict[str, str]  # headers of the installation's admin
    leaver: dict[str, str]  # headers of a creator for `DELETE /v1/me` (erases the caller)

    def headers_for(self, method: str, path: str) -> dict[str, str]:
        if method.upper() == "DELETE" and path == "/v1/me":
            return self.leaver
        return self.admin if path.startswith("/v1/admin/") else self.creator


def admin_headers(api: httpx.Client, settings: Settings) -> dict[str, str]:
    token = api.post(
        "/v1/auth/token",
        data={"username": settings.admin_email, "password": settings.secret("admin_password")},
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


def prepare(base_url: str, settings: Settings) -> Contract:
    """A creator with credits and a scripted project on the API at `base_url`."""
    with httpx.Client(base_url=base_url, timeout=30) as api:
        admin = admin_headers(api, settings)
        creator = register(api, "Contract")
        grant(api, admin, creator["user_id"], CREDITS)
        project_with_script(api, creator)
        leaver = register(api, "Leaver")
    return Contract(base_url, creator["headers"], admin, leaver["headers"])


def with_stand_ins(
    settings: Settings, llm: LocalOpenAIServer, stripe_base: str, youtube: YouTubeFake
) -> Settings:
    """The studio on the tests' language model, stripe-mock (billing configured) and the
    YouTube fake (publishing configured)."""
    return settings.model_copy(
        update={
            "llm_base_url": llm.base_url,
            "api_port": free_port(),
            "stripe_api_key": SecretStr(TEST_KEY),
            "stripe_webhook_secret": SecretStr("whsec_contract"),
            "stripe_api_base": stripe_base,
            "youtube_client_id": youtube.client_id,
            "youtube_client_secret": SecretStr(youtube.client_secret),
            "google_oauth_base": youtube.base_url,
            "youtube_api_base": youtube.base_url,
        }
    )


@contextmanager
def contract_studio(logs: Path | None = None) -> Iterator[Contract]:
    """Outside pytest (the bench): a studio on its own topics and database, removed after; its
    processes' logs go to `logs` (default: a temporary folder)."""
    from adapters import kafka as topics
    from adapters.settings import get_settings
    from filmstudio import stack as local_stack
    from filmstudio.stack import postgres

    base = get_settings()
    local_stack.up(base)
    suffix = secrets.token_hex(4)
    settings = base.model_copy(update={"topic_prefix": f"c{suffix}", "pg_database": f"c_{suffix}"})
    with ExitStack() as cleanup:
        postgres.ensure_database(settings, settings.pg_database)
        cleanup.callback(postgres.drop_database, settings, settings.pg_database)
        topics.ensure_topics(settings)
        cleanup.callback(topics.delete_topics, settings)
        llm = cleanup.enter_context(LocalOpenAIServer())
        stripe_base = cleanup.enter_context(running_stripe_mock())
        youtube = cleanup.enter_context(YouTubeFake())
        settings = with_stand_ins(settings, llm, stripe_base, youtube)
        if logs is None:
            logs = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="contract-")))
        base_url, processes = start_studio(settings, logs)
        for process in processes:
            cleanup.callback(process.stop)
        yield prepare(base_url, settings)


# An [[operations]] entry applies when ANY of its include filters matches: one filter each.
# Requests that are valid by the schema but that the studio refuses with 422 for a reason no
# schema can state: a `min_position` past the end of the event log, a scene number past the
# script's scenes, production options that contradict each other or the installation (an image
# style or model voices in draft quality, final quality without model backends), a voice upload
# whose bytes are not 3 to 60 s of audio, and an Idempotency-Key reused for another request (the
# IETF Idempotency-Key draft's 422; generated keys repeat); and with 400, a token of an e-mailed
# link or a Stripe signature that is well-formed but not a good one. Everywhere else a
# schema-valid request that is refused is a failure.
ACCEPTED_POSITIVE = ["2xx", "401", "403", "404", "409", "429"]
SEMANTIC_422 = {  # reason: (operation label regex, statuses besides 422)
    "GET with min_position": (
        r"^GET /v1/(?!productions/[^/]+/(film|thumbnail|subtitles)|youtube/callback)",
        (),
    ),
    "scene numbers": (r"^POST /v1/projects/\{project_id\}/script/help$", ()),
    "production options": (r"^POST /v1/projects/\{project_id\}/productions$", ()),
    "voice sample audio": (r"^POST /v1/voices$", ("415",)),  # 415: not an audio format taken
    "an Idempotency-Key sent before with another request": (
        r"^POST /v1/(auth/register|projects|admin/users/\{user_id\}/credits|billing/checkout"
        r"|productions/\{production_id\}/publish|uploads/\{upload_id\}/voice-sample)$",
        (),
    ),
    "signed tokens and signatures": (
        r"^(POST /v1/(auth/verify|auth/password-reset/confirm|email/unsubscribe"
        r"|billing/stripe/webhook)|GET /v1/youtube/callback)$",
        ("400",),
    ),
}


def checks_toml() -> str:
    """The checks' settings by operation (no credentials): see SEMANTIC_422, and erasure."""

    def statuses(*extra: str) -> str:
        return ", ".join(f'"{status}"' for status in [*ACCEPTED_POSITIVE, "422", *extra])

    semantic = "".join(
        f"""
# {reason}
[[operations]]
include-name-regex = {json.dumps(selector)}
checks.positive_data_acceptance.expected-statuses = [{statuses(*extra)}]
"""
        for reason, (selector, extra) in SEMANTIC_422.items()
    )
    return f"""
# Erasure takes only the IDs it is given or generates: fed the IDs that responses showed (the
# creator's own), it would erase the caller of the rest of the run.
[[operations]]
include-name = "POST /v1/admin/users/{{user_id}}/erase"
phases.examples.extra-data-sources.responses = false
phases.coverage.extra-data-sources.responses = false
phases.fuzzing.extra-data-sources.responses = false
{semantic}
# Links come from the document only: inferred ones would lead the creator's id to erasure too.
[phases.stateful.inference]
algorithms = []
"""


def config_toml(contract: Contract) -> str:
    """schemathesis.toml: the creator's token everywhere, the admin's on admin routes."""

    def headers(values: dict[str, str]) -> str:
        return ", ".join(f'"{name}" = "{value}"' for name, value in values.items())

    return f"""
max-stream-events = {MAX_STREAM_EVENTS}
headers = {{ {headers(contract.creator)} }}

[[operations]]
include-path-regex = "{ADMIN_PATHS}"
headers = {{ {headers(contract.admin)} }}

[[operations]]
include-name = "DELETE /v1/me"
headers = {{ {headers(contract.leaver)} }}
{checks_toml()}"""
