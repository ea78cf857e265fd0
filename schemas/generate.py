"""Write one JSON Schema per event type and version under schemas/json/ (run after changing events).

python -m schemas.generate
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.catalogue import BY_TYPE, EventType
from schemas.envelope import Envelope

SCHEMA_DIR = Path(__file__).parent / "json"


def schema_path(event_type: EventType) -> Path:
    return SCHEMA_DIR / event_type.aggregate / f"{event_type.name}.v{event_type.version}.json"


def event_schema(event_type: EventType) -> dict[str, Any]:
    schema = event_type.payload.model_json_schema()
    schema["$id"] = f"filmstudio:{event_type.type}:v{event_type.version}"
    return schema


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    for event_type in BY_TYPE.values():
        path = schema_path(event_type)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(event_schema(event_type)))
    (SCHEMA_DIR / "envelope.json").write_text(render(Envelope.model_json_schema()))
    print(f"wrote {len(BY_TYPE)} event schemas under {SCHEMA_DIR}")


if __name__ == "__main__":
    main()
