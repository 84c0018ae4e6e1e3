"""Out-of-core: a candidates Parquet dataset -> pairs and dataset files, with bounded memory.

Turns are independent, so candidates are partitioned by a stable hash of the turn key and
each partition goes through the ordinary in-memory engine (:func:`~dpo_frames.build_pairs`).
What needs a global view — deduplication, sampling and the split — is decided on narrow
per-pair hashes (:func:`~dpo_frames.dataset.pair_keys`), ordered as the in-memory path
orders pairs, so the dataset holds exactly the pairs, on exactly the sides, that
:func:`~dpo_frames.finalize_dataset` gives on the whole frame. Only the order of lines in
the output files differs (partition by partition).

Memory: one partition's candidates and pairs at a time, plus about 60 bytes per pair for
the global keys.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from dpo_frames import layout, schema
from dpo_frames._atomic import atomic_dir, clean_leftovers
from dpo_frames.dataset.context import ContextStats, ContextTally, PromptContext, prompt_context_of
from dpo_frames.dataset.finalize import (
    KEY_COLUMNS,
    TRAIN,
    VALIDATION,
    DatasetStats,
    DedupMode,
    decide,
    dedup_mode_of,
    pair_keys,
)
from dpo_frames.dataset.formats import to_customizer_records
from dpo_frames.dataset.writers import append_jsonl
from dpo_frames.errors import ConfigError
from dpo_frames.hashing import xxh3
from dpo_frames.pairs import PairStats, build_pairs
from dpo_frames.pairs.config import PairConfig
from dpo_frames.pairs.engine import usable_candidates  # the same rows build_pairs pairs
from dpo_frames.rundir import DatasetInfo, DirKind, RunRecord, check_replaceable, write_parquet, write_record

logger = logging.getLogger("dpo_frames")

_TURN_KEYS = list(schema.TURN_KEYS)
DEFAULT_CANDIDATES_PER_PARTITION = 2_000_000


@dataclass
class PartitionedResult:
    """What :func:`build_dataset_partitioned` wrote and counted."""

    pair_stats: PairStats
    dataset_stats: DatasetStats
    partitions: int
    files: dict[str, Path] = field(default_factory=dict)


def build_dataset_partitioned(
    candidates: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | pl.LazyFrame,
    out_dir: str | os.PathLike[str],
    config: PairConfig | None = None,
    *,
    partitions: int | None = None,
    deduplicate: bool = True,
    max_pairs: int | None = None,
    seed: int = 0,
    validation_fraction: float = 0.2,
    dedup_mode: DedupMode | str = DedupMode.EXACT,
    use_full_message_history: bool = False,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
    overwrite: bool = True,
) -> PartitionedResult:
    """Build pairs and the NeMo Customizer dataset from candidates too large for memory.

    ``candidates`` is a Parquet file, a glob or list of them, or a ``LazyFrame`` (for
    example ``read_frame(run_dir, "candidates", lazy=True)``). Writes ``out_dir`` as a
    whole (it appears when the build is complete): ``pairs/part-*.parquet``,
    ``dataset/part-*.parquet``, ``training/training_file.jsonl``,
    ``validation/validation_file.jsonl`` and the record ``dpo_frames.json``. An existing
    ``out_dir`` is replaced only when ``overwrite`` and dpo_frames wrote it.
    ``partitions`` defaults to one per two million candidates. Prompts of several messages
    are refused without ``use_full_message_history`` unless ``prompt_context="last_message"``
    (:mod:`~dpo_frames.dataset.context`); the record counts what was cut.

    Example:
        >>> import tempfile, dpo_frames
        >>> from dpo_frames.scale.partitioned import build_dataset_partitioned
        >>> steps = dpo_frames.read_steps("examples/tictactoe/data/workflow_output.json")
        >>> candidates, _ = dpo_frames.extract_candidates(steps)
        >>> path = f"{tempfile.mkdtemp()}/candidates.parquet"; candidates.write_parquet(path)
        >>> result = build_dataset_partitioned(path, f"{tempfile.mkdtemp()}/out", partitions=4, prompt_context="last_message")
        >>> result.dataset_stats.pairs == dpo_frames.finalize_dataset(dpo_frames.build_pairs(candidates)[0])[1].pairs
        True
    """
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
    out = Path(out_dir)
    check_replaceable(out, overwrite=overwrite)
    clean_leftovers(out.parent)
    source = candidates if isinstance(candidates, pl.LazyFrame) else pl.scan_parquet(_paths(candidates))
    n = partitions or max(1, math.ceil(source.select(pl.len()).collect().item() / DEFAULT_CANDIDATES_PER_PARTITION))
    with atomic_dir(out) as tmp:
        with tempfile.TemporaryDirectory(prefix=".candidate-parts-", dir=tmp) as parts:
            _partition(source, Path(parts), n)
            pair_stats, keys, run_ids = _pairs_by_partition(Path(parts), n, tmp / "pairs", config, dedup_mode)
        chosen, dataset_stats = decide_globally(
            keys,
            deduplicate=deduplicate,
            max_pairs=max_pairs,
            seed=seed,
            validation_fraction=validation_fraction,
            dedup_mode=dedup_mode,
        )
        tally = context_tally(use_full_message_history, prompt_context)
        _write_dataset(tmp, n, chosen, use_full_message_history, tally)
        record = build_record(
            "local",
            config,
            pair_stats,
            dataset_stats,
            options,
            partitions=n,
            run_ids=run_ids,
            sources=_sources(candidates),
            context=tally.log(),
        )
        write_record(tmp, record)
    logger.info(
        "partitioned build: %d partitions, %d pairs, dataset %d (%d train / %d validation)",
        n,
        pair_stats.pairs,
        dataset_stats.pairs,
        dataset_stats.train_pairs,
        dataset_stats.validation_pairs,
    )
    files = {split: out / rel for split, rel in layout.CUSTOMIZER_FILES.items()}
    files.update(dataset=out / "dataset", pairs=out / "pairs", record=out / layout.RECORD_FILE)
    return PartitionedResult(pair_stats=pair_stats, dataset_stats=dataset_stats, partitions=n, files=files)


def check_partitions(partitions: int | None) -> None:
    """Refuse a partition count below one (None: one per two million candidates)."""
    if partitions is not None and partitions < 1:
        raise ConfigError(
            f"partitions must be at least 1 (or None for one per two million candidates), got {partitions}"
        )


def dataset_options(
    *,
    deduplicate: bool,
    max_pairs: int | None,
    seed: int,
    validation_fraction: float,
    dedup_mode: DedupMode | str,
    use_full_message_history: bool,
    prompt_context: PromptContext | str = PromptContext.REFUSE,
) -> dict[str, Any]:
    """The dataset options, checked before the long part of a build, as its record keeps them."""
    decide(
        pl.DataFrame(schema=dict.fromkeys(KEY_COLUMNS, pl.UInt64)),
        max_pairs=max_pairs,
        seed=seed,
        validation_fraction=validation_fraction,
    )
    return {
        "deduplicate": deduplicate,
        "dedup_mode": dedup_mode_of(dedup_mode).value,
        "max_pairs": max_pairs,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "use_full_message_history": use_full_message_history,
        "prompt_context": prompt_context_of(prompt_context).value,
    }


def context_tally(use_full_message_history: bool, prompt_context: PromptContext | str) -> ContextTally:
    """The count of what a scaled build's Customizer JSONL does with prompts of several messages."""
    return ContextTally(
        format="customizer",
        plain_prompt=not use_full_message_history,
        responses=["chosen_response", "rejected_response"],
        keep_hint="pass use_full_message_history=True (CLI: --full-message-history)",
        prompt_context=prompt_context,
    )


def build_record(
    engine: str,
    config: PairConfig,
    pair_stats: PairStats,
    dataset_stats: DatasetStats,
    options: dict[str, Any],
    *,
    partitions: int,
    run_ids: Iterable[str],
    sources: Sequence[str],
    context: ContextStats | None = None,
    **extra: Any,
) -> RunRecord:
    """The record of a scaled build (the same for every engine)."""
    dataset = DatasetInfo(
        format="customizer",
        stats=dataset_stats,
        options=options,
        context=context,
        files={split: str(rel) for split, rel in layout.CUSTOMIZER_FILES.items()},
    )
    return RunRecord(
        kind=DirKind.BUILD,
        producer=f"dpo-frames build --engine {engine}",
        run_ids=sorted(run_ids),
        sources=list(sources),
        config=config,
        candidates=pair_stats.candidates,
        pair_stats=pair_stats,
        dataset=dataset,
        frames={"pairs": [layout.parts_glob("pairs")], "dataset": [layout.parts_glob("dataset")]},
        extra={"engine": engine, "partitions": partitions, **extra},
    )


def _sources(candidates: object) -> list[str]:
    if isinstance(candidates, pl.LazyFrame):
        return ["<LazyFrame>"]
    if isinstance(candidates, (str, os.PathLike)):
        return [str(candidates)]
    return [str(c) for c in candidates]  # type: ignore[attr-defined]


def _paths(candidates) -> list[str] | str:
    if isinstance(candidates, (str, os.PathLike)):
        return str(candidates)
    return [str(p) for p in candidates]


def turn_partition(n: int) -> pl.Expr:
    """The partition of a candidate: a stable hash of its turn key, modulo ``n``."""
    key = pl.concat_str([pl.col(c).fill_null("\x00") for c in _TURN_KEYS], separator="\x1f")
    return (xxh3(key) % n).cast(pl.UInt32)


def _partition(source: pl.LazyFrame, parts_dir: Path, n: int) -> None:
    """One streaming pass: every candidate, with its global position, into its turn's partition."""
    (
        source.drop("_row", strict=False)  # the position is ours: a column of that name in the input is replaced
        .with_row_index("_row")
        .with_columns(_part=turn_partition(n))
        .sink_parquet(pl.PartitionBy(parts_dir, key="_part", include_key=False), mkdir=True)
    )


def _read_partition(parts_dir: Path, i: int) -> pl.DataFrame:
    files = sorted((parts_dir / f"_part={i}").glob("*.parquet"))
    if not files:
        return schema.empty(schema.CANDIDATES).with_columns(_row=pl.lit(None, dtype=pl.UInt32))
    return pl.read_parquet(files).sort("_row")


def _pairs_by_partition(
    parts_dir: Path, n: int, pairs_dir: Path, config: PairConfig, dedup_mode: DedupMode | str
) -> tuple[PairStats, pl.DataFrame, set[str]]:
    """Pairs of each partition to ``pairs_dir``; their global order and keys, and the run ids, to memory."""
    pairs_dir.mkdir(parents=True)
    results = []
    run_ids: set[str] = set()
    for i in range(n):
        candidates = _read_partition(parts_dir, i)
        run_ids.update(r for r in candidates["run_id"].unique().to_list() if r is not None)
        pairs, stats, keys = pair_partition(candidates, i, config, dedup_mode=dedup_mode)
        write_parquet(pairs, pairs_dir / layout.part_file(i), "pairs")
        results.append((stats, keys))
    stats, keys = merge_partition_results(results)
    return stats, keys, run_ids


def pair_partition(
    candidates: pl.DataFrame, part: int, config: PairConfig, *, dedup_mode: DedupMode | str = DedupMode.EXACT
) -> tuple[pl.DataFrame, PairStats, pl.DataFrame]:
    """The kernel run on one partition: its pairs, their stats, and their global keys.

    ``candidates`` holds whole turns, in input order, with a ``_row`` column giving each
    candidate's position in the whole input (any engine that runs this per partition, in
    process or on a cluster, gets the in-memory result after :func:`decide_globally`).
    """
    pairs, stats = build_pairs(candidates, config)
    return pairs, stats, _ordered_keys(candidates, pairs, part, dedup_mode)


KEYS_SCHEMA = {
    "first_row": pl.UInt64,
    "rank": pl.UInt32,
    "part": pl.UInt32,
    "idx": pl.UInt32,
    **dict.fromkeys(KEY_COLUMNS, pl.UInt64),
}


def merge_partition_results(results: Sequence[tuple[PairStats, pl.DataFrame]]) -> tuple[PairStats, pl.DataFrame]:
    """Sum the partitions' stats and concatenate their keys."""
    totals = PairStats()
    for stats, _ in results:
        add_stats(totals, stats)
    empty = pl.DataFrame(schema=KEYS_SCHEMA)
    # ignore: polars types cast()'s mapping keys as an invariant union (str | selector | dtype), so no str-keyed dict fits
    return totals, pl.concat([empty, *[keys.cast(KEYS_SCHEMA) for _, keys in results]])  # type: ignore[arg-type]


def decide_globally(
    keys: pl.DataFrame, *, dedup_mode: DedupMode | str = DedupMode.EXACT, **dataset_options
) -> tuple[pl.DataFrame, DatasetStats]:
    """``(part, idx, split)`` of every pair the dataset keeps, from all partitions' keys.

    ``dataset_options`` are those of :func:`~dpo_frames.finalize_dataset`; ``dedup_mode``
    must be the one the keys were computed with (it is recorded in the stats).
    """
    order = keys.sort("first_row", "rank")
    kept, stats = decide(order.select(KEY_COLUMNS), **dataset_options)
    stats.dedup_mode = dedup_mode_of(dedup_mode)
    return order.select("part", "idx")[kept["row"]].with_columns(split=kept["split"]), stats


def _ordered_keys(
    candidates: pl.DataFrame, pairs: pl.DataFrame, part: int, dedup_mode: DedupMode | str
) -> pl.DataFrame:
    """Per pair: its turn's first usable candidate (global row), its rank in the turn, and keys.

    The in-memory engine orders turns by their first usable candidate and pairs within a
    turn by rank; sorting on (first_row, rank) over all partitions gives that order back.
    """
    first = (
        candidates.filter(usable_candidates()).group_by(_TURN_KEYS).agg(first_row=pl.col("_row").min().cast(pl.UInt64))
    )
    located = (
        pairs.select(_TURN_KEYS)
        .with_row_index("idx")
        .join(first, on=_TURN_KEYS, how="left", nulls_equal=True, maintain_order="left")
    )
    return pl.concat(
        [
            located.select(
                "first_row",
                rank=pl.int_range(pl.len(), dtype=pl.UInt32).over(_TURN_KEYS),
                part=pl.lit(part, dtype=pl.UInt32),
                idx=pl.col("idx").cast(pl.UInt32),
            ),
            pair_keys(pairs, dedup_mode=dedup_mode),
        ],
        how="horizontal",
    )


def add_stats(total: PairStats, part: PairStats) -> None:
    """Add a partition's pair statistics to the total (every count is a sum over turns)."""
    for name in PairStats.model_fields:
        setattr(total, name, getattr(total, name) + getattr(part, name))


def partition_dataset(pairs: pl.DataFrame, chosen: pl.DataFrame, part: int) -> pl.DataFrame:
    """The dataset rows of one partition: its kept pairs with their split."""
    rows = chosen.filter(pl.col("part") == part)
    return schema.conform(pairs[rows["idx"]].with_columns(split=rows["split"]), schema.DATASET, "dataset")


def _write_dataset(out: Path, n: int, chosen: pl.DataFrame, full_history: bool, tally: ContextTally) -> None:
    """Dataset Parquet per partition, and the two JSONL files appended partition by partition.

    ``out`` is the build's temporary directory (renamed into place as a whole at the end).
    """
    dataset_dir = out / "dataset"
    dataset_dir.mkdir(parents=True)
    targets = {split: out / rel for split, rel in layout.CUSTOMIZER_FILES.items()}
    for path in targets.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    by_part = chosen.partition_by("part", as_dict=True, include_key=False)
    with ExitStack() as stack:
        handles = {split: stack.enter_context(open(path, "wb")) for split, path in targets.items()}
        for i in range(n):
            pairs = pl.read_parquet(out / "pairs" / layout.part_file(i))
            rows = by_part.get((i,), chosen.clear().drop("part"))
            dataset = schema.conform(pairs[rows["idx"]].with_columns(split=rows["split"]), schema.DATASET, "dataset")
            tally.add(dataset)  # refused here, before its JSONL, if it would be cut unasked
            write_parquet(dataset, dataset_dir / layout.part_file(i), "dataset")
            for split in (TRAIN, VALIDATION):
                records = to_customizer_records(
                    dataset.filter(pl.col("split") == split), use_full_message_history=full_history
                )
                append_jsonl(records, handles[split])
