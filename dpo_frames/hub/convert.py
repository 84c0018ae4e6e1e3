"""A dpo_frames dataset -> ``datasets.DatasetDict``: records of one format, features typed, through Arrow."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from dpo_frames import schema
from dpo_frames._extras import require
from dpo_frames.dataset import REGISTRY, PromptContext, build_kto, build_sft, finalize_dataset, to_records
from dpo_frames.dataset.writers import checked_dataset
from dpo_frames.errors import ConfigError
from dpo_frames.rundir import DatasetInfo, RunDir, RunRecord, dataset_record, open_dir
from dpo_frames.schema import SPLITS

if TYPE_CHECKING:
    import datasets

__all__ = ["DEFAULT_FORMATS", "HubDataset", "hub_dataset", "to_hf_dataset"]

DEFAULT_FORMATS = {"dpo": "trl-conversational", "sft": "trl-sft-conversational", "kto": "trl-kto-conversational"}
"""The format of each recipe when none is given: TRL's conversational ones, which keep every message."""


@dataclass(frozen=True)
class HubDataset:
    """A dataset ready for the Hub: its frame, recipe and the record that describes where it came from."""

    frame: pl.DataFrame
    recipe: str
    record: RunRecord


def _recipe_of(frame: pl.DataFrame) -> str:
    if "chosen_response" in frame.columns:
        return "dpo"
    if "completion" in frame.columns:
        return "kto" if not frame["label"].fill_null(True).all() else "sft"
    raise ConfigError(
        f"not a dataset frame: columns {frame.columns}; expected a dataset (pairs and split) or completions frame"
    )


def _from_run(run: RunDir, recipe: str | None) -> HubDataset:
    """The dataset of a directory: its dataset or completions frame, else one built with default settings."""
    info = run.record.dataset
    for name in ("dataset", "completions"):
        lazy = run.frame(name)
        if lazy is not None and info is not None:
            frame = lazy.collect()
            return HubDataset(frame, info.recipe if info.recipe else _recipe_of(frame), run.record)
    recipe = recipe or "dpo"
    if recipe == "dpo" and run.has("pairs"):
        frame, stats = finalize_dataset(run.frame("pairs"))  # type: ignore[arg-type]  # has("pairs")
        selection = None
    elif recipe in ("sft", "kto") and run.has("candidates"):
        build = build_sft if recipe == "sft" else build_kto
        frame, chosen = build(run.frame("candidates"))  # type: ignore[arg-type]  # has("candidates")
        stats, selection = chosen.split, chosen
    else:
        needs = "pairs" if recipe == "dpo" else "candidates"
        raise ConfigError(f"{run.path} holds no dataset and no {needs} to make a {recipe} dataset of")
    made = DatasetInfo(format=DEFAULT_FORMATS[recipe], recipe=recipe, stats=stats, selection=selection)
    record = dataset_record(run, made, {}, producer="dpo_frames.hub (default settings)")
    return HubDataset(frame, recipe, record)


def hub_dataset(
    dataset: pl.DataFrame | pl.LazyFrame | str | os.PathLike[str], *, format: str | None = None
) -> HubDataset:
    """``dataset`` (a frame, or a directory dpo_frames wrote) with its recipe and record."""
    wanted = REGISTRY[format].recipe if format is not None and format in REGISTRY else None
    if isinstance(dataset, (str, os.PathLike)):
        return _from_run(open_dir(Path(dataset)), wanted)
    frame = schema.collect_frame(dataset, "dataset")
    recipe = _recipe_of(frame)
    frame = checked_dataset(frame, "dataset" if recipe == "dpo" else "completions")
    return HubDataset(frame, recipe, RunRecord(producer="a frame given to dpo_frames.hub"))


def format_for(recipe: str, format: str | None) -> str:
    """The format to write (the recipe's default when None); a ConfigError when it is another recipe's."""
    chosen = format or DEFAULT_FORMATS[recipe]
    if chosen not in REGISTRY:
        raise ConfigError(f"unknown format {chosen!r}; expected one of {list(REGISTRY)}")
    if REGISTRY[chosen].recipe != recipe:
        raise ConfigError(f"the dataset is {recipe} data; {chosen} is a {REGISTRY[chosen].recipe} format")
    return chosen


def _feature(dtype: Any) -> Any:  # a Polars dtype (class or instance)
    """The ``datasets`` feature of a Polars dtype of a record column."""
    import datasets

    if isinstance(dtype, pl.List):
        return datasets.List(_feature(dtype.inner))
    if isinstance(dtype, pl.Struct):
        return {field.name: _feature(field.dtype) for field in dtype.fields}
    simple = {pl.String: "string", pl.Boolean: "bool", pl.Float64: "float64", pl.Int64: "int64"}
    for polars_type, name in simple.items():
        if dtype == polars_type:
            return datasets.Value(name)
    raise ConfigError(f"no datasets feature for a record column of type {dtype}")


def features_of(records: pl.DataFrame) -> datasets.Features:
    """The typed features of a format's records (the columns of one JSON object)."""
    import datasets

    return datasets.Features({name: _feature(dtype) for name, dtype in records.schema.items()})


def to_hf_dataset(
    dataset: pl.DataFrame | pl.LazyFrame | str | os.PathLike[str],
    format: str | None = None,
    *,
    use_full_message_history: bool = False,
    rewards: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> datasets.DatasetDict:
    """The dataset as a ``datasets.DatasetDict`` (``train``, ``validation``) of ``format``'s records.

    ``dataset`` is a dataset frame (DPO pairs with their split), a completions frame (SFT, KTO) or a
    directory dpo_frames wrote (its dataset, or one made from its pairs or candidates with default
    settings). ``format`` defaults to the recipe's TRL conversational format (``trl-conversational``,
    ``trl-sft-conversational``, ``trl-kto-conversational``); the options are those of
    :func:`~dpo_frames.write_dataset`. Features are typed: strings, message lists as lists of
    ``{role, content}`` strings, ``label`` bool, rewards float64. The data goes through Arrow.

    Example:
        >>> import polars as pl, dpo_frames
        >>> from dpo_frames.hub import to_hf_dataset
        >>> candidates = pl.DataFrame({"run_id": "r", "example_id": "q", "turn_id": ["t0", "t0", "t1", "t1"],
        ...     "turn_index": 0, "candidate_index": [0, 1, 0, 1], "prompt_text": ["2+2?", "2+2?", "3+3?", "3+3?"],
        ...     "prompt_messages": None, "response": ["4", "5", "6", "7"], "score": [1.0, 0.0, 1.0, 0.0],
        ...     "step_uuid": ["a", "b", "c", "d"], "metadata": None})
        >>> kto = to_hf_dataset(dpo_frames.build_kto(candidates)[0])
        >>> kto["train"].features["label"], kto["train"].num_rows + kto["validation"].num_rows
        (Value('bool'), 4)
    """
    require("datasets", extra="hf", feature="to_hf_dataset")
    source = hub_dataset(dataset, format=format)
    return _dataset_dict(source, format_for(source.recipe, format), use_full_message_history, rewards, prompt_context)


def _dataset_dict(
    source: HubDataset, fmt: str, full_history: bool, rewards: bool, prompt_context: PromptContext | str
) -> datasets.DatasetDict:
    import datasets
    from datasets.table import InMemoryTable

    frame = source.frame
    records = to_records(
        frame,
        fmt,  # type: ignore[arg-type]  # checked by format_for
        use_full_message_history=full_history,
        rewards=rewards,
        prompt_context=prompt_context,
    )
    features = features_of(records)
    splits = {}
    for split in SPLITS:
        part = records.filter(frame["split"] == split).to_arrow(compat_level=pl.CompatLevel.oldest())
        table = InMemoryTable(part.cast(features.arrow_schema))
        splits[split] = datasets.Dataset(table, info=datasets.DatasetInfo(features=features), split=split)
    return datasets.DatasetDict(splits)
