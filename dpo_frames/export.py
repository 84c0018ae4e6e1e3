"""Dataset -> files: NeMo Customizer DPO JSONL, TRL preference JSONL, Parquet of every frame.

Files are written to a temporary name beside the target and renamed into place, so a
failure never leaves a half-written file where a complete one is expected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import polars as pl

from dpo_frames import schema
from dpo_frames.dataset import TRAIN, VALIDATION

CUSTOMIZER_FILES = {TRAIN: Path("training/training_file.jsonl"), VALIDATION: Path("validation/validation_file.jsonl")}
TRL_FILES = {TRAIN: Path("train.jsonl"), VALIDATION: Path("validation.jsonl")}


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _messages_prompt() -> pl.Expr:
    """The prompt as a message list; a string prompt becomes one user message."""
    as_user = pl.concat_list(pl.struct(role=pl.lit("user"), content=pl.col("prompt_text")))
    return pl.coalesce(pl.col("prompt_messages"), as_user)


def _splits(dataset: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    frame = dataset.collect() if isinstance(dataset, pl.LazyFrame) else dataset
    return schema.conform(frame, schema.DATASET, "dataset")


def to_customizer_records(dataset: pl.DataFrame, *, use_full_message_history: bool = False) -> pl.DataFrame:
    """The NeMo Customizer DPO columns: ``prompt``, ``chosen_response``, ``rejected_response``.

    ``prompt`` is the prompt text (a message prompt's last message), or with
    ``use_full_message_history`` the whole message list (a string prompt becomes one
    user message), as NAT's reference adapter formats it.
    """
    prompt = _messages_prompt() if use_full_message_history else pl.col("prompt_text")
    return dataset.select(prompt.alias("prompt"), "chosen_response", "rejected_response")


def write_customizer_jsonl(dataset: pl.DataFrame | pl.LazyFrame, out_dir: str | os.PathLike, *,
                           use_full_message_history: bool = False) -> dict[str, Path]:
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
    frame = _splits(dataset)
    out = Path(out_dir)
    return {
        split: _atomic_write(out / rel, to_customizer_records(
            frame.filter(pl.col("split") == split), use_full_message_history=use_full_message_history).write_ndjson)
        for split, rel in CUSTOMIZER_FILES.items()
    }


def to_trl_records(dataset: pl.DataFrame, *, conversational: bool = False) -> pl.DataFrame:
    """TRL's explicit-prompt preference columns ``prompt``, ``chosen``, ``rejected``.

    Plain: three strings. Conversational: the prompt as messages and each response as a
    one-message assistant turn.
    """
    if not conversational:
        return dataset.select(prompt="prompt_text", chosen="chosen_response", rejected="rejected_response")

    def assistant(col: str) -> pl.Expr:
        return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col(col)))

    return dataset.select(prompt=_messages_prompt(), chosen=assistant("chosen_response"),
                          rejected=assistant("rejected_response"))


def write_trl_jsonl(dataset: pl.DataFrame | pl.LazyFrame, out_dir: str | os.PathLike, *,
                    conversational: bool = False) -> dict[str, Path]:
    """Write TRL preference JSONL files ``train.jsonl`` and ``validation.jsonl`` under ``out_dir``.

    Load them with ``datasets.load_dataset("json", data_files={...})``.
    """
    frame = _splits(dataset)
    out = Path(out_dir)
    return {
        split: _atomic_write(out / rel, to_trl_records(frame.filter(pl.col("split") == split),
                                                      conversational=conversational).write_ndjson)
        for split, rel in TRL_FILES.items()
    }


def write_frames(out_dir: str | os.PathLike, **frames: pl.DataFrame) -> dict[str, Path]:
    """Write frames as ``{name}.parquet`` under ``out_dir``; names are those of :data:`schema.FRAMES`.

    Example: ``write_frames("run1", candidates=candidates, rejects=rejects, pairs=pairs)``.
    """
    unknown = sorted(set(frames) - set(schema.FRAMES))
    if unknown:
        raise ValueError(f"unknown frame name(s) {unknown}; expected some of {list(schema.FRAMES)}")
    out = Path(out_dir)
    written = {}
    for name, frame in frames.items():
        checked = schema.conform(frame, schema.FRAMES[name], name)
        written[name] = _atomic_write(out / f"{name}.parquet", checked.write_parquet)
    return written


def read_frame(path: str | os.PathLike, name: str | None = None, *, lazy: bool = False) -> pl.DataFrame | pl.LazyFrame:
    """Read a frame written by :func:`write_frames`, checked against its schema.

    ``path`` is a Parquet file, or a run directory together with ``name``. ``lazy=True``
    returns a ``LazyFrame`` over ``scan_parquet`` (large files are scanned, not loaded).
    """
    p = Path(path)
    if name is None:
        name = p.stem
    elif p.is_dir():
        p = p / f"{name}.parquet"
    if name not in schema.FRAMES:
        raise ValueError(f"unknown frame name {name!r}; expected one of {list(schema.FRAMES)}")
    if not p.is_file():
        raise FileNotFoundError(f"no {name} frame at {p}")
    expected: Mapping[str, pl.DataType] = schema.FRAMES[name]
    if lazy:
        lf = pl.scan_parquet(p)
        found = lf.collect_schema()
        schema.conform(pl.DataFrame(schema=dict(found)), expected, f"{name} ({p})")
        return lf.select([pl.col(c).cast(d) for c, d in expected.items()] + [c for c in found if c not in expected])
    return schema.conform(pl.read_parquet(p), expected, f"{name} ({p})")
