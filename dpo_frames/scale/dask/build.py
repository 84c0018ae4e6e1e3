"""``build_dataset`` on a cluster: the single-machine out-of-core path, with a cluster doing the work.

Steps (see :mod:`dpo_frames.scale.partitioned` for the pieces reused here):

1. the driver lists the input files and reads their Parquet footers: row counts give
   every split its global row offset (:mod:`~dpo_frames.scale.dask.source`);
2. workers read the splits and cut them by turn partition; the engine shuffles the
   pieces so each partition's whole turns meet on one worker, which runs the pair
   kernel (:func:`~dpo_frames.scale.partitioned.pair_partition`), writes the partition's
   pairs Parquet and sends back its stats and narrow global keys;
3. the driver decides deduplication, sampling and the split on all keys at once
   (:func:`~dpo_frames.scale.partitioned.decide_globally`);
4. workers write each partition's dataset Parquet and JSONL parts; the driver joins the
   JSONL parts in partition order into the two Customizer files.

So the dataset is the single-machine one (the same pairs, on the same sides, the same
duplicate kept), whatever the number of workers or partitions; only the order of lines
in the output files differs, as with the partitioned path.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from dpo_frames.dataset.context import PromptContext
from dpo_frames.dataset.finalize import TRAIN, VALIDATION, DatasetStats, DedupMode
from dpo_frames.errors import DistributedError
from dpo_frames.pairs.config import PairConfig
from dpo_frames.pairs.stats import PairStats
from dpo_frames.scale.dask import engine as dask_engine
from dpo_frames.scale.dask.engine import CONNECT_TIMEOUT_SECONDS, DaskEngine
from dpo_frames.scale.partitioned import (
    DEFAULT_CANDIDATES_PER_PARTITION,
    build_record,
    check_partitions,
    context_tally,
    dataset_options,
    decide_globally,
    merge_partition_results,
)

logger = logging.getLogger("dpo_frames")


ENGINES = ("dask",)
"""Engines :func:`build_dataset` runs on."""


@dataclass
class DistributedResult:
    """What :func:`build_dataset` wrote and counted, and how long each step took."""

    pair_stats: PairStats
    dataset_stats: DatasetStats
    partitions: int
    engine: str
    worker_threads: int
    files: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def require_extra(engine: str = "dask") -> None:
    """Raise :class:`~dpo_frames.scale.dask.EngineMissingError` (with the ``pip install`` line)
    unless the engine's optional dependencies are installed."""
    if engine not in ENGINES:
        raise DistributedError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    dask_engine.require_extra()


@contextmanager
def connect(
    engine: str = "dask", address: str | None = None, *, workers: int = 2, timeout: float = CONNECT_TIMEOUT_SECONDS
) -> Iterator[Any]:
    """An engine connected to the cluster at ``address`` (waiting up to ``timeout`` seconds),
    or to a local cluster of ``workers`` processes that it starts and stops.

    Raises :class:`~dpo_frames.scale.dask.EngineMissingError` (with the ``pip install``
    line) when the engine's extra is not installed, and
    :class:`~dpo_frames.scale.dask.ClusterError` when the cluster cannot be reached.
    """
    require_extra(engine)
    if workers < 1:
        raise DistributedError(f"workers must be at least 1, not {workers}")
    with DaskEngine.connect(address, workers=workers, timeout=timeout) as connected:
        yield connected


def build_dataset(
    candidates: str | os.PathLike | Sequence[str | os.PathLike],
    out_dir: str | os.PathLike,
    config: PairConfig | None = None,
    *,
    engine: str = "dask",
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
    split_rows: int | None = None,
) -> DistributedResult:
    """Build pairs and the NeMo Customizer dataset on a cluster; the single-machine result.

    ``candidates`` is a Parquet file, a glob, a directory or a list of them, local or any
    fsspec URL (``s3://bucket/candidates/*.parquet``); ``out_dir`` likewise. Workers and
    this process (the driver) must both reach them; ``storage_options`` are passed to
    fsspec on both. ``address`` connects to a running Dask scheduler
    (``tcp://host:8786``); without it a local cluster of ``workers`` processes is started
    and stopped. ``partitions`` defaults to one per two million candidates, and at least
    one per worker thread. The dataset options are those of
    :func:`~dpo_frames.finalize_dataset`. ``split_rows`` bounds the rows a worker reads
    at once (whole Parquet row groups; one row group may exceed it) [default: 500,000].

    Writes the layout of :func:`~dpo_frames.scale.partitioned.build_dataset_partitioned`
    (``pairs/``, ``dataset/``, the two Customizer JSONL files, the record ``dpo_frames.json`` last) and
    returns its statistics, which equal the in-memory path's.
    """
    require_extra(engine)
    # Imported here: they need fsspec, which comes with the extra.
    from dpo_frames.scale.dask import tasks
    from dpo_frames.scale.dask.output import PARTS, RECORD, OutputDir, concatenate_jsonl
    from dpo_frames.scale.dask.source import DEFAULT_SPLIT_ROWS, plan_source

    check_partitions(partitions)
    options = dataset_options(
        deduplicate=deduplicate,
        max_pairs=max_pairs,
        seed=seed,
        validation_fraction=validation_fraction,
        dedup_mode=dedup_mode,
        use_full_message_history=use_full_message_history,
        prompt_context=prompt_context,
    )
    config = config or PairConfig()
    out = OutputDir(str(out_dir), dict(storage_options or {}))
    seconds: dict[str, float] = {}
    with _timed(seconds, "plan"):
        source = plan_source(candidates, storage_options=storage_options, split_rows=split_rows or DEFAULT_SPLIT_ROWS)
    with connect(engine, address, workers=workers) as cluster:
        threads = cluster.worker_threads
        n = partitions or max(threads, math.ceil(source.rows / DEFAULT_CANDIDATES_PER_PARTITION))
        out.reset("pairs", "dataset", PARTS)
        with _timed(seconds, "pairs"):
            results = cluster.shuffle_reduce(
                tasks.shuffle_split,
                source.splits,
                n,
                tasks.pair_task,
                map_args=(n, source.storage_options),
                reduce_args=(config, out, dedup_mode),
            )
        with _timed(seconds, "decide"):
            pair_stats, keys = merge_partition_results([(stats, keys) for stats, keys, _ in results])
            run_ids = {run_id for *_, ids in results for run_id in ids}
            chosen, dataset_stats = decide_globally(
                keys,
                deduplicate=deduplicate,
                max_pairs=max_pairs,
                seed=seed,
                validation_fraction=validation_fraction,
                dedup_mode=dedup_mode,
            )
            del keys
            by_part = chosen.partition_by("part", as_dict=True, maintain_order=True)
            empty = chosen.clear()
        with _timed(seconds, "dataset"):
            tally = context_tally(use_full_message_history, prompt_context)
            done = cluster.map(
                tasks.dataset_task,
                range(n),
                [by_part.get((i,), empty) for i in range(n)],
                args=(out, use_full_message_history, options["prompt_context"]),
            )
    lines = [part_lines for part_lines, _ in done]
    for _, part_tally in done:
        tally.merge(part_tally)
    _check_lines(lines, dataset_stats)
    with _timed(seconds, "jsonl"):
        files = concatenate_jsonl(out, n)
    files.update(dataset=out.url_of("dataset"), pairs=out.url_of("pairs"), record=out.url_of(RECORD))
    record = build_record(
        engine,
        config,
        pair_stats,
        dataset_stats,
        options,
        partitions=n,
        run_ids=run_ids,
        sources=list(source.files),
        context=tally.log(),
        worker_threads=threads,
        seconds=seconds,
    )
    out.write((RECORD,), lambda handle: handle.write(record.to_json().encode()))
    logger.info(
        "distributed build (%s, %d worker threads): %d partitions, %d pairs, dataset %d (%d train / %d validation)",
        engine,
        threads,
        n,
        pair_stats.pairs,
        dataset_stats.pairs,
        dataset_stats.train_pairs,
        dataset_stats.validation_pairs,
    )
    return DistributedResult(
        pair_stats=pair_stats,
        dataset_stats=dataset_stats,
        partitions=n,
        engine=engine,
        worker_threads=threads,
        files=files,
        seconds=seconds,
    )


def _check_lines(lines: list[dict[str, int]], stats: DatasetStats) -> None:
    """Every chosen pair became a JSONL line of its split (nothing lost between driver and workers)."""
    written = {split: sum(part[split] for part in lines) for split in (TRAIN, VALIDATION)}
    expected = {TRAIN: stats.train_pairs, VALIDATION: stats.validation_pairs}
    if written != expected:
        raise DistributedError(f"workers wrote {written} JSONL lines, the decision kept {expected}")


@contextmanager
def _timed(seconds: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    seconds[name] = round(time.perf_counter() - start, 3)


__all__ = ["ENGINES", "DistributedResult", "build_dataset", "connect", "require_extra"]
