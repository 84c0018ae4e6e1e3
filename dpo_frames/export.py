"""Dataset -> files: the preference formats of common trainers (JSONL), Parquet of every frame.

One record per pair, one file per split. The formats (:data:`FORMATS`, written by
:func:`write_dataset`), each with one example record:

``customizer``: NeMo Customizer DPO (``prompt`` is the prompt text, or with
``use_full_message_history`` the message list)::

    {"prompt": "2+2?", "chosen_response": "4", "rejected_response": "5"}

``trl``: TRL explicit-prompt preference, standard (strings)::

    {"prompt": "2+2?", "chosen": "4", "rejected": "5"}

``trl-conversational``: TRL explicit-prompt preference, conversational (messages)::

    {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": [{"role": "assistant", "content": "4"}],
     "rejected": [{"role": "assistant", "content": "5"}]}

``nemo-rl-binary``: NeMo RL ``BinaryPreferenceDataset`` (default keys ``prompt``,
``chosen``, ``rejected``; the prompt is a message list, which its
``to_preference_data_format`` takes as the context as it is)::

    {"prompt": [{"role": "user", "content": "2+2?"}], "chosen": "4", "rejected": "5"}

``nemo-rl-rank``: NeMo RL ``PreferenceDataset`` rank format (lower rank preferred)::

    {"context": [{"role": "user", "content": "2+2?"}],
     "completions": [{"rank": 0, "completion": [{"role": "assistant", "content": "4"}]},
                     {"rank": 1, "completion": [{"role": "assistant", "content": "5"}]}]}

``openai``: OpenAI preference (DPO) fine-tuning::

    {"input": {"messages": [{"role": "user", "content": "2+2?"}]},
     "preferred_output": [{"role": "assistant", "content": "4"}],
     "non_preferred_output": [{"role": "assistant", "content": "5"}]}

With ``rewards=True`` every format but ``openai`` also carries ``"chosen_reward"`` and
``"rejected_reward"`` (the two candidates' scores) for reward-aware losses; readers that
do not use them ignore extra keys. A string prompt becomes one user message wherever a
format wants messages.

Sources of the formats: NeMo RL
https://docs.nvidia.com/nemo/rl/latest/apidocs/nemo_rl/nemo_rl.data.datasets.preference_datasets.binary_preference_dataset.html
and .../preference_datasets.preference_dataset.html (``context``/``completions``/``rank``);
OpenAI https://developers.openai.com/api/docs/guides/direct-preference-optimization;
TRL https://huggingface.co/docs/trl/dataset_formats (preference, explicit prompt).

Files are written to a temporary name beside the target and renamed into place, so a
failure never leaves a half-written file where a complete one is expected.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO, Literal

import polars as pl

from dpo_frames import schema
from dpo_frames.errors import SchemaError
from dpo_frames.dataset import TRAIN, VALIDATION

CUSTOMIZER_FILES = {TRAIN: Path("training/training_file.jsonl"), VALIDATION: Path("validation/validation_file.jsonl")}
TRL_FILES = {TRAIN: Path("train.jsonl"), VALIDATION: Path("validation.jsonl")}

Format = Literal["customizer", "trl", "trl-conversational", "nemo-rl-binary", "nemo-rl-rank", "openai"]
FORMATS: tuple[str, ...] = ("customizer", "trl", "trl-conversational", "nemo-rl-binary", "nemo-rl-rank", "openai")
"""The formats :func:`write_dataset` writes (see the module docstring for one record of each)."""


def _atomic_write(path: Path, write: Callable[[Path], None]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


CHUNK_ROWS = 100_000
"""Records serialized per write call: the JSON text of one chunk is built in a buffer that
the next chunk reuses, so writing a dataset of many GB needs a few hundred MB, not its size."""


def append_jsonl(records: pl.DataFrame, out: BinaryIO) -> None:
    """Append ``records`` to an open binary file as JSONL, one JSON object a line, chunk by chunk."""
    for part in records.iter_slices(CHUNK_ROWS):
        part.write_ndjson(out)


def _write_jsonl(records: pl.DataFrame, rows: pl.Series, path: Path) -> Path:
    """Write the ``rows`` (a boolean mask) of ``records`` to ``path`` as JSONL."""
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            append_jsonl(records.filter(rows), out)

    return _atomic_write(path, write)


def _write_splits(frame: pl.DataFrame, records: pl.DataFrame, out: Path, files: Mapping[str, Path]) -> dict[str, Path]:
    """One JSONL file per split of ``frame``, with the ``records`` of its rows."""
    return {split: _write_jsonl(records, frame["split"] == split, out / rel) for split, rel in files.items()}


def _messages_prompt() -> pl.Expr:
    """The prompt as a message list; a string prompt becomes one user message."""
    as_user = pl.concat_list(pl.struct(role=pl.lit("user"), content=pl.col("prompt_text")))
    return pl.coalesce(pl.col("prompt_messages"), as_user)


def _assistant(col: str) -> pl.Expr:
    """A response as a one-message assistant turn."""
    return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col(col)))


def _rewards() -> list[pl.Expr]:
    return [pl.col("chosen_score").alias("chosen_reward"), pl.col("rejected_score").alias("rejected_reward")]


def _splits(dataset: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """The dataset, checked: every row must be on a side, or it would not be written."""
    frame = dataset.collect() if isinstance(dataset, pl.LazyFrame) else dataset
    frame = schema.conform(frame, schema.DATASET, "dataset")
    unknown = frame.filter(~pl.col("split").is_in([TRAIN, VALIDATION]) | pl.col("split").is_null())
    if unknown.height:
        values = sorted(str(v) for v in unknown["split"].unique().to_list())
        raise SchemaError(f"dataset has {unknown.height} row(s) whose split is not 'train' or 'validation' "
                          f"({', '.join(values)}); they would not be written")
    return frame


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
    records = to_customizer_records(frame, use_full_message_history=use_full_message_history)
    return _write_splits(frame, records, Path(out_dir), CUSTOMIZER_FILES)


def to_trl_records(dataset: pl.DataFrame, *, conversational: bool = False) -> pl.DataFrame:
    """TRL's explicit-prompt preference columns ``prompt``, ``chosen``, ``rejected``.

    Plain: three strings. Conversational: the prompt as messages and each response as a
    one-message assistant turn.
    """
    if not conversational:
        return dataset.select(prompt="prompt_text", chosen="chosen_response", rejected="rejected_response")
    return dataset.select(prompt=_messages_prompt(), chosen=_assistant("chosen_response"),
                          rejected=_assistant("rejected_response"))


def to_nemo_rl_binary_records(dataset: pl.DataFrame) -> pl.DataFrame:
    """NeMo RL ``BinaryPreferenceDataset`` columns: ``prompt`` (messages), ``chosen``, ``rejected`` (strings)."""
    return dataset.select(prompt=_messages_prompt(), chosen="chosen_response", rejected="rejected_response")


def to_nemo_rl_rank_records(dataset: pl.DataFrame) -> pl.DataFrame:
    """NeMo RL rank format: ``context`` (messages) and ``completions`` (rank 0 chosen, rank 1 rejected)."""
    def completion(rank: int, col: str) -> pl.Expr:
        return pl.struct(rank=pl.lit(rank, dtype=pl.Int64), completion=_assistant(col))

    return dataset.select(context=_messages_prompt(),
                          completions=pl.concat_list(completion(0, "chosen_response"),
                                                     completion(1, "rejected_response")))


def to_openai_records(dataset: pl.DataFrame) -> pl.DataFrame:
    """OpenAI preference fine-tuning: ``input.messages``, ``preferred_output``, ``non_preferred_output``."""
    return dataset.select(input=pl.struct(messages=_messages_prompt()),
                          preferred_output=_assistant("chosen_response"),
                          non_preferred_output=_assistant("rejected_response"))


def to_records(dataset: pl.DataFrame, format: Format = "customizer", *, use_full_message_history: bool = False,
               rewards: bool = False) -> pl.DataFrame:
    """The records of ``format`` (one row per pair, the columns of one JSON object).

    Raises ``ValueError`` for an unknown format, ``use_full_message_history`` with a
    format other than ``customizer``, and ``rewards`` with ``openai`` (not a field of
    OpenAI's format, whose files are validated on upload).
    """
    _check_options(format, use_full_message_history, rewards)
    if format == "customizer":
        records = to_customizer_records(dataset, use_full_message_history=use_full_message_history)
    elif format in ("trl", "trl-conversational"):
        records = to_trl_records(dataset, conversational=format == "trl-conversational")
    elif format == "nemo-rl-binary":
        records = to_nemo_rl_binary_records(dataset)
    elif format == "nemo-rl-rank":
        records = to_nemo_rl_rank_records(dataset)
    else:
        records = to_openai_records(dataset)
    if rewards:
        records = pl.concat([records, dataset.select(_rewards())], how="horizontal")
    return records


def _check_options(format: str, use_full_message_history: bool, rewards: bool) -> None:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {list(FORMATS)}")
    if use_full_message_history and format != "customizer":
        raise ValueError("use_full_message_history only applies to the customizer format "
                         "(the message formats always carry the whole message list)")
    if rewards and format == "openai":
        raise ValueError("the openai format has no reward fields; write it without rewards")


def write_dataset(dataset: pl.DataFrame | pl.LazyFrame, out_dir: str | os.PathLike, format: Format = "customizer", *,
                  use_full_message_history: bool = False, rewards: bool = False) -> dict[str, Path]:
    """Write the dataset as JSONL in ``format`` under ``out_dir``; returns the paths by split name.

    ``customizer`` writes ``training/training_file.jsonl`` and
    ``validation/validation_file.jsonl`` (the layout Customizer expects), every other
    format ``train.jsonl`` and ``validation.jsonl``. Records are in dataset order.

    Example:
        >>> import json, tempfile, polars as pl, dpo_frames
        >>> from dpo_frames.export import write_dataset
        >>> ds = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": "t", "prompt_text": ["2+2?", "b"],
        ...     "prompt_messages": None, "chosen_response": ["4", "x"], "rejected_response": ["5", "y"],
        ...     "chosen_score": 1.0, "rejected_score": 0.0, "score_diff": 1.0, "chosen_index": 0,
        ...     "rejected_index": 1, "reward": 1.0, "pair_id": ["p1", "p2"], "split": ["train", "validation"]})
        >>> paths = write_dataset(ds, tempfile.mkdtemp(), "nemo-rl-rank")
        >>> json.loads(paths["train"].read_text())["completions"][1]
        {'rank': 1, 'completion': [{'role': 'assistant', 'content': '5'}]}
        >>> json.loads(write_dataset(ds, tempfile.mkdtemp(), "openai")["train"].read_text())["preferred_output"]
        [{'role': 'assistant', 'content': '4'}]
        >>> json.loads(write_dataset(ds, tempfile.mkdtemp(), "trl", rewards=True)["train"].read_text())
        {'prompt': '2+2?', 'chosen': '4', 'rejected': '5', 'chosen_reward': 1.0, 'rejected_reward': 0.0}
    """
    frame = _splits(dataset)
    _check_options(format, use_full_message_history, rewards)
    files = CUSTOMIZER_FILES if format == "customizer" else TRL_FILES
    records = to_records(frame, format, use_full_message_history=use_full_message_history, rewards=rewards)
    return _write_splits(frame, records, Path(out_dir), files)


def write_trl_jsonl(dataset: pl.DataFrame | pl.LazyFrame, out_dir: str | os.PathLike, *,
                    conversational: bool = False) -> dict[str, Path]:
    """Write TRL preference JSONL files ``train.jsonl`` and ``validation.jsonl`` under ``out_dir``.

    Load them with ``datasets.load_dataset("json", data_files={...})``.
    """
    frame = _splits(dataset)
    return _write_splits(frame, to_trl_records(frame, conversational=conversational), Path(out_dir), TRL_FILES)


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
