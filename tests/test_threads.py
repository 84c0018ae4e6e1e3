"""prefetched: items made on a thread ahead of their use, errors raised where the item would be."""

from __future__ import annotations

import threading

import pytest

from dpo_frames._threads import prefetched


def test_items_come_in_order_and_an_error_comes_at_its_item():
    def items():
        yield 1
        yield 2
        raise OSError("the disk went away")

    got = []
    with pytest.raises(OSError, match="disk went away"):
        for item in prefetched(items()):
            got.append(item)
    assert got == [1, 2]


def test_a_consumer_that_stops_early_stops_the_producer():
    made: list[int] = []
    closed = threading.Event()

    def items():
        try:
            for i in range(1000):
                made.append(i)
                yield i
        finally:
            closed.set()

    stream = prefetched(items(), depth=1)
    assert next(stream) == 0
    stream.close()  # what a `break` or an error in the consumer does
    assert closed.is_set() and len(made) <= 3  # one in use, one queued, one being made
    assert not any(t.name == "dpo-frames-prefetch" for t in threading.enumerate())
