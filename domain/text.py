"""Text that every store can hold: no C0 control characters but tab, newline and carriage
return (PostgreSQL text cannot hold NUL), and no lone surrogates (they are not UTF-8)."""

from __future__ import annotations

import re

from domain.errors import Invalid

_UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
STORABLE_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f]*$"  # for JSON Schema: what is storable


class TooLarge(Invalid):
    """A value is larger than its limit (the API answers 413)."""


def unstorable(value: str) -> str | None:
    """Why `value` cannot be stored, or None when it can."""
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    kind = "unpaired surrogate" if found.group() >= "\ud800" else "control character"
    return f"contains the {kind} U+{ord(found.group()):04X} at {found.start()}"


def utf8_size(value: str) -> int:
    return len(value.encode("utf-8", "surrogatepass"))


def check_text(name: str, value: str, max_bytes: int | None = None) -> str:
    """`value` unchanged when it is storable and at most `max_bytes` in UTF-8; else Invalid."""
    problem = unstorable(value)
    if problem is not None:
        raise Invalid(f"{name} {problem}")
    if max_bytes is not None and utf8_size(value) > max_bytes:
        raise TooLarge(f"{name} is at most {max_bytes} bytes in UTF-8")
    return value
