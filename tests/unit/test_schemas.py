"""The committed event schemas: generated from the domain, never changed in place."""

import json

import pytest

from schemas.catalogue import BY_TYPE
from schemas.generate import SCHEMA_DIR, event_schema, render, schema_path

EVENT_TYPES = sorted(BY_TYPE)


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_every_event_version_has_its_committed_schema(name):
    path = schema_path(BY_TYPE[name])
    assert path.exists(), f"{name}: no schema at {path}; run `python -m schemas.generate`"


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_a_schema_changes_only_with_a_new_version(name):
    event_type = BY_TYPE[name]
    committed = json.loads(schema_path(event_type).read_text())
    assert event_schema(event_type) == committed, (
        f"{name} v{event_type.version} changed: add a new class_version with an upcaster "
        "(upcast_v{N}_v{N+1}) and generate its schema instead of editing this one"
    )


@pytest.mark.parametrize("name", EVENT_TYPES)
def test_newer_versions_have_upcasters(name):
    event_type = BY_TYPE[name]
    for version in range(1, event_type.version):
        upcaster = f"upcast_v{version}_v{version + 1}"
        assert hasattr(event_type.event_class, upcaster), f"{name} lacks {upcaster}"
        assert (schema_path(event_type).parent / f"{event_type.name}.v{version}.json").exists()


def test_no_committed_schema_is_orphaned():
    expected = {schema_path(t) for t in BY_TYPE.values()}
    for path in SCHEMA_DIR.glob("*/*.json"):
        name, version = path.stem.rsplit(".v", 1)
        current = BY_TYPE.get(f"{path.parent.name}.{name}")
        assert current is not None, f"{path} describes an event the domain no longer has"
        assert path in expected or int(version) < current.version


def test_rendering_is_stable():
    event_type = BY_TYPE["user.Registered"]
    assert render(event_schema(event_type)) == schema_path(event_type).read_text()


def test_personal_data_is_only_ciphertext():
    fields = BY_TYPE["user.Registered"].payload.model_fields
    assert "email" not in fields and "email_cipher" in fields
