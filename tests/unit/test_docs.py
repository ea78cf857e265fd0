"""docs/architecture.md names every event type and every topic the code has."""

from pathlib import Path

import pytest

from adapters.settings import Settings
from adapters.topics import CATALOGUE
from domain.stages import STAGES
from schemas.catalogue import BY_TYPE

ARCHITECTURE = (Path(__file__).parents[2] / "docs" / "architecture.md").read_text()


@pytest.mark.parametrize("event_type", sorted(BY_TYPE))
def test_every_event_type_is_in_the_catalogue(event_type):
    assert f"`{event_type}`" in ARCHITECTURE


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda spec: spec.name)
def test_every_topic_is_listed(spec):
    name = Settings(topic_prefix="studio").topics.name(spec)
    for stage in STAGES:
        name = name.replace(f".{stage}", ".<stage>")
    assert f"`{name}`" in ARCHITECTURE
    if ".<stage>" in name:
        assert all(f"`{stage}`" in ARCHITECTURE for stage in STAGES)
