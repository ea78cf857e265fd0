"""The analytics feed's rows without services: upcasting, the personal-data policy on every
event type, pseudonyms, and Parquet bytes that depend only on the rows."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from uuid import uuid4

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from eventsourcing.domain import Aggregate

from adapters.feed_store import LocalFeedStore
from adapters.keystore import KeyStore
from domain.production import ProductionOptions
from filmstudio.bootstrap import InMemoryStudio
from filmstudio.projections_cli import replay as replay_cli
from projections.analytics_rows import (
    COMMON,
    DROPPED,
    USER_FIELDS,
    arrow_schema,
    build_row,
    parquet_bytes,
    part_name,
    view_name,
)
from schemas.catalogue import BY_TYPE, SEALED_FIELDS, EventType, Payload
from schemas.envelope import AggregateRef, Envelope
from schemas.upcasting import UnknownEvent, decode, upcast

EMAIL, NAME, TITLE = "meera.feed@example.com", "Meera Feedwriter", "The Secret Lamp"
SCRIPT = "INT. HOUSE - DAY\n\nMEERA\nWhisper the password swordfish.\n"
CLEAR = (EMAIL, NAME, TITLE, "swordfish", "Whisper")


# Upcasting, with a throwaway event class at version 3


class Lamp(Aggregate):
    class Lit(Aggregate.Event):
        class_version = 3
        brightness: int
        colour: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["brightness"] = 50

        @staticmethod
        def upcast_v2_v3(state: dict[str, Any]) -> None:
            state["colour"] = state.pop("color", "white")


class LitV3(Payload):
    brightness: int
    colour: str


LIT = EventType("lamp", "Lit", 3, Lamp.Lit, LitV3)


def lamp_envelope(version: int, payload: dict[str, Any]) -> Envelope:
    return envelope("lamp.Lit", payload, version=version, aggregate="lamp")


def envelope(
    type_: str, payload: dict[str, Any], version: int = 1, aggregate: str = "project"
) -> Envelope:
    return Envelope(
        event_id=uuid4(),
        type=type_,
        version=version,
        aggregate=AggregateRef(type=aggregate, id=uuid4(), sequence=1),
        position=7,
        occurred_at="2026-12-01T10:00:00+00:00",
        correlation_id="c-1",
        causation_id="c-1",
        actor=f"creator:{uuid4()}",
        payload=payload,
    )


def test_a_v1_event_is_upcast_step_by_step_to_the_latest_version():
    catalogue = {"lamp.Lit": LIT}
    assert decode(lamp_envelope(1, {"color": "red"}), catalogue)[1] == {
        "brightness": 50,
        "colour": "red",
    }
    assert decode(lamp_envelope(2, {"brightness": 9}), catalogue)[1] == {
        "brightness": 9,
        "colour": "white",
    }
    latest = {"brightness": 1, "colour": "blue"}
    assert decode(lamp_envelope(3, latest), catalogue)[1] == latest


def test_upcasting_copies_and_refuses_what_it_cannot_know():
    stored = {"color": "red"}
    upcast(Lamp.Lit, 1, stored)
    assert stored == {"color": "red"}, "upcast changed the caller's dict"
    with pytest.raises(UnknownEvent, match="newer"):
        upcast(Lamp.Lit, 4, {})
    with pytest.raises(UnknownEvent, match="unknown event type"):
        decode(lamp_envelope(1, {}), {})


def test_every_catalogue_type_is_at_the_version_its_class_declares():
    for event_type in BY_TYPE.values():
        assert event_type.version == getattr(event_type.event_class, "class_version", 1)


# The policy, on every event type's schema


@pytest.mark.parametrize("event_type", sorted(BY_TYPE), ids=str)
def test_no_schema_holds_a_sealed_personal_or_user_id_field(event_type):
    spec = BY_TYPE[event_type]
    schema = arrow_schema(spec)
    names = set(schema.names)
    assert names >= set(COMMON.names)
    assert len(names) == len(schema.names), "a payload field shadows a common column"
    forbidden = {
        *(n for n in spec.payload.model_fields if n.endswith("_cipher")),
        *SEALED_FIELDS.get(event_type, ()),
        *DROPPED.get(event_type, ()),
        *USER_FIELDS,
    }
    assert not names & forbidden, f"{event_type} keeps {names & forbidden}"
    kept = [n for n in schema.names if n not in COMMON.names]
    assert kept == [n for n in spec.payload.model_fields if n not in forbidden]


def test_view_names_are_snake_case():
    assert view_name("credits.Purchased") == "credits_purchased"
    assert view_name("production.StageCompleted") == "production_stage_completed"
    assert part_name("user.Erased", "2026-12-01", 3) == (
        "type=user.Erased/day=2026-12-01/part-00003.parquet"
    )


# Rows of real events, from the in-memory studio


class Keys:
    """Pseudonyms as the projection derives them."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def __call__(self, user_id: Any) -> str | None:
        return self.keys.pseudonym(user_id, b"analytics")


def studio_story(memory: InMemoryStudio) -> tuple[Any, list[Envelope]]:
    studio = memory.studio
    owner, _ = studio.register(EMAIL, "lamp-light-42", NAME)
    studio.grant_credits(owner, 100, "goodwill for Meera Feedwriter")
    project_id, _ = studio.create_project(owner, TITLE, "en", "16:9")
    studio.revise_script(owner, project_id, "fountain", SCRIPT)
    requested = studio.request_production(owner, project_id, ProductionOptions())
    studio.cancel_production(owner, requested.production_id, "Meera Feedwriter changed her mind")
    return owner, memory.envelopes()


def rows_of(memory: InMemoryStudio, envelopes: list[Envelope], owner: Any) -> list[dict]:
    pseudonym = Keys(memory.keys)
    rows = []
    for item in envelopes:
        event_type, payload = decode(item)
        user = item.aggregate.id if item.aggregate.type == "user" else owner
        rows.append(build_row(item, event_type, payload, pseudonym(user)))
    return rows


def test_rows_of_real_events_hold_nothing_personal_in_clear(memory):
    owner, envelopes = studio_story(memory)
    rows = rows_of(memory, envelopes, owner)
    types = {r["type"] for r in rows}
    assert {"user.Registered", "credits.Granted", "project.ScriptRevised"} <= types
    assert "production.Cancelled" in types
    key = Keys(memory.keys)(owner)
    for row in rows:
        text = repr(row)
        for clear in CLEAR:
            assert clear not in text, f"{row['type']} holds {clear!r}"
        assert str(owner) not in text, f"{row['type']} names the user's id"
        assert "v1:" not in text and "v2:" not in text, f"{row['type']} holds ciphertext"
        assert row["actor_role"] in {"creator", "system", "anonymous", "admin"}
        assert row["user_key"] == key
    registered = next(r for r in rows if r["type"] == "user.Registered")
    assert registered["aggregate_id"] == key and registered["role"] == "creator"


def test_pseudonyms_are_stable_per_user_and_gone_with_the_key(memory):
    keys = memory.keys
    first, second = uuid4(), uuid4()
    keys.create_key(first)
    keys.create_key(second)
    one = keys.pseudonym(first, b"analytics")
    assert one == keys.pseudonym(first, b"analytics") and one is not None and len(one) == 32
    assert one != keys.pseudonym(second, b"analytics")
    assert one != keys.pseudonym(first, b"another purpose")
    keys.destroy_key(first)
    assert keys.pseudonym(first, b"analytics") is None
    assert keys.pseudonym(second, b"analytics") is not None


def test_parquet_bytes_depend_only_on_the_rows(memory):
    owner, envelopes = studio_story(memory)
    rows = [r for r in rows_of(memory, envelopes, owner) if r["type"] == "production.Requested"]
    schema = arrow_schema(BY_TYPE["production.Requested"])
    first = parquet_bytes(schema, rows)
    assert parquet_bytes(schema, rows) == first
    metadata = pq.ParquetFile(io.BytesIO(first)).metadata
    assert set(metadata.metadata) == {b"ARROW:schema"}, "metadata beyond the schema (a time?)"
    assert metadata.created_by.startswith("parquet-cpp-arrow version")
    table = pq.read_table(io.BytesIO(first))
    assert table.schema.equals(schema)
    [read] = table.to_pylist()
    assert read["position"] == rows[0]["position"] and "voices" not in read["options"]
    assert pq.ParquetFile(io.BytesIO(first)).metadata.row_group(0).column(0).compression == "ZSTD"


def test_every_event_type_converts_to_its_schema():
    """A row of every type, with values of each field's declared type, makes a Parquet file."""
    for event_type, spec in BY_TYPE.items():
        payload = {
            name: sample(info.annotation) for name, info in spec.payload.model_fields.items()
        }
        item = envelope(event_type, payload, aggregate=spec.aggregate)
        decoded = decode(item)[1]
        row = build_row(item, spec, decoded, "k" * 32)
        data = parquet_bytes(arrow_schema(spec), [row])
        assert pq.read_table(io.BytesIO(data)).num_rows == 1, event_type


def sample(hint: Any) -> Any:
    samples: dict[Any, Any] = {int: 3, float: 1.5, bool: True, str: "x"}
    if hint in samples:
        return samples[hint]
    text = str(hint)
    if "UUID" in text:
        return str(uuid4())
    if text.startswith("list"):
        return ["a"]
    if text.startswith("dict"):
        return {"a": "b"}
    return None  # optional


def test_the_local_store_replaces_files_whole_and_lists_them(tmp_path: Path):
    store = LocalFeedStore(tmp_path / "feed")
    name = part_name("user.Verified", "2026-12-01", 0)
    store.put(name, b"first")
    store.put(name, b"second")
    assert (tmp_path / "feed" / name).read_bytes() == b"second"
    assert store.names() == [name] == store.names("type=user.Verified")
    assert not [p for p in (tmp_path / "feed").rglob(".tmp-*")], "a temp file was left"
    store.delete([name])
    assert store.names() == []


# `filmstudio replay --from/--to`: refused where it would corrupt a live read model


@pytest.mark.parametrize("projection", ["readmodels", "notifications", "analytics"])
def test_a_window_replay_of_a_live_read_model_is_refused(projection):
    answer = CliRunner().invoke(replay_cli, [projection, "--from", "2026-11-01"])
    assert answer.exit_code == 2
    assert "would leave the live" in answer.output and projection in answer.output


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ("nonsense", "package.module:factory"),
        ("tests.support.nowhere:create", "cannot load it"),
        ("tests.support.window_projection:WINDOW", "cannot load it"),
    ],
)
def test_a_projection_that_cannot_be_loaded_is_named(spec, complaint):
    answer = CliRunner().invoke(replay_cli, [spec, "--from", "2026-11-01", "--to", "2026-12-01"])
    assert answer.exit_code == 2, answer.output
    assert complaint in answer.output
