"""What a user sees when the extra, the cluster or the input is wrong."""

from __future__ import annotations

import subprocess
import sys

import polars as pl
import pytest

from dpo_frames.errors import DpoFramesError, SchemaError, SourceError
from dpo_frames.scale.dask import ClusterError, DistributedError, EngineMissingError, build_dataset, connect


@pytest.mark.parametrize("module", ["distributed", "dask"])
def test_missing_extra_names_the_install_line(monkeypatch, tmp_path, module):
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "c.parquet")
    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(EngineMissingError) as info:
        build_dataset(tmp_path / "c.parquet", tmp_path / "out")
    assert "pip install 'dpo_frames[dask]'" in str(info.value) and info.value.missing == module
    assert isinstance(info.value, ImportError) and isinstance(info.value, DpoFramesError)
    assert not (tmp_path / "out").exists()


def test_unreachable_scheduler():
    with (
        pytest.raises(ClusterError, match="cannot connect to the Dask scheduler at tcp://127.0.0.1:9"),
        connect("dask", "tcp://127.0.0.1:9", timeout=1),
    ):
        pass


def test_unknown_engine_and_bad_workers():
    with pytest.raises(DistributedError, match="unknown engine 'spark'; choose one of dask"), connect("spark"):
        pass
    with pytest.raises(DistributedError, match="workers must be at least 1"), connect("dask", workers=0):
        pass


def test_no_matching_file(tmp_path):
    with pytest.raises(SourceError, match="no Parquet file matches"):
        build_dataset(str(tmp_path / "*.parquet"), tmp_path / "out")


def test_schema_error_from_a_worker_keeps_its_type(scheduler, tmp_path):
    pl.DataFrame({"run_id": ["r"], "turn_id": ["t"]}).write_parquet(tmp_path / "c.parquet")
    with pytest.raises(SchemaError, match=r"candidates of file://.*c\.parquet frame is missing column"):
        build_dataset(tmp_path / "c.parquet", tmp_path / "out", address=scheduler)


def test_core_install_without_the_extra(tmp_path):
    """Without dask, distributed and fsspec, the CLI and the package import; a dask build names the extra."""
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "c.parquet")
    script = f"""
import subprocess
import sys
sys.modules.update(dask=None, distributed=None, fsspec=None)
from click.testing import CliRunner
from dpo_frames.cli import cli
import dpo_frames.scale.dask
args = ["build", "{tmp_path}/c.parquet", "--out", "{tmp_path}/out"]
print(CliRunner().invoke(cli, [*args, "--engine", "dask"]).output.strip())
print(CliRunner().invoke(cli, [*args, "--engine", "local"]).output.strip()[:40])
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    lines = done.stdout.splitlines()
    assert lines[0].endswith("(module 'dask' is missing): pip install 'dpo_frames[dask]'")
    assert lines[1].startswith("dpo-frames: error: cannot build: ")  # the local engine ran (and refused "a")


def test_fsspec_reader_reads_as_the_local_one(candidate_files):
    """Non-local URLs go through fsspec and pyarrow; the frame is the local reader's."""
    import fsspec

    from dpo_frames.scale.dask.source import plan_source, read_split

    local = plan_source(candidate_files[:2], split_rows=45_000)
    fs = fsspec.filesystem("memory")
    for path in candidate_files[:2]:
        fs.pipe(f"/dist-test/{path.name}", path.read_bytes())
    remote = plan_source("memory://dist-test/*.parquet", split_rows=45_000)
    assert [(s.first_row, s.rows, s.start) for s in remote.splits] == [
        (s.first_row, s.rows, s.start) for s in local.splits
    ]
    assert len(local.splits) > 4 and remote.rows == local.rows
    for a, b in zip(local.splits, remote.splits):
        assert read_split(a).equals(read_split(b))
    fs.rm("/dist-test", recursive=True)
