"""A candidates Parquet file -> its pairs Parquet file, in bounded memory, in the in-memory order.

``dpo-frames pairs`` writes the candidates as it reads them; their pairs are built here. Up
to ``candidates_per_part`` candidates are paired in memory (:func:`~dpo_frames.build_pairs`);
beyond, turns are split into parts by where they first appear (ranges of the position of
their first candidate that build_pairs can pair, as it orders turns), so that each part holds
whole turns and the parts, paired one after the other, give the pairs in the order of the
whole build (turns in order of first appearance), with the same statistics. Where each part is
a run of rows of the file (each turn's candidates one after the other, as the step readers
write them), parts are read in place; else they are first split into files of their own.

Memory: one part's candidates and pairs, plus each turn's key and positions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import polars as pl

from dpo_frames import layout, schema
from dpo_frames._parquet import FrameWriter, parquet_batches
from dpo_frames._threads import prefetched
from dpo_frames.pairs import PairConfig, PairStats, build_pairs
from dpo_frames.pairs.engine import REQUIRED_TEXTS, usable_candidates  # build_pairs orders turns by its usable ones
from dpo_frames.scale.partitioned import add_stats

__all__ = ["CANDIDATES_PER_PART", "pairs_to_file"]

CANDIDATES_PER_PART = 125_000
"""Candidates paired at once: about 125 MB of candidates and 350 MB of pairs for typical TTC steps (the part
being paired, the one being written and one between them are in memory at a time)."""

_TURN_KEYS = list(schema.TURN_KEYS)
_BATCH_ROWS = 50_000
"""Candidates split at a time."""
_PART_SCHEMA = pl.Schema([*schema.CANDIDATES.items(), ("_row", pl.UInt32())])


def pairs_to_file(
    candidates: str | os.PathLike[str],
    pairs: str | os.PathLike[str],
    config: PairConfig | None = None,
    *,
    candidates_per_part: int = CANDIDATES_PER_PART,
) -> PairStats:
    """Build the pairs of a candidates Parquet file into a pairs Parquet file; returns their statistics.

    The file written holds the frame :func:`~dpo_frames.build_pairs` gives on the whole candidates
    frame, row for row, whatever ``candidates_per_part``.

    Example:
        >>> import tempfile, dpo_frames
        >>> candidates, _ = dpo_frames.extract_candidates("examples/tictactoe/data/workflow_output.json")
        >>> d = tempfile.mkdtemp(); candidates.write_parquet(f"{d}/candidates.parquet")
        >>> stats = pairs_to_file(f"{d}/candidates.parquet", f"{d}/pairs.parquet", candidates_per_part=20)
        >>> pl.read_parquet(f"{d}/pairs.parquet").equals(dpo_frames.build_pairs(candidates)[0])
        True
    """
    if candidates_per_part < 1:
        raise ValueError(f"candidates_per_part must be a positive number, not {candidates_per_part}")
    config = config or PairConfig()
    candidates = Path(candidates)
    source = pl.scan_parquet(candidates)
    total = source.select(pl.len()).collect().item()
    with FrameWriter(pairs, schema.PAIRS, "pairs") as writer:
        if total <= candidates_per_part:
            found, stats = build_pairs(pl.read_parquet(candidates), config)
            writer.write(found)
            return stats
        with tempfile.TemporaryDirectory(prefix=".candidate-parts-", dir=Path(pairs).parent) as scratch:
            stats = PairStats()
            built = (build_pairs(part, config) for part in _parts(candidates, candidates_per_part, Path(scratch)))
            for found, part_stats in prefetched(built):  # a part paired while the last one is written
                writer.write(found)
                add_stats(stats, part_stats)
    return stats


def _parts(candidates: Path, per_part: int, scratch: Path) -> Iterator[pl.DataFrame]:
    """The candidates of each part in turn: read in place where every part is a run of rows of the file (turns
    written one after the other, as readers of step files write them), else split into files in ``scratch``."""
    turns = _turn_parts(candidates, per_part)
    ranges = _row_ranges(turns)
    if ranges is not None:
        del turns  # not held while the parts are paired
        for start, end in ranges:
            yield pl.scan_parquet(candidates).slice(start, end - start).collect()
        return
    n = _split_by_first_appearance(candidates, scratch, turns)
    del turns
    for part in range(n):
        yield _read_part(scratch, part)


def _turn_parts(candidates: Path, per_part: int) -> pl.DataFrame:
    """Each turn's part (the position of its first usable candidate, divided by ``per_part``; of its first
    candidate if none is usable: those are counted only) and the positions of its first and last candidates."""
    first_usable = pl.col("_row").filter("_usable").min().fill_null(pl.col("_row").min())
    usable = usable_candidates(never_null=_never_null(candidates, REQUIRED_TEXTS))
    return (
        pl.scan_parquet(candidates)
        .select(*_TURN_KEYS, _usable=usable.fill_null(False))
        .with_row_index("_row")
        .group_by(_TURN_KEYS)
        .agg(_part=(first_usable // per_part).cast(pl.UInt32), _first=pl.col("_row").min(), _last=pl.col("_row").max())
        .collect(engine="streaming")
    )


def _never_null(path: Path, columns: Sequence[str]) -> set[str]:
    """The ``columns`` that the file's statistics say hold no null in any row group (reading the texts
    only to see that none is missing would hold about 0.7 GB more at 20M candidates)."""
    import pyarrow.parquet as pq

    meta = pq.read_metadata(path)
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}

    def no_null(column: str) -> bool:
        if column not in index:
            return False
        for group in range(meta.num_row_groups):
            stats = meta.row_group(group).column(index[column]).statistics
            if stats is None or not stats.has_null_count or stats.null_count:
                return False
        return True

    return {column for column in columns if no_null(column)}


def _row_ranges(turns: pl.DataFrame) -> list[tuple[int, int]] | None:
    """The rows ``[start, end)`` of each part, in part order, if the parts' rows do not interleave; else None."""
    parts = turns.group_by("_part").agg(start=pl.col("_first").min(), end=pl.col("_last").max() + 1).sort("_part")
    if not (parts["start"].slice(1) >= parts["end"].slice(0, parts.height - 1)).all():
        return None
    return list(zip(parts["start"].to_list(), parts["end"].to_list(), strict=True))


def _split_by_first_appearance(candidates: Path, parts: Path, turns: pl.DataFrame) -> int:
    """Write every candidate, with its position, to the part file of its turn, a batch at a time, each file
    closed once the batches pass its last row; returns the number of parts. (Polars' streaming sink of a join
    holds about the whole file when candidates carry message lists: hence batches.)"""
    ends = turns.group_by("_part").agg(pl.col("_last").max())
    last_row = dict(zip(ends["_part"].to_list(), ends["_last"].to_list(), strict=True))
    turns = turns.select(*_TURN_KEYS, "_part")
    writers: dict[int, FrameWriter] = {}
    try:
        offset = 0
        for batch in parquet_batches(candidates, _BATCH_ROWS):
            rows = schema.conform(batch, schema.CANDIDATES, f"candidates ({candidates})")
            rows = rows.with_row_index("_row", offset=offset).join(
                turns, on=_TURN_KEYS, how="left", nulls_equal=True, maintain_order="left"
            )
            offset += rows.height
            for (part,), part_rows in rows.partition_by("_part", as_dict=True, include_key=False).items():
                if part not in writers:
                    writers[part] = FrameWriter(parts / layout.part_file(int(part)), _PART_SCHEMA, "candidates part")
                writers[part].write(part_rows)
            for part in [part for part in writers if last_row[part] < offset]:  # its turns all written
                writers.pop(part).close()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    assert not writers, f"parts left open: {sorted(writers)}"
    return max(last_row, default=-1) + 1


def _read_part(parts: Path, part: int) -> pl.DataFrame:
    path = parts / layout.part_file(part)
    if not path.exists():  # a range of positions where no turn starts
        return schema.empty(schema.CANDIDATES)
    return pl.read_parquet(path).sort("_row").drop("_row")
