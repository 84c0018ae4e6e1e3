"""Directories written by dpo_frames 0.1.0 (four shapes of stats.json) open with every command."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dpo_frames import rundir
from dpo_frames.cli import cli
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_USAGE
from dpo_frames.errors import LegacyRunDirError, RunDirError
from tests.conftest import EXAMPLE_OUTPUT

LEGACY = Path(__file__).parent / "legacy_0_1_0"
KINDS = {"pairs_run": "run", "nat_run": "run", "local_build": "build", "dask_build": "build"}


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(params=sorted(KINDS))
def legacy(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    target = tmp_path / request.param
    shutil.copytree(LEGACY / request.param, target)
    return target


def test_each_shape_opens_with_its_statistics(legacy: Path) -> None:
    run = rundir.open_dir(legacy)
    old = json.loads((legacy / "stats.json").read_text())
    assert not run.has_record and run.record.kind == KINDS[legacy.name]
    assert run.record.pair_stats is not None
    assert run.record.pair_stats.model_dump() == old["pair_stats"]
    assert run.has("pairs") and run.frame("pairs").collect().height == run.record.pair_stats.pairs
    if run.record.kind == "build":
        assert run.record.dataset.stats.model_dump(mode="json") == old["dataset_stats"]
        assert all(path.is_file() for path in run.dataset_files().values())


def test_stats_report_sql_and_dataset_read_it(legacy: Path, tmp_path: Path) -> None:
    stats = invoke("stats", legacy)
    assert stats.exit_code == 0, stats.output
    assert "written by dpo_frames 0.1.0" in stats.output and f"dpo-frames upgrade {legacy}" in stats.output
    report = invoke("report", legacy, "--out", tmp_path / "report.html")
    assert report.exit_code == 0, report.output
    count = invoke("sql", legacy, "SELECT count(*) AS n FROM pairs")
    assert count.exit_code == 0, count.output
    exported = invoke("dataset", legacy, "--out", tmp_path / "dataset", "--full-message-history")
    assert exported.exit_code == 0, exported.output
    made = rundir.open_dir(tmp_path / "dataset").record
    assert made.dataset.source == str(legacy.resolve()) and made.pair_stats == rundir.open_dir(legacy).record.pair_stats


def test_the_0_1_0_dataset_of_a_run_is_found_where_the_run_is_now(tmp_path: Path) -> None:
    run = tmp_path / "moved" / "r"
    shutil.copytree(LEGACY / "pairs_run", run)
    files = rundir.open_dir(run).dataset_files()
    assert files["train"] == run / "dataset/training/training_file.jsonl" and files["train"].is_file()


def test_replacing_it_needs_an_upgrade_first(legacy: Path) -> None:
    refused = invoke("pairs", EXAMPLE_OUTPUT, "--out", legacy, "--overwrite")
    assert refused.exit_code == EXIT_USAGE and f"dpo-frames upgrade {legacy}" in refused.stderr
    with pytest.raises(LegacyRunDirError):
        rundir.check_replaceable(legacy, overwrite=True)
    before = {p.name for p in legacy.iterdir()}
    upgraded = invoke("upgrade", legacy)
    assert upgraded.exit_code == 0, upgraded.output
    assert {p.name for p in legacy.iterdir()} == before | {"dpo_frames.json"}  # nothing else touched
    run = rundir.open_dir(legacy)
    assert run.has_record and "upgraded by dpo_frames" in run.record.producer
    assert invoke("upgrade", legacy).exit_code == EXIT_BAD_INPUT  # once is enough
    assert invoke("pairs", EXAMPLE_OUTPUT, "--out", legacy, "--overwrite").exit_code == 0


def test_a_stats_json_of_another_tool_is_not_ours(tmp_path: Path) -> None:
    (tmp_path / "stats.json").write_text(json.dumps({"pair_stats": 3, "accuracy": 0.9}))
    (tmp_path / "notes.txt").write_text("keep")
    with pytest.raises(RunDirError, match="is not one of dpo_frames'"):
        rundir.open_dir(tmp_path)
    refused = invoke("pairs", EXAMPLE_OUTPUT, "--out", tmp_path, "--overwrite")
    assert refused.exit_code == EXIT_USAGE and "was not written by dpo_frames" in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep"
