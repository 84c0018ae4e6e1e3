"""The README's code blocks run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_core_api_example_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    exec(compile(python_blocks()[0], "README.md", "exec"), {})
    assert (tmp_path / "out/dataset/training/training_file.jsonl").stat().st_size > 0
    assert (tmp_path / "out/run-1/pairs.parquet").is_file()
    assert "tied_pairs" in capsys.readouterr().out


def test_sql_example_runs_after_the_core_example(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    namespace: dict = {}
    core = python_blocks()[0]
    query = next(b for b in python_blocks() if "sql.query" in b)
    exec(compile(core, "README.md", "exec"), namespace)
    capsys.readouterr()
    exec(compile(query, "README.md", "exec"), namespace)
    out = capsys.readouterr().out
    assert "turn_id" in out and "pairs" in out


@pytest.mark.timeout(60)
def test_client_example_runs_against_the_emulator(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    exec(compile(python_blocks()[0], "README.md", "exec"), {})  # makes out/dataset
    client = next(b for b in python_blocks() if "CustomizerClient" in b)
    exec(compile(client, "README.md", "exec"), {"__name__": "readme"})
    assert "completed" in capsys.readouterr().out


def test_partitioned_example_runs(tmp_path, monkeypatch):
    import polars as pl

    import dpo_frames

    monkeypatch.chdir(tmp_path)
    steps = dpo_frames.read_steps(ROOT / "examples/tictactoe/data/workflow_output.json")
    candidates, _ = dpo_frames.extract_candidates(steps)
    for run in ("r1", "r2"):
        dpo_frames.write_frames(tmp_path / "runs" / run, candidates=candidates.with_columns(run_id=pl.lit(run)))
    block = next(b for b in python_blocks() if "from dpo_frames.scale import build_dataset" in b)
    namespace = {"dpo_frames": dpo_frames}
    exec(compile(block, "README.md", "exec"), namespace)
    assert namespace["result"].dataset_stats.duplicate_pairs == namespace["result"].dataset_stats.pairs > 0
    assert (tmp_path / "out/big/training/training_file.jsonl").is_file()


def _after_core(tmp_path, monkeypatch, marker: str) -> dict:
    """Run the core example, then the README block that contains ``marker``, in one namespace."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    namespace: dict = {"__name__": "readme"}
    exec(compile(python_blocks()[0], "README.md", "exec"), namespace)
    block = next(b for b in python_blocks() if marker in b)
    exec(compile(block, "README.md", "exec"), namespace)
    return namespace


def test_sft_and_kto_example_runs(tmp_path, monkeypatch, capsys):
    import json

    namespace = _after_core(tmp_path, monkeypatch, "build_sft(")
    capsys.readouterr()
    sft_lines = (tmp_path / "out/sft/train.jsonl").read_text().splitlines()
    assert len(sft_lines) == namespace["sft_stats"].split.train_pairs > 0
    assert json.loads(sft_lines[0])["messages"][-1]["role"] == "assistant"
    kto = [json.loads(line) for line in (tmp_path / "out/kto/train.jsonl").read_text().splitlines()]
    assert {r["label"] for r in kto} == {True, False} and namespace["kto_stats"].train_desirable > 0


@pytest.mark.timeout(120)
def test_hub_example_runs_against_the_emulator(tmp_path, monkeypatch, capsys):
    pytest.importorskip("datasets")
    namespace = _after_core(tmp_path, monkeypatch, "build_sft(")
    hub_block = next(b for b in python_blocks() if "push_to_hub" in b)
    exec(compile(hub_block, "README.md", "exec"), namespace)
    result = namespace["result"]
    assert result.rows["train"] == namespace["splits"]["train"].num_rows > 0
    assert "README.md" in result.files and "datasets/team/ttt-sft" in capsys.readouterr().out
