from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.dask import data

TURNS = 90_000  # about 315,000 candidates


@pytest.fixture(scope="package")
def scheduler() -> Iterator[str]:
    """The address of a local Dask cluster of two worker processes, shared by the whole directory."""
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        env={"POLARS_MAX_THREADS": "1"},
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="package")
def candidate_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """About 315,000 generated candidates in three files of 20,000-row groups."""
    return data.write_files(data.candidates(TURNS), tmp_path_factory.mktemp("candidates"))
