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
    core, query = python_blocks()[0:2]
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
    exec(compile(python_blocks()[2], "README.md", "exec"), {"__name__": "readme"})
    assert "completed" in capsys.readouterr().out
