"""Where the emulator's time comes from: the wall, the requests, or the test that owns it.

Jobs and deployments move on ``tick_seconds`` ticks of a :class:`Clock`. ``EmulatorConfig.clock``
picks one:

- ``"wall"`` (the default, for dry runs): monotonic wall time, with a background ticker, so
  jobs progress whether or not anybody asks;
- ``"request"``: one tick per request received, nothing in between, so what a client sees
  depends only on what it sends (the same statuses in the same order on a loaded machine);
- ``"manual"``: time moves only when its owner calls :meth:`Emulator.advance`.
"""

from __future__ import annotations

import threading
import time
from typing import Literal, Protocol

ClockMode = Literal["wall", "request", "manual"]


class Clock(Protocol):
    def now(self) -> float:
        """Seconds, on an arbitrary origin, that never go back."""
        ...


class WallClock:
    """Monotonic wall time."""

    def now(self) -> float:
        return time.monotonic()


class ManualClock:
    """Time that moves only by :meth:`advance`."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time does not go back")
        with self._lock:
            self._now += seconds


def clock_for(mode: ClockMode) -> WallClock | ManualClock:
    """The clock of a mode (``request`` and ``manual`` both keep their own time)."""
    return WallClock() if mode == "wall" else ManualClock()
