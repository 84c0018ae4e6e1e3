"""One batch made while the previous one is used: a producer thread ahead of its consumer.

Reading a step file is Python work (parsing JSON, holding the GIL) followed by work that
releases it (DuckDB's SQL, Polars, pyarrow's Parquet writer); run on two threads, the next
batch is parsed while the last one is extracted and written.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["prefetched"]

T = TypeVar("T")

_POLL_SECONDS = 0.05
"""How often a producer blocked on a full queue looks whether its consumer has gone (never decides a result)."""


def prefetched(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """The items of ``items``, made on a thread of their own up to ``depth`` ahead of their use.

    An error raised making an item is raised here, at that item; when the consumer stops early
    (an error, a ``break``), the producer stops at its next item. Memory: ``depth`` + 2 items at most.

    Example:
        >>> list(prefetched(x * x for x in range(5)))
        [0, 1, 4, 9, 16]
    """
    channel: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(message: tuple[str, Any]) -> bool:
        while not stop.is_set():
            try:
                channel.put(message, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put(("item", item)):
                    return
            put(("done", None))
        except BaseException as exc:  # handed to the consumer, raised there
            put(("error", exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="dpo-frames-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = channel.get()
            if kind == "item":
                yield value
            elif kind == "done":
                return
            else:
                raise value
    finally:
        stop.set()
        thread.join()
