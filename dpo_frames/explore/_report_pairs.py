"""The pairs a report page embeds for its pair browser: all of them up to a bound, else a
documented sample, encoded compactly (each distinct text once).

The sample (when a frame holds more than ``embed_pairs`` pairs): the :data:`EXTREMES` widest
and closest margins, then the rest in the order of the xxh3 hash of the pair id (a seeded,
content-defined draw: the same pairs give the same sample, whatever their row order).
Texts longer than :data:`MAX_TEXT_CHARS` characters are cut, and say so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from dpo_frames import schema
from dpo_frames.explore.summary import RunData
from dpo_frames.hashing import prompt_hash, xxh3

__all__ = ["EXTREMES", "MAX_TEXT_CHARS", "PAIR_SAMPLE", "PairSample", "encode", "sample_pairs"]

PAIR_SAMPLE = 2_000
"""Pairs a page embeds per run (``dpo-frames report --embed-pairs``); a larger frame is sampled."""
EXTREMES = 50
"""When sampling: this many of the widest and as many of the closest margins are always embedded."""
MAX_TEXT_CHARS = 20_000
"""A prompt message or response longer than this is cut in the page (the frames keep it whole)."""

_COLUMNS = [
    "run_id",
    "example_id",
    "turn_id",
    "prompt_text",
    "prompt_messages",
    "chosen_response",
    "rejected_response",
    "chosen_score",
    "rejected_score",
    "score_diff",
    "chosen_index",
    "rejected_index",
    "pair_id",
]


@dataclass(frozen=True)
class PairSample:
    """The embedded pairs of one run: ``frame`` (pair columns, ``split``, ``turn_index``), drawn from
    the ``total`` pairs of its ``source`` frame (``dataset`` or ``pairs``)."""

    frame: pl.DataFrame
    total: int
    source: str

    @property
    def sampled(self) -> bool:
        return self.frame.height < self.total


def _selected_rows(lf: pl.LazyFrame, embed_pairs: int) -> tuple[pl.Series, int]:
    narrow = lf.select("_row", h=xxh3(pl.col("pair_id")), m=pl.col("score_diff")).collect()
    if narrow.height <= embed_pairs:
        return narrow.sort("h")["_row"], narrow.height
    k = min(EXTREMES, embed_pairs // 10)
    widest = narrow.sort(["m", "h"], descending=[True, False], nulls_last=True).head(k)["_row"]
    closest = narrow.sort(["m", "h"], nulls_last=True).head(k)["_row"]
    extremes = pl.concat([widest, closest]).unique()
    rest = narrow.filter(~pl.col("_row").is_in(extremes.implode())).sort("h").head(embed_pairs - extremes.len())
    picked = narrow.filter(pl.col("_row").is_in(pl.concat([extremes, rest["_row"]]).implode())).sort("h")
    return picked["_row"], narrow.height


def sample_pairs(data: RunData, embed_pairs: int = PAIR_SAMPLE) -> PairSample | None:
    """The pairs of ``data``'s trained frame (the dataset, else the pairs) to embed; None without one."""
    trained = data.trained()
    if trained is None:
        return None
    source, frame = trained
    lf = frame.lazy().with_row_index("_row")
    rows, total = _selected_rows(lf, max(1, embed_pairs))
    split = pl.col("split") if source == "dataset" else pl.lit(None, dtype=pl.String).alias("split")
    picked = lf.filter(pl.col("_row").is_in(rows.implode())).select("_row", *_COLUMNS, split).collect()
    picked = picked.join(pl.DataFrame({"_row": rows}).with_row_index("_order"), on="_row").sort("_order")
    picked = picked.join(_turn_index(data, picked), on=list(schema.TURN_KEYS), how="left")
    return PairSample(picked.drop("_row", "_order"), total, source)


def _turn_index(data: RunData, pairs: pl.DataFrame) -> pl.DataFrame:
    keys = list(schema.TURN_KEYS)
    if data.candidates is None:
        return pairs.select(keys).unique().with_columns(turn_index=pl.lit(None, dtype=pl.Int64))
    wanted = pairs.select(keys).unique()
    return (
        data.candidates.lazy()
        .select(*keys, "turn_index")
        .join(wanted.lazy(), on=keys, how="semi")
        .unique(subset=keys, keep="first")
        .collect()
    )


def _cut(expr: pl.Expr) -> pl.Expr:
    n = expr.str.len_chars()
    marker = pl.format(" … [{} more characters not embedded]", (n - MAX_TEXT_CHARS).cast(pl.String))
    return pl.when(n > MAX_TEXT_CHARS).then(pl.concat_str(expr.str.slice(0, MAX_TEXT_CHARS), marker)).otherwise(expr)


class _Strings:
    """Each distinct string once: ``index(s)`` is its place in ``values``."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self._at: dict[str, int] = {}

    def index(self, value: str | None) -> int | None:
        if value is None:
            return None
        at = self._at.get(value)
        if at is None:
            at = self._at[value] = len(self.values)
            self.values.append(value)
        return at

    def indexes(self, values: Sequence[str | None]) -> list[int | None]:
        return [self.index(v) for v in values]


def encode(samples: Sequence[PairSample | None]) -> dict[str, Any]:
    """The embedded pairs of every run, one JSON-ready object: ``s`` (distinct strings), ``prompts``
    (a string index, or a list of ``[role, string index]`` messages) and ``pairs`` (columns, ``run``
    numbering the runs in order; strings as indexes)."""
    strings = _Strings()
    prompts: list[Any] = []
    prompt_at: dict[int, int] = {}
    cols: dict[str, list[Any]] = {k: [] for k in ("run", "ex", "turn", "ti", "split", "p", "c", "r")}
    cols |= {k: [] for k in ("cs", "rs", "m", "ci", "ri", "id")}
    for run, sample in enumerate(samples):
        if sample is None or sample.frame.height == 0:
            continue
        f = sample.frame.with_columns(
            _cut(pl.col("prompt_text")),
            _cut(pl.col("chosen_response")),
            _cut(pl.col("rejected_response")),
            pl.col("prompt_messages").list.eval(
                pl.struct(pl.element().struct.field("role"), _cut(pl.element().struct.field("content")))
            ),
        )
        keys = prompt_hash(f).to_list()
        texts, messages = f["prompt_text"].to_list(), f["prompt_messages"].to_list()
        for key, text, msgs in zip(keys, texts, messages, strict=True):
            if key not in prompt_at:
                prompt_at[key] = len(prompts)
                if msgs:
                    prompts.append([[m["role"], strings.index(m["content"])] for m in msgs])
                else:
                    prompts.append(strings.index(text))
            cols["p"].append(prompt_at[key])
        cols["run"] += [run] * f.height
        cols["ex"] += strings.indexes(f["example_id"].to_list())
        cols["turn"] += strings.indexes(f["turn_id"].to_list())
        cols["ti"] += f["turn_index"].to_list()
        cols["split"] += f["split"].to_list()
        cols["c"] += strings.indexes(f["chosen_response"].to_list())
        cols["r"] += strings.indexes(f["rejected_response"].to_list())
        for key, column in (("cs", "chosen_score"), ("rs", "rejected_score"), ("m", "score_diff")):
            cols[key] += f[column].to_list()
        cols["ci"] += f["chosen_index"].to_list()
        cols["ri"] += f["rejected_index"].to_list()
        cols["id"] += f["pair_id"].to_list()
    return {"s": strings.values, "prompts": prompts, "pairs": cols}
