"""Candidates -> preference pairs: the vectorized pair engine.

The engine works on a narrow frame (integer ids, score, response hash), joins it with
itself within each (turn, prompt) group, filters and ranks there, picks pairs with the
configured :class:`~dpo_frames.pairs.config.PairStrategy` using group-wise ranks and
aggregations, and gathers the wide text columns only for the pairs that survive.
Strings never go through the join, and no Python code runs per row, pair or turn.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection
from typing import cast

import polars as pl

from dpo_frames import schema
from dpo_frames.errors import JoinTooLargeError
from dpo_frames.hashing import combine64, hex64, prompt_hash, xxh3
from dpo_frames.pairs.config import PairConfig, PairStrategy
from dpo_frames.pairs.stats import PairStats
from dpo_frames.pairs.strategies import SELECTORS, Context

logger = logging.getLogger("dpo_frames")
_TURN_KEYS = schema.TURN_KEYS
_USED = (*_TURN_KEYS, "candidate_index", "prompt_text", "prompt_messages", "response", "score")
"""The candidate columns the engine reads (the others are not copied)."""
_RANK_ORDER = (["order", "diff", "sc", "cic", "cir", "c", "r"], [False, True, True, False, False, False, False])


def build_pairs(
    candidates: pl.DataFrame | pl.LazyFrame, config: PairConfig | None = None
) -> tuple[pl.DataFrame, PairStats]:
    """Build DPO preference pairs from the candidates frame.

    Candidates are grouped by turn (``run_id``, ``example_id``, ``turn_id``) and, inside
    a turn, by prompt: candidates with different prompts never pair. With
    ``max_candidates_per_turn`` a prompt group's candidates are first bounded (the highest
    and lowest scores kept). Filters come next (ties never pair, ``min_score_diff``,
    identical chosen and rejected texts), then the selection by
    :attr:`PairConfig.pair_strategy` (see :class:`~dpo_frames.pairs.config.PairStrategy`), then
    ``max_pairs_per_turn`` keeps the largest differences of the turn. Ordering ties are
    broken by chosen score, then candidate index, then input order, so the same input
    gives the same pairs anywhere.

    Returns the pairs frame (turns in order of first appearance, best pair first) and
    :class:`PairStats`.

    Example:
        >>> import polars as pl, dpo_frames
        >>> candidates = pl.DataFrame({"run_id": "r", "example_id": "q1", "turn_id": "t0",
        ...     "turn_index": 0, "candidate_index": [0, 1, 2], "prompt_text": "2+2?",
        ...     "prompt_messages": None, "response": ["4", "5", "22"], "score": [1.0, 0.2, 0.0],
        ...     "step_uuid": ["a", "b", "c"], "metadata": None})
        >>> pairs, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(min_score_diff=0.5))
        >>> pairs.select("chosen_response", "rejected_response").rows(), stats.below_margin_pairs
        ([('4', '22'), ('4', '5')], 1)
        >>> pairs, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(strategy="adjacent"))
        >>> pairs.select("chosen_response", "rejected_response").rows(), stats.not_selected_pairs
        ([('4', '5'), ('5', '22')], 1)
    """
    config = config or PairConfig()
    frame = schema.collect_frame(candidates, "candidates")
    frame = schema.conform(frame, schema.CANDIDATES, "candidates")
    usable = frame.select(usable_candidates()).to_series().fill_null(False)  # a null score is not usable
    valid = (frame if usable.all() else frame.filter(usable)).select(_USED)
    valid = valid.rechunk()  # gathers from one chunk are many times faster
    narrow = narrow_candidates(valid)
    stats = _group_stats(narrow)
    stats.candidates, stats.invalid_candidates = frame.height, frame.height - valid.height
    paired = _bound(narrow, config.max_candidates_per_turn, stats)
    _check_join_size(paired)
    ordered = _ordered_pairs(paired)
    stats.tied_pairs = stats.candidate_pairs - stats.trimmed_pairs - ordered.height
    eligible, stats.below_margin_pairs, stats.identical_response_pairs = _filter(ordered, valid, config)
    stats.eligible_pairs = eligible.height
    group_hashes = _group_prompt_hashes(narrow)
    selected = _select(_rank(eligible, narrow), narrow, group_hashes, config, stats)
    stats.pairs = selected.height
    logger.info(
        "build_pairs: %d candidates in %d turns -> %d pairs (%s); skipped: %s",
        stats.candidates,
        stats.turns,
        stats.pairs,
        config.pair_strategy.value,
        stats.skipped() or "nothing",
    )
    return _gather(selected, valid, group_hashes, config), stats


MAX_JOIN_ROWS = 400_000_000
"""The self-join's size limit (about 16 GB of narrow rows): beyond it, a clear error."""


def _check_join_size(narrow: pl.DataFrame) -> None:
    """Refuse, with the way out, a self-join that cannot fit: it grows with the square of
    the largest prompt groups (one turn of 50,000 candidates is 2.5 billion rows)."""
    sizes = narrow.group_by("grp").len()["len"].cast(pl.Int64)
    rows = int((sizes * sizes).sum() or 0)
    if rows > MAX_JOIN_ROWS:
        # cast: polars types max() as any literal or None; of this non-empty Int64 column it is an int
        raise JoinTooLargeError(
            f"pairing would join {rows:,} candidate rows (largest prompt group: {int(cast(int, sizes.max())):,} candidates), "
            f"more than the {MAX_JOIN_ROWS:,} that fit; set max_candidates_per_turn (e.g. 256) to bound each group"
        )


REQUIRED_TEXTS = ("turn_id", "response", "prompt_text")
"""The columns a usable candidate must have a value in (besides a finite score)."""


def usable_candidates(never_null: Collection[str] = ()) -> pl.Expr:
    """Rows that can take part in a pair; others are counted as invalid_candidates.

    extract_candidates never produces such rows; a hand-made candidates frame may. Columns in
    ``never_null`` are known to hold no null (a file's statistics say so) and are not looked at.
    """
    usable = pl.col("score").is_finite()
    for name in REQUIRED_TEXTS:
        if name not in never_null:
            usable &= pl.col(name).is_not_null()
    return usable


def narrow_candidates(frame: pl.DataFrame) -> pl.DataFrame:
    """Integer turn and prompt-group ids, numbered in order of first appearance."""
    keyed = frame.select(
        cid=pl.int_range(pl.len(), dtype=pl.UInt32),
        turn=pl.struct(_TURN_KEYS).rank("dense").cast(pl.UInt32),
        score=pl.col("score"),
        ci=pl.col("candidate_index"),
        rh=xxh3(pl.col("response")),
    ).with_columns(ph=prompt_hash(frame))  # the stable whole-prompt hash: groups, ids and draws
    return keyed.with_columns(grp=pl.struct("turn", "ph").rank("dense").cast(pl.UInt32)).select(
        "cid", "turn", "grp", "score", "ci", "rh", "ph"
    )


def _pairs_of(n: pl.Expr) -> pl.Expr:
    return (n * (n - 1) // 2).sum()


def _group_stats(narrow: pl.DataFrame) -> PairStats:
    groups = narrow.group_by("grp").agg(pl.first("turn"), n=pl.len())
    turns = groups.group_by("turn").agg(n=pl.col("n").sum(), groups=pl.len(), within=_pairs_of(pl.col("n")))
    totals = turns.select(
        turns=pl.len(),
        single=(pl.col("n") == 1).sum(),
        mismatch=(pl.col("groups") > 1).sum(),
        cross=(_pairs_of(pl.col("n")) - pl.col("within").sum()),
        within=pl.col("within").sum(),
    ).row(0, named=True)
    return PairStats(
        turns=totals["turns"],
        single_candidate_turns=totals["single"] or 0,
        prompt_groups=groups.height,
        prompt_mismatch_turns=totals["mismatch"] or 0,
        cross_prompt_pairs=totals["cross"] or 0,
        candidate_pairs=totals["within"] or 0,
    )


def _bound(narrow: pl.DataFrame, limit: int | None, stats: PairStats) -> pl.DataFrame:
    """At most ``limit`` candidates per prompt group go into the self-join.

    Kept: the ``ceil(limit / 2)`` highest and ``floor(limit / 2)`` lowest scores of the
    group (ties broken by candidate index, then input order), so the best, the worst and
    the largest margins survive. The join is then at most ``limit**2 / 2`` rows per group.
    """
    if limit is None:
        return narrow
    top, bottom = math.ceil(limit / 2), limit // 2
    place = pl.int_range(pl.len()).over("grp")
    size = pl.len().over("grp")
    kept = (
        narrow.sort(["grp", "score", "ci", "cid"], descending=[False, True, False, False])
        .filter((place < top) | (place >= size - bottom))
        .sort("cid")
    )
    stats.trimmed_candidates = narrow.height - kept.height
    if stats.trimmed_candidates:
        kept_pairs = kept.group_by("grp").len().select(_pairs_of(pl.col("len"))).item()
        stats.trimmed_pairs = stats.candidate_pairs - (kept_pairs or 0)
    return kept


def _ordered_pairs(narrow: pl.DataFrame) -> pl.DataFrame:
    """Every (chosen, rejected) in one prompt group with chosen's score strictly higher."""
    left = narrow.lazy().select("grp", "turn", c="cid", sc="score", cic="ci", rhc="rh")
    right = narrow.lazy().select("grp", r="cid", sr="score", cir="ci", rhr="rh")
    return (
        left.join(right, on="grp")
        .filter(pl.col("sc") > pl.col("sr"))
        .with_columns(diff=pl.col("sc") - pl.col("sr"))
        .collect()
    )


def _filter(ordered: pl.DataFrame, frame: pl.DataFrame, config: PairConfig) -> tuple[pl.DataFrame, int, int]:
    """Drop pairs below the margin, then pairs whose two texts are equal; count both."""
    # Every ordered pair has diff > 0, so a margin of 0 or less keeps all (no copy).
    margin_ok = ordered if config.min_score_diff <= 0 else ordered.filter(pl.col("diff") >= config.min_score_diff)
    below_margin = ordered.height - margin_ok.height
    same_hash = margin_ok.filter(pl.col("rhc") == pl.col("rhr"))
    if same_hash.height:
        responses = frame.get_column("response")
        # xxh3 equality is only a hint: compare the texts of those few pairs for real.
        identical = same_hash.filter(responses.gather(same_hash["c"]) == responses.gather(same_hash["r"]))
        if identical.height:
            pair = pl.col("c").cast(pl.UInt64) * (1 << 32) + pl.col("r")  # c, r < 2**32: unique per pair
            margin_ok = margin_ok.filter(~pair.is_in(identical.select(pair).to_series().implode()))
        return margin_ok, below_margin, identical.height
    return margin_ok, below_margin, 0


def _rank(eligible: pl.DataFrame, narrow: pl.DataFrame) -> pl.DataFrame:
    """Turns in order of first appearance, best pair (largest difference) first within each."""
    first_seen = narrow.group_by("turn").agg(pl.col("cid").min()).sort("turn")["cid"]
    order = first_seen.rank("ordinal").cast(pl.UInt32)
    return (
        eligible.with_columns(order=order.gather(eligible["turn"] - 1))
        .sort(_RANK_ORDER[0], descending=_RANK_ORDER[1])
        .with_columns(pos=pl.int_range(pl.len(), dtype=pl.UInt32))
    )


def _select(
    ranked: pl.DataFrame, narrow: pl.DataFrame, group_hashes: pl.Series, config: PairConfig, stats: PairStats
) -> pl.DataFrame:
    """Pick pairs per prompt group by strategy, then cap each turn (ranked order kept)."""
    strategy = config.pair_strategy
    picked = SELECTORS[strategy](ranked, Context(narrow=narrow, group_hashes=group_hashes, config=config))
    dropped = ranked.height - picked.height
    if strategy is PairStrategy.BEST_VS_WORST:
        stats.not_best_vs_worst_pairs = dropped
    else:
        stats.not_selected_pairs = dropped
    if config.max_pairs_per_turn is not None:
        capped = picked.filter(pl.int_range(pl.len()).over("turn") < config.max_pairs_per_turn)
        stats.capped_pairs = picked.height - capped.height
        picked = capped
    return picked


def _gather(selected: pl.DataFrame, frame: pl.DataFrame, group_hashes: pl.Series, config: PairConfig) -> pl.DataFrame:
    """Fetch the text columns for the surviving pairs only."""
    c, r = selected["c"], selected["r"]
    texts = frame.select(  # one select: Polars gathers the columns in parallel
        pl.col(*_TURN_KEYS, "prompt_text", "prompt_messages").gather(c),
        chosen_response=pl.col("response").gather(c),
        chosen_index=pl.col("candidate_index").gather(c),
        rejected_response=pl.col("response").gather(r),
        rejected_index=pl.col("candidate_index").gather(r),
    )
    pair_id = hex64(combine64(group_hashes.gather(selected["grp"] - 1), selected["rhc"], selected["rhr"]))
    ids = selected.select(
        pl.col("sc").alias("chosen_score"),
        pl.col("sr").alias("rejected_score"),
        pl.col("diff").alias("score_diff"),
    ).with_columns(pair_id=pair_id)
    pairs = pl.concat([texts, ids], how="horizontal").with_columns(
        reward=pl.col("score_diff") if config.reward_from_score_diff else pl.col("chosen_score")
    )
    return pairs.select(list(schema.PAIRS))


def _group_prompt_hashes(narrow: pl.DataFrame) -> pl.Series:
    """Stable prompt hash per prompt group (index = grp - 1); a group shares one by definition."""
    return narrow.group_by("grp").agg(pl.col("ph").first()).sort("grp")["ph"]
