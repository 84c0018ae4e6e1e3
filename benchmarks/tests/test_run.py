"""The orchestrator's arithmetic and the dpo_frames runner end to end on a small size."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import run
import synth

BENCH = Path(run.__file__).resolve().parent


def _stages(**seconds: float) -> dict:
    return {
        "stages": {k: {"seconds": v, "peak_rss_mib": 1000 + v, "peak_over_baseline_mib": v} for k, v in seconds.items()}
    }


def test_summary_ratios_and_goals() -> None:
    runs = {
        "ref": _stages(walk_floor=1, parse=30, pairs=20, trajectories=80, dedup_sample=25, jsonl=20, write=10),
        "ours_engine": _stages(build_pairs=0.5),
        "ours_memory": _stages(walk_floor=2, extract_candidates=3.5, build_pairs=0.5, finalize=0.5, write_jsonl=1.5),
        "ours_stored": _stages(
            read_steps=0.2, extract_candidates=0.3, build_pairs=0.5, finalize=0.2, write_jsonl=0.8, write_bound=1.0
        ),
    }
    s = run.summarize(runs)
    engine = next(r for r in s["rows"] if r["label"].startswith("pair engine"))
    assert engine["reference_s"] == 100 and engine["ref_over_ours"] == pytest.approx(200)
    mem = next(r for r in s["rows"] if "in-memory EvaluationRunOutput" in r["label"])
    assert mem["reference_s"] == 185 and mem["ours_s"] == pytest.approx(6.0)
    assert s["floor_s"] == pytest.approx(3.0) and mem["ours_over_value"] == pytest.approx(2.0)
    assert mem["reference_peak_mib"] == (80, 1080)
    stored = next(r for r in s["rows"] if "stored" in r["label"])
    assert stored["ref_over_ours"] == pytest.approx(92.5) and stored["ours_over_value"] == pytest.approx(2.0)
    assert run._goal_met(engine).endswith(": met")
    assert run._goal_met(mem).endswith(": met")
    assert run._goal_met(stored).endswith(": not met")  # 92.5x < 100x
    assert s["errors"] == {}


def test_summary_with_a_failed_side_shows_na_and_the_error() -> None:
    runs = {
        "ref": _stages(parse=1, pairs=1, trajectories=1, dedup_sample=1, jsonl=1, write=1),
        "ours_memory": {"error": "exit 1: boom"},
    }
    s = run.summarize(runs)
    mem = next(r for r in s["rows"] if "in-memory EvaluationRunOutput" in r["label"])
    assert mem["reference_s"] == 6 and mem["ours_s"] is None and mem["ref_over_ours"] is None
    assert run._goal_met(mem).endswith("n/a")
    assert s["errors"] == {"ours_memory": "exit 1: boom"}


def test_ours_side_end_to_end_on_a_small_size(tmp_path: Path) -> None:
    cache, results = tmp_path / "cache", tmp_path / "results"
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH / "run.py"),
            "--sizes",
            "2k",
            "--sides",
            "ours",
            "--cache",
            str(cache),
            "--results",
            str(results),
            "--no-readme",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((results / "latest.json").read_text())
    entry = result["sizes"]["2k"]
    assert entry["data"]["candidates"] == 2000
    runs = entry["runs"]
    assert set(runs) == {"ours_engine", "ours_memory", "ours_stored", "ours_candidates"}
    assert set(runs["ours_memory"]["stages"]) == {"walk_floor", *run.OURS_MEMORY_STAGES}
    assert set(runs["ours_stored"]["stages"]) == {*run.OURS_STAGES, "write_bound"}
    assert set(runs["ours_candidates"]["stages"]) == set(run.OURS_CANDIDATES_STAGES)
    memory, stored, cand = (runs[f"ours_{v}"]["info"] for v in ("memory", "stored", "candidates"))
    assert memory["candidates"] == stored["candidates"] == cand["candidates"] == 2000
    assert memory["pairs"] == stored["pairs"] == cand["pairs"] == runs["ours_engine"]["info"]["pairs"] > 0
    assert memory["bytes_written"] == stored["bytes_written"] == cand["bytes_written"] == stored["bound_bytes"] > 0
    md = (results / "latest.md").read_text()
    assert "### 2k candidates" in md and "end to end: stored Parquet steps -> JSONL" in md
    assert md.strip() in proc.stdout
    assert not (cache / "work").exists() or not any((cache / "work").iterdir())  # scratch output removed
    assert (synth.cache_dir(synth.SynthSpec(2000), cache) / "meta.json").exists()


def test_readme_results_block_is_replaced(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{run.README_START}\nold table\n{run.README_END}\noutro\n")
    run.update_readme(readme, "# Title\n\nMachine: x\n\n| a |\n")
    text = readme.read_text()
    assert "old table" not in text and "# Title" not in text
    assert text.startswith("intro\n") and text.endswith("outro\n") and "Machine: x\n\n| a |" in text
    run.update_readme(readme, "# Title\n\nsecond\n")
    assert readme.read_text().count(run.README_START) == 1 and "Machine: x" not in readme.read_text()
    (tmp_path / "bare.md").write_text("no block")
    with pytest.raises(run.BenchError, match="no results block"):
        run.update_readme(tmp_path / "bare.md", "x")
