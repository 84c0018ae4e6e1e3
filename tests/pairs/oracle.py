"""Obviously-correct pure-Python versions of the pair rules, to judge the vectorized engine."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import xxhash

FIELDS = (
    "run_id",
    "example_id",
    "turn_id",
    "turn_index",
    "candidate_index",
    "prompt_text",
    "prompt_messages",
    "response",
    "score",
    "step_uuid",
    "metadata",
)


def _prompt_key(c: dict) -> tuple:
    msgs = c["prompt_messages"]
    return (c["prompt_text"], None if msgs is None else tuple((m["role"], m["content"]) for m in msgs))


def oracle_pairs(
    rows: list[dict],
    *,
    exhaustive: bool = True,
    min_diff: float = 0.0,
    cap: int | None = None,
    strategy: str | None = None,
    seed: int = 0,
    max_candidates: int | None = None,
) -> tuple[list[tuple], dict[str, int]]:
    """dpo_frames' documented semantics, one candidate and one pair at a time."""
    strategy = strategy or ("exhaustive" if exhaustive else "best_vs_worst")
    stats = Counter()
    stats["candidates"] = len(rows)
    valid = [
        (i, c)
        for i, c in enumerate(rows)
        if c["score"] is not None
        and math.isfinite(c["score"])
        and c["turn_id"] is not None
        and c["response"] is not None
        and c["prompt_text"] is not None
    ]
    stats["invalid_candidates"] = len(rows) - len(valid)
    turns: dict[tuple, list[tuple[int, dict]]] = {}
    for i, c in valid:  # dicts keep first-appearance order
        turns.setdefault((c["run_id"], c["example_id"], c["turn_id"]), []).append((i, c))
    out = []
    for members in turns.values():
        stats["turns"] += 1
        stats["single_candidate_turns"] += len(members) == 1
        groups: dict[tuple, list[tuple[int, dict]]] = {}
        for i, c in members:
            groups.setdefault(_prompt_key(c), []).append((i, c))
        stats["prompt_mismatch_turns"] += len(groups) > 1
        n = len(members)
        within = sum(len(g) * (len(g) - 1) // 2 for g in groups.values())
        stats["cross_prompt_pairs"] += n * (n - 1) // 2 - within
        stats["candidate_pairs"] += within
        turn_pairs = []
        for g in groups.values():
            scores = [c["score"] for _, c in g]
            g = _bounded(g, max_candidates, stats)
            eligible = []
            for ia, a in g:
                for ib, b in g:
                    if ia >= ib:
                        continue
                    hi, lo = ((ia, a), (ib, b)) if a["score"] >= b["score"] else ((ib, b), (ia, a))
                    if a["score"] == b["score"]:
                        stats["tied_pairs"] += 1
                        continue
                    diff = hi[1]["score"] - lo[1]["score"]
                    if diff < min_diff:
                        stats["below_margin_pairs"] += 1
                        continue
                    if hi[1]["response"] == lo[1]["response"]:
                        stats["identical_response_pairs"] += 1
                        continue
                    eligible.append((hi, lo, diff))
            stats["eligible_pairs"] += len(eligible)
            eligible.sort(key=_priority)
            picked = _pick(strategy, eligible, scores, seed)
            key = "not_best_vs_worst_pairs" if strategy == "best_vs_worst" else "not_selected_pairs"
            stats[key] += len(eligible) - len(picked)
            turn_pairs.extend(picked)
        turn_pairs.sort(key=_priority)
        if cap is not None:
            stats["capped_pairs"] += max(0, len(turn_pairs) - cap)
            turn_pairs = turn_pairs[:cap]
        out.extend(turn_pairs)
    stats["pairs"] = len(out)
    return [describe(hi[1], lo[1], diff) for hi, lo, diff in out], dict(stats)


def _bounded(group: list[tuple[int, dict]], limit: int | None, stats: Counter) -> list[tuple[int, dict]]:
    """max_candidates_per_turn: the ceil(k/2) highest and floor(k/2) lowest scores of the group."""
    if limit is None or len(group) <= limit:
        return group
    by_score = sorted(group, key=lambda ic: (-ic[1]["score"], ic[1]["candidate_index"], ic[0]))
    top, bottom = (limit + 1) // 2, limit // 2
    kept = by_score[:top] + (by_score[len(by_score) - bottom :] if bottom else [])
    n, k = len(group), len(kept)
    stats["trimmed_candidates"] += n - k
    stats["trimmed_pairs"] += n * (n - 1) // 2 - k * (k - 1) // 2
    return sorted(kept, key=lambda ic: ic[0])


def _pick(strategy: str, eligible: list, scores: list[float], seed: int) -> list:
    """One prompt group's eligible pairs (in priority order) -> the strategy's pairs."""
    if strategy == "exhaustive" or not eligible:
        return eligible
    if strategy == "best_vs_worst":
        return eligible[:1]
    if strategy == "adjacent":
        out = []
        for hi in {p[0][0]: p[0] for p in eligible}.values():
            mine = [p for p in eligible if p[0][0] == hi[0]]
            out.append(min(mine, key=lambda p: (p[2], p[1][1]["candidate_index"], p[1][0])))
        return [p for p in eligible if p in out]
    best = min((p[0] for p in eligible), key=lambda ic: (-ic[1]["score"], ic[1]["candidate_index"], ic[0]))
    mine = [p for p in eligible if p[0][0] == best[0]]
    if strategy == "best_vs_all":
        return mine
    if strategy == "best_vs_random":
        prompt = _prompt_hash(best[1])

        def key(p):
            return _combine64(seed, prompt, _xxh3(p[0][1]["response"]), _xxh3(p[1][1]["response"]))

        return [min(mine, key=lambda p: (key(p), mine.index(p)))]
    if strategy == "best_vs_mean_minus_2sd":
        target = statistics.fmean(scores) - 2 * statistics.pstdev(scores)
        return [min(mine, key=lambda p: (round(abs(p[1][1]["score"] - target), 9), mine.index(p)))]
    raise ValueError(strategy)


_MASK = (1 << 64) - 1


def _xxh3(text: str) -> int:
    return xxhash.xxh3_64_intdigest(text.encode())


def _mix64(x: int) -> int:
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def _combine64(*hashes: int) -> int:
    acc = 0
    for h in hashes:
        acc = _mix64(acc ^ h)
    return acc


def _prompt_hash(c: dict) -> int:
    """The documented prompt hash, computed independently (see tests/core/test_ids.py)."""
    from tests.pairs.test_ids import combine, h, messages_hash

    return combine(h(c["prompt_text"]), messages_hash(c["prompt_messages"]))


def _priority(pair) -> tuple:
    (ia, a), (ib, b), diff = pair
    return (-diff, -a["score"], a["candidate_index"], b["candidate_index"], ia, ib)


def describe(chosen: dict, rejected: dict, diff: float) -> tuple:
    return (
        chosen["run_id"],
        chosen["example_id"],
        chosen["turn_id"],
        chosen["prompt_text"],
        chosen["response"],
        rejected["response"],
        chosen["candidate_index"],
        rejected["candidate_index"],
        chosen["score"],
        rejected["score"],
        diff,
    )


def reference_pairs(
    rows: list[dict], *, exhaustive: bool = True, min_diff: float = 0.0, cap: int | None = None
) -> list[tuple]:
    """NAT reference builder's selection (trajectory_builder.py), transcribed: per turn, sort by
    score descending (stable), then all i<j with diff >= min_diff sorted by diff (stable, capped),
    or first vs last."""
    turns: dict[tuple, list[dict]] = {}
    for c in rows:
        turns.setdefault((c["example_id"], c["turn_id"]), []).append(c)
    out = []
    for cands in turns.values():
        if len(cands) < 2:
            continue
        s = sorted(cands, key=lambda c: c["score"], reverse=True)
        if exhaustive:
            pairs = [
                (a, b, a["score"] - b["score"])
                for i, a in enumerate(s)
                for b in s[i + 1 :]
                if a["score"] - b["score"] >= min_diff
            ]
            pairs.sort(key=lambda p: p[2], reverse=True)
            if cap is not None:
                pairs = pairs[:cap]
        else:
            a, b = s[0], s[-1]
            pairs = [(a, b, a["score"] - b["score"])] if a["score"] - b["score"] >= min_diff else []
        out.extend(describe(a, b, d) for a, b, d in pairs)
    return out
