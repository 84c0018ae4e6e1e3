"""The one atomic writer: complete files or none, whole directories, and the leftovers of killed writers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dpo_frames import layout
from dpo_frames._atomic import append_line, atomic_dir, atomic_path, clean_leftovers, write_json


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    write_json(target, {"v": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"v": 2, "half')
        raise RuntimeError("disk full")
    assert target.read_text() == '{\n  "v": 1\n}\n' and [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_a_directory_is_replaced_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "run"
    with atomic_dir(target) as tmp:
        (tmp / "a").write_text("1")
        (tmp / "b").write_text("1")
    with pytest.raises(ValueError), atomic_dir(target) as tmp:
        (tmp / "a").write_text("2")
        raise ValueError("bad input")
    assert {p.name: p.read_text() for p in target.iterdir()} == {"a": "1", "b": "1"}
    with atomic_dir(target) as tmp:
        (tmp / "c").write_text("3")
    assert [p.name for p in target.iterdir()] == ["c"] and [p.name for p in tmp_path.iterdir()] == ["run"]


def test_temporary_names_carry_the_writer_and_are_hidden() -> None:
    name = layout.temp_name("pairs.parquet")
    assert name.startswith(".pairs.parquet.tmp-") and layout.temp_owner(name) == os.getpid()
    assert layout.temp_owner("pairs.parquet") is None and layout.temp_owner(".x.tmp-12-zz") is None


def test_leftovers_of_a_dead_writer_are_cleaned_those_of_a_live_one_kept(tmp_path: Path) -> None:
    dead = tmp_path / f".run.tmp-{_dead_pid()}-0123456789ab"
    dead.mkdir()
    (dead / "pairs.parquet").write_text("half")
    dead_file = tmp_path / f".f.json.tmp-{_dead_pid()}-0123456789ab"
    dead_file.write_text("x")
    live = tmp_path / layout.temp_name("other")  # this process: still writing
    live.write_text("y")
    user = tmp_path / ".cache.tmp-keep"  # not a name dpo_frames makes
    user.write_text("z")
    assert sorted(clean_leftovers(tmp_path)) == sorted([dead, dead_file])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, user.name])
    assert clean_leftovers(tmp_path / "missing") == []


def test_appended_lines_are_whole(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "progress.jsonl"
    append_line(log, '{"run": 0}')
    append_line(log, '{"run": 1}\n')
    assert log.read_text() == '{"run": 0}\n{"run": 1}\n'
