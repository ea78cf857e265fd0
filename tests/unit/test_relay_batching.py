"""Relay batches bounded by count and by bytes (no services)."""

from __future__ import annotations

from adapters.relay_reader import Outgoing, outgoing_size, take_batch


def test_a_batch_stops_at_the_count():
    assert take_batch(iter([1] * 10), int, max_count=4, max_bytes=1000) == [1] * 4


def test_a_batch_stops_before_the_item_that_would_pass_the_bytes():
    items = [300, 300, 300, 300]
    assert take_batch(iter(items), int, max_count=100, max_bytes=900) == [300, 300, 300]
    assert take_batch(iter(items), int, max_count=100, max_bytes=899) == [300, 300]


def test_an_item_larger_than_the_bound_still_goes_alone():
    assert take_batch(iter([5000, 1]), int, max_count=100, max_bytes=1000) == [5000]


def test_small_items_fill_a_large_batch_and_nothing_is_empty():
    assert len(take_batch(iter([100] * 20_000), int, max_count=10_000, max_bytes=8 << 20)) == 10_000
    assert take_batch(iter([]), int, max_count=10, max_bytes=10) == []


def test_the_source_is_read_lazily():
    read: list[int] = []

    def source():
        for n in range(1_000_000):
            read.append(n)
            yield 10

    assert len(take_batch(source(), int, max_count=1_000_000, max_bytes=100)) == 10
    assert len(read) == 11, "one item past the bound, not the whole source"


def test_an_outgoing_event_counts_its_key_and_value():
    event = Outgoing(7, "t", b"k" * 36, b"v" * 700, [])
    assert outgoing_size(event) == 736
