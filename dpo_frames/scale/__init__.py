"""The same build beyond memory: out of core on this machine, or on a Dask cluster.

One entry point, :func:`build_dataset`, with an ``engine`` (as Polars' ``collect(engine=...)``):

- ``"local"`` (:mod:`~dpo_frames.scale.partitioned`): candidates partitioned by a stable
  hash of their turn in one streaming pass, each partition through the in-memory engine;
- ``"dask"`` (:mod:`~dpo_frames.scale.dask`, the ``dask`` extra): the same kernel run by a
  Dask cluster, reading and writing local paths or fsspec URLs.

Either way the dataset is exactly the in-memory one (only the order of lines differs), and
the output directory opens with every command (its record says which engine built it).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import polars as pl

from dpo_frames.dataset.context import PromptContext
from dpo_frames.dataset.finalize import DedupMode
from dpo_frames.errors import ConfigError
from dpo_frames.pairs.config import PairConfig
from dpo_frames.scale.partitioned import PartitionedResult, build_dataset_partitioned

__all__ = ["ENGINES", "PartitionedResult", "build_dataset", "build_dataset_partitioned"]

ENGINES: tuple[str, ...] = ("local", "dask")
"""The engines :func:`build_dataset` runs on."""


class _BuildOptions(TypedDict):
    """The settings :func:`build_dataset` passes on to either engine."""

    partitions: int | None
    deduplicate: bool
    max_pairs: int | None
    seed: int
    validation_fraction: float
    dedup_mode: DedupMode | str
    use_full_message_history: bool
    prompt_context: PromptContext | str


def build_dataset(
    candidates: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pl.LazyFrame,
    out_dir: str | os.PathLike[str],
    config: PairConfig | None = None,
    *,
    engine: str = "local",
    address: str | None = None,
    workers: int = 2,
    partitions: int | None = None,
    deduplicate: bool = True,
    max_pairs: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    dedup_mode: DedupMode | str = DedupMode.EXACT,
    use_full_message_history: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    """Build pairs and the NeMo Customizer dataset from candidates Parquet files, beyond memory.

    ``engine="local"`` works in this process, one partition at a time; ``engine="dask"``
    on a Dask cluster (``address`` of a running scheduler, else a local cluster of
    ``workers`` processes), where ``candidates`` and ``out_dir`` may be fsspec URLs.
    The dataset options are those of :func:`~dpo_frames.finalize_dataset`; prompts of
    several messages are kept whole with ``use_full_message_history``, else refused unless
    ``prompt_context="last_message"`` cuts them to their last message (counted in the
    record, :mod:`~dpo_frames.dataset.context`). Returns the
    engine's result (pair and dataset statistics, partitions, files written).

    Example:
        >>> import tempfile, dpo_frames
        >>> from dpo_frames.scale import build_dataset
        >>> candidates, _ = dpo_frames.extract_candidates("examples/tictactoe/data/workflow_output.json")
        >>> path = f"{tempfile.mkdtemp()}/candidates.parquet"; candidates.write_parquet(path)
        >>> build_dataset(path, f"{tempfile.mkdtemp()}/out", partitions=2, use_full_message_history=True).dataset_stats.pairs
        60
    """
    options: _BuildOptions = {
        "partitions": partitions,
        "deduplicate": deduplicate,
        "max_pairs": max_pairs,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "dedup_mode": dedup_mode,
        "use_full_message_history": use_full_message_history,
        "prompt_context": prompt_context,
    }
    if engine == "local":
        if address is not None or storage_options:
            raise ConfigError("address and storage_options apply to engine='dask'")
        return build_dataset_partitioned(candidates, out_dir, config, **options)
    if engine == "dask":
        from dpo_frames.scale.dask import build_dataset as build_on_dask

        if isinstance(candidates, pl.LazyFrame):
            raise ConfigError("engine='dask' reads Parquet files (paths or URLs), not a LazyFrame")
        return build_on_dask(
            candidates,
            out_dir,
            config,
            engine="dask",
            address=address,
            workers=workers,
            storage_options=storage_options,
            **options,
        )
    raise ConfigError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
