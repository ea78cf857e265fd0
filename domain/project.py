"""The Project aggregate: a creator's film in the making, with every script revision kept."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from eventsourcing.domain import Aggregate, event

from domain.errors import Conflict, Invalid
from domain.text import check_text

LANGUAGES = ("en", "hi", "sa", "mr", "ta", "te", "kn", "ml", "bn", "gu", "pa", "ne")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
SCRIPT_FORMATS = ("fountain", "plain")
MAX_TITLE_LENGTH = 200
# In UTF-8 bytes: even sealed (base64, 4/3) and in its JSON envelope the largest script's event
# stays well under Kafka's 1 MB message size.
MAX_SCRIPT_BYTES = 400_000
SCRIPT_HELP = ("tighten", "expand")


def check_title(title: str) -> str:
    title = check_text("a title", title).strip()
    if not 1 <= len(title) <= MAX_TITLE_LENGTH:
        raise Invalid(f"a title has 1 to {MAX_TITLE_LENGTH} characters")
    return title


def check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise Invalid(f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


class Project(Aggregate):
    """A project owned by one user; `revision` counts script revisions (0: no script yet)."""

    @classmethod
    def create(cls, owner_id: UUID, title: str, language: str, aspect_ratio: str) -> Project:
        return cls(
            id=uuid4(),
            owner_id=owner_id,
            title=check_title(title),
            language=check_choice("language", language, LANGUAGES),
            aspect_ratio=check_choice("aspect_ratio", aspect_ratio, ASPECT_RATIOS),
        )

    @event("Created")
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the library takes the aggregate id from here
        owner_id: UUID,
        title: str,
        language: str,
        aspect_ratio: str,
    ) -> None:
        self.owner_id = owner_id
        self.title = title
        self.language = language
        self.aspect_ratio = aspect_ratio
        self.revision = 0
        self.script_format = ""
        self.script_text = ""
        self.archived = False
        # of the current revision, by suggestion id
        self.suggestions: dict[str, dict[str, Any]] = {}

    def revise_script(self, script_format: str, text: str) -> int:
        """Keep a new revision of the script; returns its number."""
        self._check_active()
        check_choice("format", script_format, SCRIPT_FORMATS)
        if not text.strip():
            raise Invalid("a script needs some text")
        check_text("a script", text, MAX_SCRIPT_BYTES)
        self._script_revised(self.revision + 1, script_format, text)
        return self.revision

    @event("ScriptRevised")
    def _script_revised(self, revision: int, script_format: str, text: str) -> None:
        self.revision = revision
        self.script_format = script_format
        self.script_text = text
        self.suggestions = {}

    def suggest(self, suggestion_id: UUID, scene: int, action: str, text: str, model: str) -> None:
        """Keep a language model's rewrite of one scene, for the creator to accept or ignore."""
        self._check_active()
        check_choice("action", action, SCRIPT_HELP)
        if self.revision == 0:
            raise Conflict("this project has no script yet")
        check_text("a suggestion", text, MAX_SCRIPT_BYTES)
        if str(suggestion_id) not in self.suggestions:
            self._script_suggested(suggestion_id, self.revision, scene, action, text, model)

    @event("ScriptSuggested")
    def _script_suggested(
        self, suggestion_id: UUID, revision: int, scene: int, action: str, text: str, model: str
    ) -> None:
        self.suggestions[str(suggestion_id)] = {"scene": scene, "action": action, "text": text}

    def suggestion(self, suggestion_id: UUID) -> dict[str, Any]:
        """A suggestion on the current revision; Conflict when the script changed since."""
        found = self.suggestions.get(str(suggestion_id))
        if found is None:
            raise Conflict("no such suggestion on the current script revision: ask again")
        return found

    def change_settings(
        self, title: str | None, language: str | None, aspect_ratio: str | None
    ) -> None:
        self._check_active()
        changes = {
            "title": None if title is None else check_title(title),
            "language": None if language is None else check_choice("language", language, LANGUAGES),
            "aspect_ratio": None
            if aspect_ratio is None
            else check_choice("aspect_ratio", aspect_ratio, ASPECT_RATIOS),
        }
        if any(v is not None and v != getattr(self, k) for k, v in changes.items()):
            self._settings_changed(**changes)

    @event("SettingsChanged")
    def _settings_changed(
        self, title: str | None, language: str | None, aspect_ratio: str | None
    ) -> None:
        self.title = title or self.title
        self.language = language or self.language
        self.aspect_ratio = aspect_ratio or self.aspect_ratio

    def archive(self) -> None:
        if not self.archived:
            self._archived()

    @event("Archived")
    def _archived(self) -> None:
        self.archived = True

    def _check_active(self) -> None:
        if self.archived:
            raise Conflict("this project is archived")
