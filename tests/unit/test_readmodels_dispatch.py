"""Every event type in the catalogue has an apply function in the read models."""

from projections.readmodels import APPLY, ReadModelProjection
from projections.schema import READ_MODEL_TABLES
from schemas.catalogue import BY_TYPE


def test_every_event_type_has_an_apply_function():
    missing = sorted(set(BY_TYPE) - set(APPLY))
    assert not missing, f"the readmodels projection cannot apply {missing}"


def test_no_apply_function_for_an_unknown_event_type():
    assert not set(APPLY) - set(BY_TYPE)


def test_a_replay_empties_every_read_model_table():
    assert set(READ_MODEL_TABLES) <= set(ReadModelProjection.tables)
