"""One selector per :class:`~dpo_frames.PairStrategy`: which eligible pairs of a prompt group become pairs.

A selector takes the ranked eligible pairs (one row per pair, columns of the narrow
frame: ``grp``, ``c``/``r`` candidate ids, ``sc``/``sr`` scores, ``cic``/``cir``
candidate indexes, ``rhc``/``rhr`` response hashes, ``diff``, ``pos`` the rank position)
and returns the rows it keeps, in ranked order. Every selector is a handful of
group-wise expressions: no Python runs per group or per pair.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from dpo_frames.hashing import combine64
from dpo_frames.pairs.config import PairConfig, PairStrategy

DIST_DECIMALS = 9
"""best_vs_mean_minus_2sd compares |score - target| rounded to this many decimals, so float
noise in the mean and sd never decides between two candidates equally far from the target."""


@dataclass(frozen=True)
class Context:
    """What a selector may need besides the ranked pairs."""

    narrow: pl.DataFrame
    """The narrow candidates (``cid``, ``grp``, ``score``, ...)."""
    group_hashes: pl.Series
    """The stable prompt hash of each prompt group (index ``grp - 1``)."""
    config: PairConfig


Selector = Callable[[pl.DataFrame, Context], pl.DataFrame]


def first_by(by: list[str], over: str) -> pl.Expr:
    """True on the row of each ``over`` group that sorts first by ``by`` (then by rank position)."""
    return pl.col("pos") == pl.col("pos").sort_by([*by, "pos"]).first().over(over)


def is_best() -> pl.Expr:
    """The group's best chosen: highest score, then lowest candidate index, then input order."""
    best = pl.col("c").sort_by(["sc", "cic", "c"], descending=[True, False, False]).first().over("grp")
    return pl.col("c") == best


def exhaustive(ranked: pl.DataFrame, _: Context) -> pl.DataFrame:
    return ranked


def best_vs_worst(ranked: pl.DataFrame, _: Context) -> pl.DataFrame:
    return ranked.filter(pl.col("grp").is_first_distinct())  # ranked: largest difference first


def best_vs_all(ranked: pl.DataFrame, _: Context) -> pl.DataFrame:
    return ranked.filter(is_best())


def best_vs_random(ranked: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    best = ranked.filter(is_best())
    seed = ctx.config.seed
    seeds = (
        pl.Series([seed], dtype=pl.UInt64).extend_constant(seed, best.height - 1)
        if best.height
        else pl.Series([], dtype=pl.UInt64)
    )
    key = combine64(seeds, ctx.group_hashes.gather(best["grp"] - 1), best["rhc"], best["rhr"])
    return best.with_columns(key=key).filter(first_by(["key"], "grp")).drop("key")


def best_vs_mean_minus_2sd(ranked: pl.DataFrame, ctx: Context) -> pl.DataFrame:
    target = ctx.narrow.group_by("grp").agg(target=pl.col("score").mean() - 2 * pl.col("score").std(ddof=0))
    best = ranked.filter(is_best()).join(target, on="grp", how="left", maintain_order="left")
    dist = (pl.col("sr") - pl.col("target")).abs().round(DIST_DECIMALS)
    return best.with_columns(dist=dist).filter(first_by(["dist"], "grp")).drop("target", "dist")


def adjacent(ranked: pl.DataFrame, _: Context) -> pl.DataFrame:
    return ranked.filter(first_by(["diff", "cir", "r"], "c"))


SELECTORS: dict[PairStrategy, Selector] = {
    PairStrategy.EXHAUSTIVE: exhaustive,
    PairStrategy.BEST_VS_WORST: best_vs_worst,
    PairStrategy.BEST_VS_RANDOM: best_vs_random,
    PairStrategy.BEST_VS_ALL: best_vs_all,
    PairStrategy.BEST_VS_MEAN_MINUS_2SD: best_vs_mean_minus_2sd,
    PairStrategy.ADJACENT: adjacent,
}
"""The selector of each strategy (a test checks that every strategy has one)."""
