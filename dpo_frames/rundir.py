"""The run directory: what ``dpo-frames pairs`` / ``dataset`` write, and how it is read back.

Layout::

    RUN_DIR/
      steps.parquet  candidates.parquet  rejects.parquet  pairs.parquet   (dpo-frames pairs)
      dataset.parquet  dataset/...jsonl                                   (dpo-frames dataset)
      stats.json      RunInfo: source, config, counts, PairStats, DatasetStats
      report.html     (dpo-frames report)

Frames are read with :func:`dpo_frames.read_frame`, or queried in place with
:func:`dpo_frames.sql.connect`.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from dpo_frames.config import PairConfig
from dpo_frames.dataset import DatasetStats
from dpo_frames.errors import DpoFramesError
from dpo_frames.pairs import PairStats

__all__ = ["STATS_FILE", "DatasetInfo", "RunDirError", "RunInfo", "load_run_info", "replace_dir", "save_run_info"]

STATS_FILE = "stats.json"


class RunDirError(DpoFramesError, ValueError):
    """A run directory is missing, not a run directory, or its stats.json is unreadable."""


class DatasetInfo(BaseModel):
    """How the dataset of a run was made (``dpo-frames dataset``) and where its files are."""

    stats: DatasetStats
    format: str = Field(description="customizer, trl or trl-conversational")
    out_dir: str
    files: dict[str, str] = Field(default_factory=dict, description="Written files by split.")
    deduplicate: bool = True
    max_pairs: int | None = None
    full_message_history: bool = False


class RunInfo(BaseModel):
    """The contents of ``stats.json``: everything about a run that is not a frame."""

    dpo_frames_version: str
    run_id: str | None = None
    source: str
    created_at: str
    config: PairConfig
    steps: int
    candidates: int
    rejects: int
    rejects_by_reason: dict[str, int] = Field(default_factory=dict)
    steps_by_type: list[dict[str, object]] = Field(default_factory=list)
    pair_stats: PairStats
    seconds: dict[str, float] = Field(default_factory=dict, description="Wall time of each stage.")
    dataset: DatasetInfo | None = None


def load_run_info(run_dir: str | os.PathLike[str]) -> RunInfo:
    """Read ``RUN_DIR/stats.json``; :class:`RunDirError` when it is not a run directory."""
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirError(f"run directory {path} does not exist")
    stats = path / STATS_FILE
    if not stats.is_file():
        raise RunDirError(f"{path} is not a run directory (no {STATS_FILE}); make one with "
                          f"`dpo-frames pairs SOURCE --out {path}`")
    try:
        return RunInfo.model_validate_json(stats.read_bytes())
    except ValidationError as exc:
        raise RunDirError(f"{stats} is not a dpo-frames stats file: {exc.errors()[0]['msg']} "
                          f"at {'.'.join(map(str, exc.errors()[0]['loc']))}") from None


def save_run_info(run_dir: str | os.PathLike[str], info: RunInfo) -> Path:
    """Write ``stats.json`` atomically (temporary file, then rename)."""
    path = Path(run_dir) / STATS_FILE
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(info.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextmanager
def replace_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory in a temporary sibling and move it to ``target`` only on success.

    Yields the temporary directory. When the block raises, it is removed and ``target``
    is left as it was; otherwise ``target`` (if any) is replaced as a whole, so readers
    never see a mix of old and new files. The caller decides beforehand whether an
    existing ``target`` may be replaced.
    """
    dest = Path(target)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:12]
    tmp = dest.with_name(f".{dest.name}.tmp-{tag}")
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = dest.with_name(f".{dest.name}.old-{tag}")
    if dest.exists():
        dest.rename(old)
    try:
        tmp.rename(dest)
    except BaseException:
        if old.exists():
            old.rename(dest)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(old, ignore_errors=True)
