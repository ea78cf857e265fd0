"""The read-your-writes watermark, as a pure function."""

from adapters.relay_position import RelayPosition
from projections.watermark import advance, relevant, satisfied

A0, A1, B0 = "s.events.user:0", "s.events.user:1", "s.events.credits:0"


def test_a_record_is_satisfied_only_when_every_partition_it_lists_is_consumed():
    record = RelayPosition(10, {A0: 5, B0: 2})
    assert satisfied(record, {A0: 5, B0: 2})
    assert satisfied(record, {A0: 9, B0: 3})
    assert not satisfied(record, {A0: 5, B0: 1})
    assert not satisfied(record, {A0: 5})


def test_advance_takes_the_largest_satisfied_record_and_keeps_the_later_ones():
    records = [
        RelayPosition(10, {A0: 1}),
        RelayPosition(20, {A0: 3, B0: 0}),
        RelayPosition(30, {A0: 5, B0: 4}),
    ]
    position, waiting = advance(0, records, {A0: 4, B0: 0})
    assert position == 20
    assert waiting == [records[2]]


def test_advance_never_moves_backwards_and_keeps_unsatisfied_records():
    position, waiting = advance(50, [RelayPosition(60, {A1: 9})], {A1: 3})
    assert position == 50
    assert waiting == [RelayPosition(60, {A1: 9})]


def test_records_arriving_before_their_events_wait_then_advance():
    early = RelayPosition(7, {A0: 2, B0: 1})
    position, waiting = advance(0, [early], {A0: 2})
    assert (position, waiting) == (0, [early])
    position, waiting = advance(position, waiting, {A0: 2, B0: 1})
    assert (position, waiting) == (7, [])


def test_records_are_restricted_to_the_consumed_topics():
    record = RelayPosition(5, {A0: 3, B0: 8})
    assert relevant(record, ["s.events.user"]) == RelayPosition(5, {A0: 3})
    assert advance(0, [relevant(record, ["s.events.user"])], {A0: 3})[0] == 5
