"""The public names are pinned: adding one is a decision, removing one breaks users."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import dpo_frames
from dpo_frames import _compat, errors

PUBLIC = {
    "FORMATS", "DatasetStats", "DedupMode", "DpoFramesError", "PairConfig", "PairStats", "PairStrategy",
    "QualityReport", "RejectReason", "SchemaError", "SourceError", "__version__", "build_pairs",
    "extract_candidates", "finalize_dataset", "open_dir", "quality_checks", "read_frame", "read_steps",
    "summarize_steps", "to_customizer_records", "build_sft", "build_kto", "SftConfig", "KtoConfig", "to_records", "to_trl_records", "write_customizer_jsonl",
    "write_dataset", "write_frames", "write_trl_jsonl",
}  # fmt: skip


def test_the_top_level_names() -> None:
    assert set(dpo_frames.__all__) == PUBLIC
    assert all(hasattr(dpo_frames, name) for name in PUBLIC)


def test_every_error_is_in_one_tree() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert all(issubclass(c, errors.DpoFramesError) for c in classes)
    for name in errors.__all__:
        assert name in errors.__doc__ or name == "DistributedError", f"{name} missing from the tree drawing"


@pytest.mark.parametrize(("error", "builtin"), [
    (errors.SourceError, ValueError), (errors.ConfigError, ValueError), (errors.RunDirError, ValueError),
    (errors.FrameNotFoundError, FileNotFoundError), (errors.OutputExistsError, FileExistsError),
    (errors.MissingExtraError, ImportError), (errors.JobTimeoutError, TimeoutError),
    (errors.LocalDatasetError, FileNotFoundError), (errors.EmptyDatasetError, ValueError),
])  # fmt: skip
def test_errors_are_also_the_builtin_a_caller_catches(error: type, builtin: type) -> None:
    assert issubclass(error, builtin)


def test_client_network_errors_are_not_os_errors() -> None:
    # an ``except OSError`` around local file work must never swallow a refused request
    for error in (errors.TransportError, errors.ApiError, errors.AuthError, errors.ClusterError):
        assert not issubclass(error, OSError)


@pytest.mark.parametrize("old", sorted(_compat.ALIASES))
def test_the_import_paths_of_0_1_still_work(old: str) -> None:
    module = importlib.import_module(old)
    assert module is importlib.import_module(_compat.ALIASES[old])


def test_names_below_a_moved_package_follow_it() -> None:
    from dpo_frames.customizer.emulator.server import Emulator
    from dpo_frames.distributed.source import plan_source
    from dpo_frames.emulator.server import Emulator as NewEmulator
    from dpo_frames.scale.dask.source import plan_source as new_plan_source

    assert Emulator is NewEmulator and plan_source is new_plan_source
    from dpo_frames.export import FORMATS, write_dataset  # the 0.1 spelling of the dataset writers
    from dpo_frames.sql import query

    assert write_dataset is dpo_frames.write_dataset and FORMATS == dpo_frames.FORMATS and callable(query)
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("dpo_frames.no_such_module")


def test_python_dash_m_runs_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dpo_frames", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == f"dpo-frames, version {dpo_frames.__version__}"
