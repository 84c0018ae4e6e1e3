"""Every kind of directory the commands write opens with every reading command (the scaled builds
on Dask and the NAT plugin's directories are checked where those are made: tests/scale/dask,
tests/nat)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_OUTPUT
from tests.rundir.opens import assert_opens_everywhere, invoke


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("writers") / "run"
    assert invoke("pairs", EXAMPLE_OUTPUT, "--out", out).exit_code == 0
    return out


def test_a_pairs_run(run: Path, tmp_path: Path) -> None:
    opened = assert_opens_everywhere(run, tmp_path, kind="run", frames={"steps", "candidates", "rejects", "pairs"})
    assert opened.record.producer == "dpo-frames pairs" and opened.record.sources == [str(EXAMPLE_OUTPUT)]


@pytest.mark.parametrize("fmt", ["customizer", "trl-conversational"])
def test_a_dataset_export(run: Path, tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "export"
    history = ["--full-message-history"] if fmt == "customizer" else []  # system + user prompts: keep them
    assert invoke("dataset", run, "--format", fmt, "--out", out, *history).exit_code == 0
    opened = assert_opens_everywhere(out, tmp_path / "scratch", kind="dataset", frames={"dataset"})
    assert opened.record.dataset.format == fmt and all(p.is_file() for p in opened.dataset_files().values())


def test_a_local_build(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    result = invoke("build", run / "candidates.parquet", "--out", out, "--partitions", "2")
    assert result.exit_code == 0, result.output
    opened = assert_opens_everywhere(out, tmp_path / "scratch", kind="build", frames={"pairs", "dataset"})
    assert opened.record.extra == {"engine": "local", "partitions": 2}
    assert opened.record.run_ids == ["run"] and opened.record.sources == [str(run / "candidates.parquet")]
    assert len(opened.files("pairs")) == 2


def test_a_dataset_of_a_dataset(run: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert invoke("dataset", run, "--out", first, "--max-pairs", "30", "--full-message-history").exit_code == 0
    second = tmp_path / "second"
    assert invoke("dataset", first, "--out", second, "--format", "trl-conversational").exit_code == 0
    assert_opens_everywhere(second, tmp_path / "scratch", kind="dataset", frames={"dataset"})
