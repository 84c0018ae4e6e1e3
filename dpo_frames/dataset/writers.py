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
from dpo_frames.dataset.context import ContextStats, PromptContext
from dpo_frames.dataset.formats import (
    REGISTRY,
    Format,
    check_options,
    check_records,
    to_customizer_records,
    to_records,
    to_trl_records,
)
from dpo_frames.errors import SchemaError
from dpo_frames.layout import CUSTOMIZER_FILES, TRAIN_VALIDATION_FILES
from dpo_frames.schema import SPLITS

__all__ = [
    "CHUNK_ROWS",
    "append_jsonl",
    "checked_completions",
    "checked_dataset",
    "export_context",
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


def checked_dataset(dataset: pl.DataFrame | pl.LazyFrame, name: str = "dataset") -> pl.DataFrame:
    """The dataset (or, with ``name="completions"``, a completions frame), checked: every row must be
    on a side, or it would not be written."""
    frame = schema.collect_frame(dataset, name)
    frame = schema.conform(frame, schema.FRAMES[name], name)
    unknown = frame.filter(~pl.col("split").is_in(SPLITS) | pl.col("split").is_null())
    if unknown.height:
        values = sorted(str(v) for v in unknown["split"].unique().to_list())
        raise SchemaError(
            f"{name} has {unknown.height} row(s) whose split is not 'train' or 'validation' "
            f"({', '.join(values)}); they would not be written"
        )
    return frame


def checked_completions(completions: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """A completions frame (SFT, KTO), checked as :func:`checked_dataset` checks a dataset."""
    return checked_dataset(completions, "completions")


def write_customizer_jsonl(
    dataset: pl.DataFrame | pl.LazyFrame,
    out_dir: str | os.PathLike[str],
    *,
    use_full_message_history: bool = False,
    prompt_context: PromptContext | str = PromptContext.LAST_MESSAGE,
) -> dict[str, Path]:
    """Write ``training/training_file.jsonl`` and ``validation/validation_file.jsonl`` under ``out_dir``.

    One JSON object a line: ``{"prompt", "chosen_response", "rejected_response"}``.
    Returns the paths by split name (``"train"``, ``"validation"``).

    As NAT's reference adapter (whose ``use_full_message_history: false`` means the last message),
    the prompt is the last message unless ``use_full_message_history``; prompts of several messages
    cut that way are counted and logged as a warning. ``prompt_context="refuse"`` refuses them
    instead, as :func:`write_dataset` does by default.

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
    check_records(
        frame, REGISTRY["customizer"], use_full_message_history=use_full_message_history, prompt_context=prompt_context
    )
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
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> dict[str, Path]:
    """Write the dataset as JSONL in ``format`` under ``out_dir``; returns the paths by split name.

    ``dataset`` is a dataset frame (pairs with their split) for the DPO formats, a completions frame
    (:func:`~dpo_frames.build_sft`, :func:`~dpo_frames.build_kto`) for the SFT and KTO formats. A
    format whose prompt is one string refuses prompts of several messages unless
    ``prompt_context="last_message"`` (:mod:`~dpo_frames.dataset.context`).

    ``customizer`` and ``customizer-sft`` write ``training/training_file.jsonl`` and
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
    spec = check_options(format, use_full_message_history, rewards)
    frame = checked_dataset(dataset, spec.frame_name)
    records = to_records(
        frame, format, use_full_message_history=use_full_message_history, rewards=rewards, prompt_context=prompt_context
    )
    files = {split: path for split, path in spec.files.items() if split in splits}
    return _write_splits(frame, records, Path(out_dir), files)


def export_context(
    dataset: pl.DataFrame,
    format: Format,
    *,
    use_full_message_history: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> ContextStats:
    """What an export of ``dataset`` in ``format`` does with message prompts (raises as :func:`write_dataset`)."""
    spec = check_options(format, use_full_message_history)
    return check_records(
        dataset, spec, use_full_message_history=use_full_message_history, prompt_context=prompt_context
    )


def write_trl_jsonl(
    dataset: pl.DataFrame | pl.LazyFrame,
    out_dir: str | os.PathLike[str],
    *,
    conversational: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> dict[str, Path]:
    """Write TRL preference JSONL files ``train.jsonl`` and ``validation.jsonl`` under ``out_dir``.

    Load them with ``datasets.load_dataset("json", data_files={...})``. Plain (not
    ``conversational``) refuses prompts of several messages unless ``prompt_context="last_message"``.
    """
    frame = checked_dataset(dataset)
    spec = REGISTRY["trl-conversational" if conversational else "trl"]
    check_records(frame, spec, prompt_context=prompt_context)
    return _write_splits(
        frame, to_trl_records(frame, conversational=conversational), Path(out_dir), TRAIN_VALIDATION_FILES
    )
