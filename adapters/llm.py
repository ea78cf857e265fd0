"""The language model: subtitle translation and script help through any OpenAI-compatible
chat-completions server (``FILMSTUDIO_LLM_BASE_URL``), by the ``openai`` client."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from openai import OpenAI
    from openai.types.chat import ChatCompletionMessageParam

    from adapters.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

BATCH_SIZE = 40  # subtitle texts per chat completion
LANGUAGE_NAMES = {
    "en": "English",
    "hi": "Hindi, in Devanagari script",
    "sa": "Sanskrit, in Devanagari script",
    "mr": "Marathi, in Devanagari script",
    "ne": "Nepali, in Devanagari script",
    "ta": "Tamil, in Tamil script",
    "te": "Telugu, in Telugu script",
    "kn": "Kannada, in Kannada script",
    "ml": "Malayalam, in Malayalam script",
    "bn": "Bengali, in Bengali script",
    "gu": "Gujarati, in Gujarati script",
    "pa": "Punjabi, in Gurmukhi script",
    "fr": "French",
    "de": "German",
    "es": "Spanish",
}
TRANSLATE_PROMPT = """You are a subtitle translator for films.
The user sends a JSON object {{"source": code, "target": code, "texts": [...]}}.
Translate every text from {source} into {target}. Rules:
- keep the meaning, tone and register of each line;
- keep each translation short enough to be read as a subtitle;
- keep names of people and places, only transliterating them into the target script;
- translate each text on its own: never merge, split, reorder, number or skip texts;
- no notes, quotes or explanations.
Answer with only a JSON object {{"translations": [...]}} holding exactly as many non-empty
strings as there are texts, in the same order."""
SCRIPT_PROMPT = """You are a script doctor. You rewrite one scene of a screenplay written in
Fountain format and answer with only the rewritten scene in the same Fountain format: scene
heading, action paragraphs, CHARACTER cues in capitals above their dialogue, parentheticals.
{task}
The first line of your answer is the scene heading, exactly as given. Write in {language}, the
language of the scene. No commentary, no markdown, no code fences."""
TASKS = {
    "tighten": "Tighten the scene: cut redundant action and dialogue, keep every character who "
    "appears, keep the scene heading, keep the story beats.",
    "expand": "Expand the scene: add action beats and dialogue in the same voice and style, keep "
    "the scene heading, the characters and the story beats.",
}
FENCED = re.compile(r"```[^\n]*\n(.*?)\n?```", re.DOTALL)


class LLMUnavailable(RuntimeError):
    """No language model is configured, or its server cannot be reached or keeps failing."""


class LLMBadAnswer(RuntimeError):
    """The model's answer does not have the asked shape, even after a corrective retry."""


class LanguageModel:
    """One chat model on an OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout: float,
        max_retries: int = 2,
    ) -> None:
        try:
            import openai
        except ImportError as exc:  # an optional dependency (the "models" extra)
            raise LLMUnavailable("the openai package is not installed") from exc
        self.base_url = base_url
        self.model = model
        self._secret = api_key
        self._client: OpenAI = openai.OpenAI(
            base_url=base_url,
            api_key=api_key or "not-needed",
            timeout=timeout,
            max_retries=max_retries,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> LanguageModel:
        """The configured model; LLMUnavailable when no base URL is set."""
        if not settings.llm_base_url:
            raise LLMUnavailable(
                "no language model is configured: set FILMSTUDIO_LLM_BASE_URL to an "
                "OpenAI-compatible server, e.g. https://api.openai.com/v1"
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        return cls(settings.llm_base_url, key, settings.llm_model, settings.llm_timeout_seconds)

    def __repr__(self) -> str:
        return f"LanguageModel({self.model!r} at {_safe_url(self.base_url)!r})"

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        """Each text translated from `source` into `target` (ISO codes), one to one, in order.
        Texts without letters (blank, numbers, music notes) are kept as they are."""
        if source == target:
            return list(texts)
        wanted = list(dict.fromkeys(t for t in texts if any(c.isalpha() for c in t)))
        done: dict[str, str] = {}
        for start in range(0, len(wanted), BATCH_SIZE):
            batch = wanted[start : start + BATCH_SIZE]
            done.update(zip(batch, self._translate_batch(batch, source, target), strict=True))
        return [done.get(text, text) for text in texts]

    def script_help(
        self,
        action: Literal["tighten", "expand"],
        scene: str,
        script_context: str,
        language: str,
    ) -> str:
        """The scene (Fountain, its first line the scene heading) tightened or expanded."""
        if action not in TASKS:
            raise ValueError(f"unknown script help {action!r}: tighten or expand")
        lines = [line for line in scene.strip().splitlines() if line.strip()]
        if not lines:
            raise ValueError("no scene to rewrite")
        heading = lines[0].strip()
        system = SCRIPT_PROMPT.format(task=TASKS[action], language=_language(language))
        user = (
            f"Task: {action} the scene below.\n\n"
            f"Screenplay context, for voice and continuity only (do not rewrite it):\n"
            f"<context>\n{script_context.strip()}\n</context>\n\n"
            f"The scene to {action}:\n<scene>\n{scene.strip()}\n</scene>"
        )

        def check(answer: str) -> str:
            text = _unfenced(answer).strip()
            if not text:
                raise _Problem("the answer is empty")
            found = text.splitlines()
            for at, line in enumerate(found):  # skip a preamble before the heading, if any
                if _squeezed(line) == _squeezed(heading):
                    return "\n".join(found[at:]).strip() + "\n"
            raise _Problem(f"the answer lost the scene heading {heading!r}")

        return self._ask(system, user, check, json_mode=False, what=f"script help ({action})")

    def _translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        system = TRANSLATE_PROMPT.format(source=_language(source), target=_language(target))
        user = json.dumps({"source": source, "target": target, "texts": texts}, ensure_ascii=False)

        def check(answer: str) -> list[str]:
            try:
                found: Any = json.loads(_unfenced(answer))
            except ValueError:
                raise _Problem("the answer is not JSON") from None
            if isinstance(found, dict):
                found = found.get("translations")
            if not isinstance(found, list):
                raise _Problem('the answer has no "translations" list')
            if len(found) != len(texts):
                raise _Problem(f"{len(found)} translations for {len(texts)} texts")
            if not all(isinstance(item, str) and item.strip() for item in found):
                raise _Problem("a translation is empty or not a string")
            return [item.strip() for item in found]

        return self._ask(system, user, check, json_mode=True, what=f"translation into {target}")

    def _ask(
        self, system: str, user: str, check: Callable[[str], T], *, json_mode: bool, what: str
    ) -> T:
        """The checked answer to one request, asked again once with the problem named."""
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        answer = self._complete(messages, json_mode)
        try:
            return check(answer)
        except _Problem as problem:
            log.warning("%s: %s; asking again", what, problem)
            correction = f"That answer is unusable: {problem}. Answer again, exactly as instructed."
            messages += [
                {"role": "assistant", "content": answer},
                {"role": "user", "content": correction},
            ]
        try:
            return check(self._complete(messages, json_mode))
        except _Problem as problem:
            raise LLMBadAnswer(f"{what}: {problem}") from None

    def _complete(self, messages: list[ChatCompletionMessageParam], json_mode: bool) -> str:
        """The text of one chat completion; the server's failures become LLMUnavailable."""
        import openai

        extra: dict[str, Any] = {"response_format": {"type": "json_object"}} if json_mode else {}
        where = f"the language model server at {_safe_url(self.base_url)}"
        try:
            response = self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=0.2, **extra
            )
        except openai.AuthenticationError:
            raise LLMUnavailable(f"{where} refused the API key (HTTP 401)") from None
        except openai.APITimeoutError as exc:
            raise LLMUnavailable(f"{where} did not answer in time") from exc
        except openai.APIConnectionError as exc:
            raise LLMUnavailable(f"{where} cannot be reached") from exc
        except openai.RateLimitError as exc:
            raise LLMUnavailable(f"{where} is rate-limiting (HTTP 429)") from exc
        except openai.APIStatusError as exc:
            reason = self._redacted(_server_message(exc.body) or "")[:300]
            raise LLMUnavailable(f"{where} answered HTTP {exc.status_code}: {reason}") from exc
        except openai.OpenAIError as exc:
            raise LLMUnavailable(f"{where} failed: {type(exc).__name__}") from exc
        choices = getattr(response, "choices", None) or []
        message = getattr(choices[0], "message", None) if choices else None
        return getattr(message, "content", None) or ""

    def _redacted(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


class _Problem(Exception):
    """What is wrong with an answer, to tell the model."""


def _language(code: str) -> str:
    return LANGUAGE_NAMES.get(code, f"the language with ISO code {code!r}")


def _unfenced(text: str) -> str:
    """The inside of a markdown code fence, if the text has one."""
    found = FENCED.search(text)
    return found.group(1) if found else text


def _squeezed(line: str) -> str:
    return " ".join(line.split()).upper()


def _server_message(body: object) -> str | None:
    if isinstance(body, dict):
        error = body.get("error", body)
        message = error.get("message") if isinstance(error, dict) else error
        return str(message) if message else None
    return str(body) if body else None


def _safe_url(url: str) -> str:
    """The URL without any user:password part."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=host))
