"""The check every test of a writer runs: what it wrote opens with stats, report, sql and dataset."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner, Result

from dpo_frames import rundir
from dpo_frames.cli import cli


def invoke(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_opens_everywhere(directory: Path, scratch: Path, *, kind: str, frames: set[str]) -> rundir.RunDir:
    """``directory`` carries a record of ``kind`` naming ``frames``, and every reading command takes it."""
    run = rundir.open_dir(directory)
    assert run.has_record and run.record.kind == kind and run.record.written_by == "dpo_frames"
    assert {name for name in run.record.frames if run.has(name)} == frames
    for args in (
        ("stats", directory),
        ("stats", directory, "--json"),
        ("report", directory, "--out", scratch / "report.html"),
    ):
        result = invoke(*args)
        assert result.exit_code == 0, (args, result.output)
    for name in frames:
        result = invoke("sql", directory, f"SELECT count(*) AS n FROM {name}")
        assert result.exit_code == 0, (name, result.output)
    if frames & {"pairs", "dataset"}:
        result = invoke("dataset", directory, "--out", scratch / "dataset", "--format", "trl-conversational")
        assert result.exit_code == 0, result.output
        assert rundir.open_dir(scratch / "dataset").record.dataset.source == str(directory.resolve())
    return run
