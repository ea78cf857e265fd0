"""The OpenAPI contract, proven against the real API: schemathesis generates requests from the
document (valid ones and invalid ones, for every operation, then chains of calls that follow its
links) and runs every check it has on each answer: no 5xx, only documented status codes, content
types, headers and bodies, valid data accepted, invalid data rejected, methods and auth
enforced, a deleted resource gone. The API runs as a uvicorn process on Postgres and Kafka, with
the tests' local language model; a creator with credits calls it, the admin calls the admin
routes. bench/contract.py runs the same with many more examples (and schemathesis' CLI)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import FlakyStrategyDefinition
from schemathesis.config import SchemathesisConfig

from adapters.settings import Settings
from api.app import create_app
from tests.integration.conftest import start_studio
from tests.integration.contract import (
    MAX_STREAM_EVENTS,
    Contract,
    checks_toml,
    prepare,
    with_stand_ins,
)
from tests.support.openai_server import LocalOpenAIServer

MAX_EXAMPLES = 12  # per operation and phase: about a thousand requests in all
EXAMPLES = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
STATEFUL = settings(
    EXAMPLES,
    max_examples=15,
    stateful_step_count=6,
    derandomize=False,
    database=None,
    phases=[Phase.generate],
)
WALKS = 3  # attempts at the stateful walks when one diverges (see below)
# The document the API serves, built from the same code (the test below checks it is the same):
# schemathesis' pytest plugin needs it when the tests are collected, before the API runs.
DOCUMENT = create_app(Settings(), lambda settings: None).openapi()
CONFIG = f"max-stream-events = {MAX_STREAM_EVENTS}\n{checks_toml()}"
schema = schemathesis.openapi.from_dict(DOCUMENT, config=SchemathesisConfig.from_str(CONFIG))


@pytest.fixture(scope="module")
def contract(isolated_settings, stripe_mock, youtube_fake, tmp_path_factory) -> Iterator[Contract]:
    with LocalOpenAIServer() as llm:
        studio: Settings = with_stand_ins(isolated_settings(), llm, stripe_mock, youtube_fake)
        base_url, processes = start_studio(studio, tmp_path_factory.mktemp("contract-logs"))
        try:
            yield prepare(base_url, studio)
        finally:
            for process in reversed(processes):
                process.stop()


def test_the_api_serves_the_document_under_test(contract):
    served = httpx.get(f"{contract.base_url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == DOCUMENT


@schema.parametrize()
@EXAMPLES
def test_every_operation_keeps_the_contract(case, contract):
    case.call_and_validate(
        base_url=contract.base_url,
        headers=contract.headers_for(case.method, case.path),
        timeout=30,
    )


def test_chains_of_linked_calls_keep_the_contract(contract):
    class Workflow(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {
                "base_url": contract.base_url,
                "headers": contract.headers_for(case.method, case.path),
                "timeout": 30,
            }

    for _ in range(WALKS):
        try:
            Workflow.run(settings=STATEFUL)
            return
        except FlakyStrategyDefinition:
            # A real API answers the same steps differently later (a 409 for an email taken by an
            # earlier walk, a 429 once a rate window fills), so Hypothesis sees the walk it is
            # generating diverge from one it recorded; walk anew, as schemathesis' runner does.
            # A failed check is another exception and fails the test.
            continue
    pytest.fail(f"the stateful walks diverged {WALKS} times in a row; see FlakyStrategyDefinition")


def test_a_production_event_stream_keeps_the_contract(contract):
    """The SSE events (`snapshot` then `end`) of a cancelled production, validated like any body:
    the random walks reach a live production's stream only by chance."""
    with httpx.Client(base_url=contract.base_url, headers=contract.creator, timeout=30) as api:
        project = api.post("/v1/projects", json={"title": "Stream"}).json()["project_id"]
        script = {"format": "fountain", "text": "INT. ROOM - DAY\n\nA lamp.\n"}
        assert api.put(f"/v1/projects/{project}/script", json=script).status_code == 200
        production = api.post(f"/v1/projects/{project}/productions", json={}).json()
        production_id = production["production_id"]
        cancelled = api.post(f"/v1/productions/{production_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
    operation = schema["/v1/productions/{production_id}/events"]["GET"]
    case = operation.Case(
        path_parameters={"production_id": production_id},
        query={"min_position": cancelled.json()["position"]},
    )
    response = case.call_and_validate(
        base_url=contract.base_url, headers=contract.creator, timeout=30
    )
    assert "event: snapshot" in response.text and "event: end" in response.text
