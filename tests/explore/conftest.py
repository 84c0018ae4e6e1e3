from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import dpo_frames
from tests import data


@pytest.fixture(scope="module")
def run1() -> dict[str, pl.DataFrame]:
    return data.frames("r1")


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two run directories (r1, r2) with the same candidates, written by write_frames."""
    root = tmp_path_factory.mktemp("runs")
    dirs = []
    for run in ("r1", "r2"):
        dpo_frames.write_frames(root / run, **data.frames(run))
        dirs.append(root / run)
    return dirs[0], dirs[1]
