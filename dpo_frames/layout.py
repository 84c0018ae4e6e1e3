"""Every name dpo_frames gives a file or directory on disk: the one place they are spelt.

A directory dpo_frames writes (a *run directory*, a dataset export, a scaled build) holds
Parquet frames, JSONL files and one metadata record, :data:`RECORD_FILE`, that says what
produced it and which files hold what (:mod:`dpo_frames.rundir` reads and writes it)::

    RUN/
      dpo_frames.json                the record (marker, version, sources, settings, statistics, files)
      steps.parquet ... pairs.parquet    one file per frame                   (frame_file)
      pairs/part-00000.parquet ...   or one directory of parts per frame (scaled builds)
      dataset.parquet                    the dataset frame (pairs + split) of a dataset export
      training/training_file.jsonl       NeMo Customizer split files                  (split_files)
      validation/validation_file.jsonl
      report.html

Temporary names (:func:`temp_name`) start with a dot and carry the writer's process id, so
leftovers of a killed writer can be told from the files of a running one.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping
from pathlib import PurePosixPath

from dpo_frames.schema import TRAIN, VALIDATION

__all__ = [
    "CUSTOMIZER_FILES",
    "DATASETS_DIR",
    "LEGACY_STATS_FILE",
    "RECORD_FILE",
    "REFERENCE_FILES",
    "REPORT_FILE",
    "RUNS_DIR",
    "TRAIN_VALIDATION_FILES",
    "frame_file",
    "part_file",
    "parts_glob",
    "temp_name",
    "temp_owner",
]

RECORD_FILE = "dpo_frames.json"
"""The metadata record of a directory dpo_frames wrote (its presence marks the directory as ours)."""
LEGACY_STATS_FILE = "stats.json"
"""Where dpo_frames 0.1.0 kept its (four different) metadata shapes; read, never written."""
REPORT_FILE = "report.html"
RUNS_DIR = "runs"
"""Below a NAT finetuning ``output_dir``: one run directory per collection run."""
DATASETS_DIR = "datasets"
"""Below a run directory or a NAT finetuning ``output_dir``: one directory per dataset export."""

CUSTOMIZER_FILES: Mapping[str, PurePosixPath] = {
    TRAIN: PurePosixPath("training/training_file.jsonl"),
    VALIDATION: PurePosixPath("validation/validation_file.jsonl"),
}
"""The split files of a NeMo Customizer dataset repository (the layout the service expects)."""
TRAIN_VALIDATION_FILES: Mapping[str, PurePosixPath] = {
    TRAIN: PurePosixPath("train.jsonl"),
    VALIDATION: PurePosixPath("validation.jsonl"),
}
"""The split files of every other format (what ``datasets.load_dataset("json", ...)`` users expect)."""
REFERENCE_FILES: Mapping[str, PurePosixPath] = {
    TRAIN: PurePosixPath("training_file.jsonl"),
    VALIDATION: PurePosixPath("validation_file.jsonl"),
}
"""Where NAT's reference adapter keeps its local copy: ``{dataset_output_dir}/{run_id}/training_file.jsonl``."""


def frame_file(name: str) -> str:
    """The Parquet file of a frame: ``pairs`` -> ``pairs.parquet``."""
    return f"{name}.parquet"


def part_file(index: int, suffix: str = "parquet") -> str:
    """One part of a frame written in partitions: ``part-00003.parquet``."""
    return f"part-{index:05d}.{suffix}"


def parts_glob(name: str) -> str:
    """The parts of a frame written in partitions, as a glob relative to the directory."""
    return f"{name}/part-*.parquet"


_TEMP = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)-[0-9a-f]{8,}$")


def temp_name(name: str) -> str:
    """A hidden temporary sibling name for ``name``, unique, tagged with this process's id."""
    return f".{name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:12]}"


def temp_owner(name: str) -> int | None:
    """The process id in a name made by :func:`temp_name`, or None for any other name."""
    match = _TEMP.match(name)
    return int(match.group("pid")) if match else None
