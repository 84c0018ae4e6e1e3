"""The stage meter: per-stage peaks are per stage (the high-water mark is reset)."""

from __future__ import annotations

import json
from pathlib import Path

import measure
import pytest


def test_each_stage_gets_its_own_peak(tmp_path: Path) -> None:
    meter = measure.StageMeter()
    assert meter.exact_peaks, "this Linux should allow resetting VmHWM via /proc/self/clear_refs"
    meter.set_baseline()
    with meter.stage("big"):
        blob = bytearray(300 * 2**20)  # zero-filled: every page touched
        del blob
    with meter.stage("small"):
        sum(range(1000))
    big, small = meter.stages["big"], meter.stages["small"]
    assert big["peak_over_baseline_mib"] > 250
    assert small["peak_over_baseline_mib"] < 100 < big["peak_over_baseline_mib"]
    assert big["seconds"] >= 0 and small["rss_end_mib"] < big["peak_rss_mib"]
    meter.write(tmp_path / "m.json")
    saved = json.loads((tmp_path / "m.json").read_text())
    assert saved["memory_method"] == "VmHWM reset per stage" and set(saved["stages"]) == {"big", "small"}


def test_a_stage_name_is_measured_once() -> None:
    meter = measure.StageMeter()
    with meter.stage("a"):
        pass
    with pytest.raises(ValueError, match="measured twice"), meter.stage("a"):
        pass


def test_best_of_records_the_fastest_run_and_runs_between_untimed() -> None:
    import time

    meter = measure.StageMeter()
    delays = iter([0.05, 0.01, 0.03])
    calls: list[str] = []

    def work() -> None:
        calls.append("work")
        time.sleep(next(delays))

    meter.best_of("w", work, repeats=3, between=lambda: (calls.append("between"), time.sleep(0.1)))
    entry = meter.stages["w"]
    assert calls == ["between", "work"] * 3
    assert len(entry["all_seconds"]) == 3 and entry["seconds"] == min(entry["all_seconds"])
    assert 0.01 <= entry["seconds"] < 0.03  # the 0.1 s between-runs sleep is not timed


def test_prepare_write_leaves_the_directory_as_it_was(tmp_path: Path) -> None:
    (tmp_path / "kept.jsonl").write_text("x\n")
    measure.prepare_write(tmp_path / "new", 1 << 20)
    measure.prepare_write(tmp_path, 0)
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["kept.jsonl", "new"]
    assert (tmp_path / "kept.jsonl").read_text() == "x\n"
