"""A small local OpenAI-compatible server for the tests: ``POST /v1/chat/completions`` and
``GET /v1/models`` in the real Chat Completions shapes, with a deterministic "model".

The model translates subtitle requests (JSON ``{"source", "target", "texts"}`` in the user
message, ``response_format`` ``json_object``) by a small dictionary, else by prefixing
``[<target>] ``; it rewrites a Fountain scene (``Task: tighten|expand`` and ``<scene>...</scene>``
in the user message): tighten drops every other action paragraph, keeping the heading and the
dialogue; expand adds the action line ``EXPANDED_BEAT`` after the heading.

Set ``server.fail`` (or send the header ``X-Test-Fail``) to misbehave:
``wrong_count_once`` (one translation short, once), ``garbage`` (non-JSON, heading-less text,
always), ``no_heading_once`` (script help loses its heading, once), ``fenced`` (answers wrapped
in markdown code fences), ``error_500`` (HTTP 500 always), ``slow`` (sleep ``server.delay``
seconds before answering).
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
import time
import uuid
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

EXPANDED_BEAT = "A long beat. Nobody moves."
DICTIONARY = {
    "hi": {"hello": "नमस्ते", "yes": "हाँ", "no": "नहीं", "thank you": "धन्यवाद", "water": "पानी"},
    "sa": {"hello": "नमस्ते", "yes": "आम्", "no": "न", "thank you": "धन्यवादः", "water": "जलम्"},
    "fr": {"hello": "bonjour", "yes": "oui", "no": "non", "thank you": "merci", "water": "eau"},
}
FAILURES = ("wrong_count_once", "garbage", "no_heading_once", "fenced", "error_500", "slow")


def translate_text(text: str, target: str) -> str:
    """The deterministic "translation" of one text."""
    word = text.strip().rstrip(".!?").lower()
    return DICTIONARY.get(target, {}).get(word) or f"[{target}] {text}"


def rewrite_scene(scene: str, action: str) -> str:
    """The deterministic rewrite of a Fountain scene (paragraphs split by blank lines)."""
    blocks = [block.strip() for block in re.split(r"\n\s*\n", scene.strip()) if block.strip()]
    heading, body = blocks[0], blocks[1:]
    if action == "expand":
        return "\n\n".join([heading, EXPANDED_BEAT, *body]) + "\n"
    kept, actions = [heading], 0
    for block in body:
        first = block.splitlines()[0]
        is_dialogue = first.isupper() and len(block.splitlines()) > 1
        if not is_dialogue:
            actions += 1
            if actions % 2 == 0:
                continue
        kept.append(block)
    return "\n\n".join(kept) + "\n"


def openai_error(status: int, message: str, kind: str, code: str | None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return JSONResponse(body, status_code=status)


class LocalOpenAIServer:
    """The server, run by uvicorn in a background thread on a free 127.0.0.1 port.

    ``with LocalOpenAIServer(api_key="k") as server: ... server.base_url ... server.requests``
    """

    def __init__(self, api_key: str | None = None, model: str = "local-test-model") -> None:
        self.api_key = api_key
        self.model = model
        self.fail: str | None = None
        self.delay = 2.0
        self.requests: list[dict[str, Any]] = []  # bodies of the chat completions received
        self.authorizations: list[str | None] = []  # their Authorization headers
        self.app = self._build()
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> LocalOpenAIServer:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the local OpenAI server did not start")
            time.sleep(0.005)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
        self._socket.close()

    def _failure(self, request: Request) -> str | None:
        failure = request.headers.get("x-test-fail") or self.fail
        if failure and failure not in FAILURES:
            raise ValueError(f"unknown failure mode {failure!r}")
        if failure and failure.endswith("_once") and failure == self.fail:
            self.fail = None
        return failure

    def _authorized(self, request: Request) -> bool:
        return self.api_key is None or (
            request.headers.get("authorization") == f"Bearer {self.api_key}"
        )

    def _build(self) -> FastAPI:
        app = FastAPI()
        unauthorized = ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")

        @app.get("/v1/models")
        async def models(request: Request) -> Any:
            if not self._authorized(request):
                return openai_error(401, *unauthorized)
            model = {"id": self.model, "object": "model", "created": 0, "owned_by": "tests"}
            return {"object": "list", "data": [model]}

        @app.post("/v1/chat/completions")
        async def chat_completions(request: Request) -> Any:
            self.authorizations.append(request.headers.get("authorization"))
            try:
                body = await request.json()
            except ValueError:
                return openai_error(400, "The body is not JSON.", "invalid_request_error", None)
            self.requests.append(body)
            if not self._authorized(request):
                return openai_error(401, *unauthorized)
            problem = check_request(body)
            if problem:
                return openai_error(400, problem, "invalid_request_error", None)
            failure = self._failure(request)
            if failure == "error_500":
                return openai_error(500, "The server had an error.", "server_error", None)
            if failure == "slow":
                await asyncio.sleep(self.delay)
            content = answer(body, failure)
            prompt_tokens = sum(len(m["content"].split()) for m in body["messages"])
            completion_tokens = len(content.split())
            return {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }

        return app


def check_request(body: Any) -> str | None:
    """What makes a body an invalid chat completion request, if anything."""
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not body["model"]:
        return "you must provide a model parameter"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array"
    roles = ("system", "developer", "user", "assistant")
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in roles:
            return "each message needs a role: system, developer, user or assistant"
        if not isinstance(message.get("content"), str):
            return "each message needs a string content"
    fmt = body.get("response_format", {"type": "text"})
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        return "invalid response_format type"
    if fmt["type"] == "json_object":
        said = " ".join(m["content"] for m in messages).lower()
        if "json" not in said:  # what the real API requires of JSON mode
            return "'messages' must contain the word 'json' to use response_format json_object"
    return None


def answer(body: dict[str, Any], failure: str | None) -> str:
    """The deterministic model's answer to a valid request."""
    messages = body["messages"]
    system = next((m["content"] for m in messages if m["role"] == "system"), "")
    first_user = next(m["content"] for m in messages if m["role"] == "user")
    json_mode = (body.get("response_format") or {}).get("type") == "json_object"
    if failure == "garbage":
        return "Sure! Here is what you asked for, more or less."
    if json_mode and "subtitle translator" in system:
        request = json.loads(first_user)
        translations = [translate_text(text, request["target"]) for text in request["texts"]]
        if failure == "wrong_count_once":
            translations = translations[:-1]
        content = json.dumps({"translations": translations}, ensure_ascii=False)
        return f"```json\n{content}\n```" if failure == "fenced" else content
    task = re.search(r"^Task: (tighten|expand)\b", first_user, re.MULTILINE)
    scene = re.search(r"<scene>\n(.*)\n</scene>", first_user, re.DOTALL)
    if "Fountain" in system and task and scene:
        rewritten = rewrite_scene(scene.group(1), task.group(1))
        if failure == "no_heading_once":
            rewritten = rewritten.split("\n", 1)[1].lstrip()
        return f"```fountain\n{rewritten}```" if failure == "fenced" else rewritten
    return "I can only translate subtitles or rewrite screenplay scenes."
