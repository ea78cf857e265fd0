"""The language-model adapter through the real ``openai`` client against a local server."""

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from pydantic import SecretStr

from adapters.llm import BATCH_SIZE, LanguageModel, LLMBadAnswer, LLMUnavailable
from adapters.settings import Settings
from tests.support.openai_server import EXPANDED_BEAT, LocalOpenAIServer

KEY = "sk-test-Zq81SECRETkey"
SCENE = """INT. KITCHEN - NIGHT

Rain hammers the window.

ASHA
Did you lock the door?

Ravi looks at the door.

RAVI
Yes.

The kettle whistles.

Asha turns off the stove.
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LocalOpenAIServer]:
    with LocalOpenAIServer(api_key=KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def reset(server: LocalOpenAIServer) -> None:
    server.fail = None
    server.requests.clear()
    server.authorizations.clear()


@pytest.fixture
def llm(server: LocalOpenAIServer) -> LanguageModel:
    return LanguageModel(server.base_url, KEY, "local-test-model", timeout=5, max_retries=0)


def texts_sent(body: dict) -> list[str]:
    return json.loads(body["messages"][1]["content"])["texts"]


def test_server_speaks_the_api(server: LocalOpenAIServer) -> None:
    models = httpx.get(f"{server.base_url}/models", headers={"Authorization": f"Bearer {KEY}"})
    assert models.json()["data"][0]["id"] == "local-test-model"
    refused = httpx.get(f"{server.base_url}/models", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"


def test_translate_keeps_count_order_and_target(llm: LanguageModel, server: LocalOpenAIServer):
    texts = ["Hello!", "Where is the train?", "Thank you", "Yes."]
    assert llm.translate(texts, "en", "hi") == [
        "नमस्ते",
        "[hi] Where is the train?",
        "धन्यवाद",
        "हाँ",
    ]
    assert llm.translate(["Water", "Go home."], "en", "sa") == ["जलम्", "[sa] Go home."]
    first = server.requests[0]
    assert len(server.requests) == 2
    assert first["model"] == "local-test-model"
    assert first["response_format"] == {"type": "json_object"}
    assert "Hindi" in first["messages"][0]["content"]
    assert "Sanskrit, in Devanagari" in server.requests[1]["messages"][0]["content"]
    assert texts_sent(first) == texts


def test_translate_sends_only_what_needs_it(llm: LanguageModel, server: LocalOpenAIServer):
    assert llm.translate([], "en", "hi") == []
    assert llm.translate(["Hello", "Yes"], "hi", "hi") == ["Hello", "Yes"]
    assert llm.translate(["", "♪", "1984"], "en", "hi") == ["", "♪", "1984"]
    assert server.requests == []
    texts = ["Yes", "", "No", "Yes", "...", "No"]
    assert llm.translate(texts, "en", "fr") == ["oui", "", "non", "oui", "...", "non"]
    assert [texts_sent(body) for body in server.requests] == [["Yes", "No"]]


def test_large_batches_are_split(llm: LanguageModel, server: LocalOpenAIServer) -> None:
    texts = [f"Line number {n}" for n in range(2 * BATCH_SIZE + 5)]
    assert llm.translate(texts, "en", "ta") == [f"[ta] {text}" for text in texts]
    sizes = [len(texts_sent(body)) for body in server.requests]
    assert sizes == [BATCH_SIZE, BATCH_SIZE, 5]


def test_wrong_count_once_is_retried(llm: LanguageModel, server: LocalOpenAIServer) -> None:
    server.fail = "wrong_count_once"
    assert llm.translate(["Hello", "No", "Water"], "en", "fr") == ["bonjour", "non", "eau"]
    assert len(server.requests) == 2
    retry = server.requests[1]["messages"]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert "2 translations for 3 texts" in retry[-1]["content"]


def test_always_wrong_raises_bad_answer(llm: LanguageModel, server: LocalOpenAIServer) -> None:
    server.fail = "garbage"
    with pytest.raises(LLMBadAnswer, match="translation into hi: the answer is not JSON"):
        llm.translate(["Hello"], "en", "hi")
    assert len(server.requests) == 2
    with pytest.raises(LLMBadAnswer, match="lost the scene heading"):
        llm.script_help("tighten", SCENE, "", "en")


def test_fenced_answers_are_unfenced(llm: LanguageModel, server: LocalOpenAIServer) -> None:
    server.fail = "fenced"
    assert llm.translate(["Hello"], "en", "hi") == ["नमस्ते"]
    rewritten = llm.script_help("expand", SCENE, "", "en")
    assert "```" not in rewritten
    assert rewritten.startswith("INT. KITCHEN - NIGHT\n\nA long beat.")
    assert len(server.requests) == 2


def test_server_error_is_unavailable(server: LocalOpenAIServer) -> None:
    server.fail = "error_500"
    llm = LanguageModel(server.base_url, KEY, "m", timeout=5, max_retries=0)
    with pytest.raises(LLMUnavailable, match="answered HTTP 500: The server had an error"):
        llm.translate(["Hello"], "en", "hi")


def test_unreachable_and_slow_are_unavailable(server: LocalOpenAIServer) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gone = LanguageModel(f"http://127.0.0.1:{port}/v1", None, "m", timeout=2, max_retries=0)
    with pytest.raises(LLMUnavailable, match="cannot be reached"):
        gone.translate(["Hello"], "en", "hi")
    server.fail, server.delay = "slow", 0.5
    slow = LanguageModel(server.base_url, KEY, "m", timeout=0.2, max_retries=0)
    started = time.monotonic()
    with pytest.raises(LLMUnavailable, match="did not answer in time"):
        slow.script_help("expand", SCENE, "", "en")
    assert time.monotonic() - started < 0.5


def test_api_key_is_sent_and_never_shown(llm: LanguageModel, server: LocalOpenAIServer) -> None:
    llm.translate(["Hello"], "en", "hi")
    assert server.authorizations == [f"Bearer {KEY}"]
    wrong = "sk-wrong-Pp42SECRETkey"
    refused = LanguageModel(server.base_url, wrong, "m", timeout=5, max_retries=0)
    with pytest.raises(LLMUnavailable, match="refused the API key") as caught:
        refused.translate(["Hello"], "en", "hi")
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    server.fail = "error_500"
    with pytest.raises(LLMUnavailable) as failed:
        llm.translate(["Hello"], "en", "hi")
    for shown in (str(caught.value), repr(caught.value), str(failed.value), repr(llm)):
        assert "SECRET" not in shown


def test_script_help_tighten_keeps_heading_and_dialogue(
    llm: LanguageModel, server: LocalOpenAIServer
) -> None:
    context = "INT. HALL - DAY\n\nASHA\nWe leave at dawn.\n"
    tightened = llm.script_help("tighten", SCENE, context, "hi")
    assert tightened.splitlines()[0] == "INT. KITCHEN - NIGHT"
    assert "ASHA\nDid you lock the door?" in tightened
    assert "RAVI\nYes." in tightened
    assert "Ravi looks at the door." not in tightened  # the second action paragraph
    assert "Rain hammers the window." in tightened
    system, user = (m["content"] for m in server.requests[0]["messages"])
    assert "Tighten" in system and "Hindi" in system and "Fountain" in system
    assert "We leave at dawn." in user and "response_format" not in server.requests[0]


def test_script_help_expand_and_heading_retry(
    llm: LanguageModel, server: LocalOpenAIServer
) -> None:
    expanded = llm.script_help("expand", SCENE, "", "en")
    assert expanded.startswith(f"INT. KITCHEN - NIGHT\n\n{EXPANDED_BEAT}\n\nRain")
    server.fail = "no_heading_once"
    assert llm.script_help("expand", SCENE, "", "en") == expanded
    assert len(server.requests) == 3
    assert "lost the scene heading" in server.requests[2]["messages"][-1]["content"]
    with pytest.raises(ValueError):
        llm.script_help("expand", "  \n", "", "en")


def test_from_settings(tmp_path, server: LocalOpenAIServer) -> None:
    with pytest.raises(LLMUnavailable, match="FILMSTUDIO_LLM_BASE_URL"):
        LanguageModel.from_settings(Settings(state_dir=tmp_path, llm_base_url=None))
    settings = Settings(
        state_dir=tmp_path,
        llm_base_url=server.base_url,
        llm_api_key=SecretStr(KEY),
        llm_model="local-test-model",
        llm_timeout_seconds=5,
    )
    llm = LanguageModel.from_settings(settings)
    assert llm.translate(["No"], "en", "hi") == ["नहीं"]
    assert server.authorizations == [f"Bearer {KEY}"]
