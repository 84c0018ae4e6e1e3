"""Dataset frame -> JSONL files, one per split, in any format of :mod:`~dpo_frames.dataset.formats`.

Files are written through :mod:`dpo_frames._atomic` (a temporary name beside the target,
renamed into place), so a failure never leaves a half-written file where a complete one
is expected.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import polars as pl

from dpo_frames import schema
from dpo_frames._atomic import atomic_path
from dpo_frames.dataset.formats import Format, check_options, to_customizer_records, to_records, to_trl_records
from dpo_frames.errors import SchemaError
from dpo_frames.layout import CUSTOMIZER_FILES, TRAIN_VALIDATION_FILES
from dpo_frames.schema import SPLITS

__all__ = [
    "CHUNK_ROWS",
    "append_jsonl",
    "checked_dataset",
    "write_customizer_jsonl",
    "write_dataset",
    "write_jsonl",
    "write_trl_jsonl",
]

CHUNK_ROWS = 100_000
"""Records serialized per write call: the JSON text of one chunk is built in a buffer that
the next chunk reuses, so writing a dataset of many GB needs a few hundred MB, not its size."""


def append_jsonl(records: pl.DataFrame, out: BinaryIO) -> None:
    """Append ``records`` to an open binary file as JSONL, one JSON object a line, chunk by chunk."""
    for part in records.iter_slices(CHUNK_ROWS):
        part.write_ndjson(out)


def write_jsonl(records: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write ``records`` to ``path`` as JSONL, atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        append_jsonl(records, out)
    return Path(path)


def _write_splits(
    frame: pl.DataFrame, records: pl.DataFrame, out: Path, files: Mapping[str, PurePosixPath]
) -> dict[str, Path]:
    """One JSONL file per split of ``frame``, with the ``records`` of its rows."""
    return {split: write_jsonl(records.filter(frame["split"] == split), out / rel) for split, rel in files.items()}


def checked_dataset(dataset: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The dataset, checked: every row must be on a side, or it would not be written."""
    frame = schema.collect_frame(dataset, "dataset")
    frame = schema.conform(frame, schema.DATASET, "dataset")
    unknown = frame.filter(~pl.col("split").is_in(SPLITS) | pl.col("split").is_null())
    if unknown.height:
        values = sorted(str(v) for v in unknown["split"].unique().to_list())
        raise SchemaError(
            f"dataset has {unknown.height} row(s) whose split is not 'train' or 'validation' "
            f"({', '.join(values)}); they would not be written"
        )
    return frame


def write_customizer_jsonl(
    dataset: pl.DataFrame | pl.LazyFrame, out_dir: str | os.PathLike[str], *, use_full_message_history: bool = False
) -> dict[str, Path]:
    """Write ``training/training_file.jsonl`` and ``validation/validation_file.jsonl`` under ``out_dir``.

    One JSON object a line: ``{"prompt", "chosen_response", "rejected_response"}``.
    Returns the paths by split name (``"train"``, ``"validation"``).

    Example:
        >>> import tempfile, polars as pl, dpo_frames
        >>> ds = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": "t", "prompt_text": ["a", "b"],
        ...     "prompt_messages": None, "chosen_response": "x", "rejected_response": "y",
        ...     "chosen_score": 1.0, "rejected_score": 0.0, "score_diff": 1.0, "chosen_index": 0,
        ...     "rejected_index": 1, "reward": 1.0, "pair_id": ["p1", "p2"], "split": ["train", "validation"]})
        >>> paths = dpo_frames.write_customizer_jsonl(ds, tempfile.mkdtemp())
        >>> paths["train"].read_text()
        '{"prompt":"a","chosen_response":"x","rejected_response":"y"}\\n'
    """
    frame = checked_dataset(dataset)
    records = to_customizer_records(frame, use_full_message_history=use_full_message_history)
    return _write_splits(frame, records, Path(out_dir), CUSTOMIZER_FILES)


def write_dataset(
    dataset: pl.DataFrame | pl.LazyFrame,
    out_dir: str | os.PathLike[str],
    format: Format = "customizer",
    *,
    use_full_message_history: bool = False,
    rewards: bool = False,
    splits: Sequence[str] = SPLITS,
) -> dict[str, Path]:
    """Write the dataset as JSONL in ``format`` under ``out_dir``; returns the paths by split name.

    ``customizer`` writes ``training/training_file.jsonl`` and
    ``validation/validation_file.jsonl`` (the layout Customizer expects), every other
    format ``train.jsonl`` and ``validation.jsonl``. Records are in dataset order. ``splits``
    names the files written (a train-only dataset: ``("train",)``).

    Example:
        >>> import json, tempfile, polars as pl, dpo_frames
        >>> ds = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": "t", "prompt_text": ["2+2?", "b"],
        ...     "prompt_messages": None, "chosen_response": ["4", "x"], "rejected_response": ["5", "y"],
        ...     "chosen_score": 1.0, "rejected_score": 0.0, "score_diff": 1.0, "chosen_index": 0,
        ...     "rejected_index": 1, "reward": 1.0, "pair_id": ["p1", "p2"], "split": ["train", "validation"]})
        >>> paths = dpo_frames.write_dataset(ds, tempfile.mkdtemp(), "nemo-rl-rank")
        >>> json.loads(paths["train"].read_text())["completions"][1]
        {'rank': 1, 'completion': [{'role': 'assistant', 'content': '5'}]}
        >>> json.loads(dpo_frames.write_dataset(ds, tempfile.mkdtemp(), "openai")["train"].read_text())["preferred_output"]
        [{'role': 'assistant', 'content': '4'}]
        >>> json.loads(dpo_frames.write_dataset(ds, tempfile.mkdtemp(), "trl", rewards=True)["train"].read_text())
        {'prompt': '2+2?', 'chosen': '4', 'rejected': '5', 'chosen_reward': 1.0, 'rejected_reward': 0.0}
    """
    frame = checked_dataset(dataset)
    spec = check_options(format, use_full_message_history, rewards)
    records = to_records(frame, format, use_full_message_history=use_full_message_history, rewards=rewards)
    files = {split: path for split, path in spec.files.items() if split in splits}
    return _write_splits(frame, records, Path(out_dir), files)


def write_trl_jsonl(
    dataset: pl.DataFrame | pl.LazyFrame, out_dir: str | os.PathLike[str], *, conversational: bool = False
) -> dict[str, Path]:
    """Write TRL preference JSONL files ``train.jsonl`` and ``validation.jsonl`` under ``out_dir``.

    Load them with ``datasets.load_dataset("json", data_files={...})``.
    """
    frame = checked_dataset(dataset)
    return _write_splits(
        frame, to_trl_records(frame, conversational=conversational), Path(out_dir), TRAIN_VALIDATION_FILES
    )
