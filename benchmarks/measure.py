"""Per-stage wall time and peak resident memory, for the benchmark runner processes.

Standard library only: imported by runners in both the project venv and the
reference venv.

Memory: Linux keeps a high-water mark of the resident set (``VmHWM`` in
``/proc/self/status``) and lets a process reset it to the current RSS by writing ``5``
to ``/proc/self/clear_refs``. Each stage resets the mark when it starts and reads it
when it ends, so the stage's peak is exact (every page the kernel counted, no sampling
thread, no interference with the timed code). Where the reset is not allowed the meter
falls back to ``ru_maxrss`` (the process-lifetime peak) and says so in its output.
"""

from __future__ import annotations

import gc
import json
import os
import re
import resource
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

_STATUS = "/proc/self/status"
_MIB = 1024.0


def _status_kib(field: str) -> int:
    with open(_STATUS) as f:
        m = re.search(rf"^{field}:\s+(\d+)\s+kB", f.read(), re.MULTILINE)
    if m is None:
        raise RuntimeError(f"{_STATUS} has no {field} line (not Linux?)")
    return int(m.group(1))


def rss_mib() -> float:
    """Current resident set size in MiB."""
    return _status_kib("VmRSS") / _MIB


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mib(exact: bool) -> float:
    if exact:
        return _status_kib("VmHWM") / _MIB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / _MIB


def prepare_write(directory: Path, nbytes: int) -> None:
    """Untimed, before a timed write of about ``nbytes``: flush dirty pages, then write
    and delete a scratch file of twice that size in ``directory``.

    On a VM whose host takes back guest memory the guest has freed (a Firecracker VM
    with free-page reporting, as here) the first touch of such a page costs a host
    fault: writing into it runs near 400 MB/s against several GB/s into a page the guest
    used a moment ago. Whoever writes first would pay for that, the others not. Priming
    every timed write (the reference's, dpo_frames', the bound's) gives each writer pages
    the guest has just used, for its file and for a buffer as large (hence twice), as on
    a machine without a balloon; ``os.sync`` makes no writer pay for an earlier one's
    writeback.
    """
    os.sync()
    directory.mkdir(parents=True, exist_ok=True)
    scratch = directory / ".prime-page-cache"
    block = bytes(64 << 20)
    try:
        with open(scratch, "wb") as f:
            for _ in range(max(1, 2 * nbytes // len(block) + 1)):
                f.write(block)
    finally:
        scratch.unlink(missing_ok=True)
    os.sync()


class StageMeter:
    """Times named stages and records each stage's peak RSS.

    Call :meth:`set_baseline` once the untimed input is built; peaks are then also
    reported above that baseline (what the measured work itself added).
    """

    def __init__(self) -> None:
        self.exact_peaks = _reset_peak()
        self.baseline_mib: float | None = None
        self.stages: dict[str, dict[str, float]] = {}
        self.info: dict[str, Any] = {}

    def set_baseline(self) -> float:
        """Collect garbage and record the current RSS as the baseline."""
        gc.collect()
        self.baseline_mib = rss_mib()
        return self.baseline_mib

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block and record its peak RSS under ``name``."""
        if name in self.stages:
            raise ValueError(f"stage {name!r} measured twice")
        if self.exact_peaks:
            _reset_peak()
        start_rss = rss_mib()
        t0 = time.perf_counter()
        yield
        seconds = time.perf_counter() - t0
        peak = _peak_mib(self.exact_peaks)
        base = self.baseline_mib if self.baseline_mib is not None else start_rss
        self.stages[name] = {
            "seconds": seconds,
            "peak_rss_mib": peak,
            "peak_over_baseline_mib": peak - base,
            "rss_start_mib": start_rss,
            "rss_end_mib": rss_mib(),
        }
        print(f"  {name:<22} {seconds:9.3f} s   peak {peak:9.1f} MiB (+{peak - base:.1f})", file=sys.stderr, flush=True)

    def best_of(
        self, name: str, fn: Callable[[], None], repeats: int = 3, between: Callable[[], None] | None = None
    ) -> None:
        """Run ``fn`` ``repeats`` times (``between`` untimed before each run) and record
        the fastest run under ``name``: a lower bound is best estimated by its minimum.
        The recorded peak covers all runs."""
        times = []
        if self.exact_peaks:
            _reset_peak()
        start_rss = rss_mib()
        for _ in range(repeats):
            if between is not None:
                between()
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
        peak = _peak_mib(self.exact_peaks)
        base = self.baseline_mib if self.baseline_mib is not None else start_rss
        self.stages[name] = {
            "seconds": min(times),
            "all_seconds": times,
            "peak_rss_mib": peak,
            "peak_over_baseline_mib": peak - base,
            "rss_start_mib": start_rss,
            "rss_end_mib": rss_mib(),
        }
        print(f"  {name:<22} {min(times):9.3f} s   (best of {repeats})", file=sys.stderr, flush=True)

    def result(self) -> dict[str, Any]:
        """Everything measured, as a JSON-ready dict."""
        return {
            "memory_method": "VmHWM reset per stage" if self.exact_peaks else "ru_maxrss (process lifetime)",
            "baseline_rss_mib": self.baseline_mib,
            "stages": self.stages,
            "info": self.info,
            "python": sys.version.split()[0],
            "pid": os.getpid(),
        }

    def write(self, path: Path) -> None:
        """Write :meth:`result` as JSON to ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.result(), indent=2))
