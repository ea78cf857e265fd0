"""The e-mail templates: `templates/mail/<language>/<kind>.txt` (its subject set in a
`{% set subject %}` block at the top) and `<kind>.html`, Jinja2, English when the user's
language has no template. Every variable must be given (`StrictUndefined`); HTML is escaped."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from domain.user import EMAIL_LANGUAGES

TEMPLATES = Path(__file__).resolve().parent / "templates" / "mail"
FALLBACK = "en"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class MailTemplates:
    def __init__(self, directory: Path = TEMPLATES) -> None:
        loader = FileSystemLoader(directory)
        common: dict[str, Any] = {
            "loader": loader,
            "undefined": StrictUndefined,
            "trim_blocks": True,
            "keep_trailing_newline": True,
        }
        self._text = Environment(autoescape=False, **common)  # noqa: S701 - plain text
        self._html = Environment(autoescape=True, **common)

    def render(self, kind: str, language: str, context: Mapping[str, Any]) -> Rendered:
        """The e-mail `kind` in `language` (else English)."""
        text = self._text.select_template(_names(kind, language, "txt")).make_module(dict(context))
        subject = " ".join(str(getattr(text, "subject", "")).split())
        if not subject:
            raise ValueError(f"the {kind} template sets no subject")
        html = self._html.select_template(_names(kind, language, "html")).render(
            {**context, "subject": subject}
        )
        return Rendered(subject, str(text).strip() + "\n", html)


def _names(kind: str, language: str, extension: str) -> list[str]:
    language = language if language in EMAIL_LANGUAGES else FALLBACK
    return [f"{language}/{kind}.{extension}", f"{FALLBACK}/{kind}.{extension}"]
