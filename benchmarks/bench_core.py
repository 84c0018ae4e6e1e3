"""Time and peak memory of each core stage on a synthetic candidates set.

    .venv/bin/python benchmarks/bench_core.py --candidates 1000000

Builds candidates in Polars (2-8 per turn, scores on a 0.1 grid so ties occur, prompts
of ~400 and responses of ~100-1000 characters), then times build_pairs (exhaustive and
best-vs-worst), finalize_dataset and the Customizer JSONL write. Peak memory is the
process's resident set size sampled every 5 ms during each stage, above the level
before it (Polars allocates outside Python, so tracemalloc would not see it).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import polars as pl

import dpo_frames
from dpo_frames import schema


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


class Stage:
    """Context manager timing a block and sampling its peak RSS above the starting level."""

    def __init__(self, name: str, results: list[dict]) -> None:
        self.name, self.results = name, results

    def __enter__(self):
        self.base = self.peak = rss_bytes()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        self.t0 = time.perf_counter()
        return self

    def _sample(self) -> None:
        while not self.stop.wait(0.005):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc) -> None:
        seconds = time.perf_counter() - self.t0
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_bytes())
        self.results.append(
            {
                "stage": self.name,
                "seconds": round(seconds, 3),
                "peak_mb_above_start": round((self.peak - self.base) / 2**20, 1),
            }
        )


def synthetic_candidates(n: int, seed: int = 0, *, prefix: str = "", max_response_chars: int = 1000) -> pl.DataFrame:
    """``n`` candidates in turns of 2-8; ``prefix`` keeps ids of separate chunks apart."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 9, n // 2 + 8)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= int(sizes.sum() - n)
    turn = np.repeat(np.arange(len(sizes)), sizes)
    index = np.arange(n) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    frame = pl.DataFrame(
        {
            "turn": turn,
            "ci": index,
            "score": np.round(rng.random(n) * 10) / 10,
            "rlen": rng.integers(min(100, max_response_chars), max_response_chars, n),
        }
    )
    filler = "lorem ipsum dolor sit amet " * 40
    return frame.select(
        run_id=pl.lit("run-0"),
        example_id=pl.format(f"ex{prefix}{{}}", pl.col("turn") // 4),
        turn_id=pl.format(f"turn{prefix}{{}}", "turn"),
        turn_index=pl.col("turn") % 4,
        candidate_index=pl.col("ci"),
        prompt_text=pl.format("Board {}: ", "turn") + pl.lit(filler[:400]),
        prompt_messages=pl.lit(None, dtype=schema.MESSAGES),
        response=pl.format("move {} of {}: ", "ci", "turn") + pl.lit(filler).str.slice(0, pl.col("rlen")),
        score=pl.col("score"),
        step_uuid=pl.format("{}-{}", "turn", "ci"),
        metadata=pl.lit(None, dtype=pl.String),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=1_000_000)
    args = parser.parse_args()
    candidates = synthetic_candidates(args.candidates)
    results: list[dict] = []
    for exhaustive in (True, False):
        with Stage(f"build_pairs exhaustive={exhaustive}", results):
            pairs, stats = dpo_frames.build_pairs(candidates, dpo_frames.PairConfig(exhaustive_pairs=exhaustive))
        results[-1]["pairs"] = stats.pairs
    pairs, _ = dpo_frames.build_pairs(candidates)
    with Stage("finalize_dataset (dedup, split)", results):
        dataset, _ = dpo_frames.finalize_dataset(pairs)
    with Stage("finalize_dataset (dedup, sample 100k, split)", results):
        dpo_frames.finalize_dataset(pairs, max_pairs=100_000)
    with tempfile.TemporaryDirectory() as tmp:
        with Stage("write_customizer_jsonl", results):
            paths = dpo_frames.write_customizer_jsonl(dataset, tmp)
        results[-1]["mb_written"] = round(sum(Path(p).stat().st_size for p in paths.values()) / 2**20, 1)
    print(
        f"{args.candidates:,} candidates, {candidates['turn_id'].n_unique():,} turns, "
        f"{candidates.estimated_size() / 2**20:,.0f} MiB in memory"
    )
    print(pl.DataFrame(results).fill_null(""))


if __name__ == "__main__":
    main()
