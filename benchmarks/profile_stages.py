"""Where the time goes inside each dpo_frames stage, on the cached synthetic data of run.py.

    .venv/bin/python benchmarks/profile_stages.py --size 1M

Prints, in one process: the in-memory extraction against the floors it is made of (an
attribute walk, the bare loop over the steps, reading the candidates' fields), the pair
engine and finalize_dataset split by internal step, and the stored-steps path. Run
``benchmarks/run.py`` once first (it writes the cached data). Each number is one run; the
first call of a stage in a process is "cold" (it pays for first-touch memory), the second
"warm". Sub-steps are timed by wrapping the module's private functions, so they move
with the code; this script is a tool for the benchmark notes, not a test.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import synth

HERE = Path(__file__).parent


def timed(label: str, fn: Callable[[], Any], runs: int = 1) -> Any:
    """Run ``fn`` ``runs`` times, print each time, return the last result."""
    result = None
    for i in range(runs):
        t0 = time.perf_counter()
        result = fn()
        tag = "" if runs == 1 else (" (cold)" if i == 0 else " (warm)")
        print(f"  {label + tag:<44} {time.perf_counter() - t0:7.3f} s", flush=True)
    return result


def bare_loop(eval_output: Any) -> int:
    """The extraction's loop with nothing done per step but the type/name test and the count."""
    counts: Counter = Counter()
    for item in eval_output.eval_input.eval_input_items:
        for step in item.trajectory:
            p = step.payload
            counts[(p.event_type, p.name)] += 1
    return sum(counts.values())


def read_candidate_fields(eval_output: Any, step_name: str) -> int:
    """The loop plus reading every candidate field the extraction reads, doing nothing with them."""
    n = 0
    for item in eval_output.eval_input.eval_input_items:
        for step in item.trajectory:
            p = step.payload
            if p.event_type != "TTC_END" or p.name != step_name:
                continue
            d = p.data.__dict__
            (
                d["turn_id"],
                d["score"],
                d["candidate_index"],
                d["input"],
                d["output"],
                d["turn_index"],
                p.metadata,
                p.UUID,
            )
            n += 1
    return n


def wrap_private(module: Any, names: list[str]) -> None:
    """Print the time of each call of ``module``'s functions ``names``."""
    for name in names:
        original = getattr(module, name)

        def wrapper(*args: Any, __f: Callable = original, __n: str = name, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            result = __f(*args, **kwargs)
            print(f"    {__n:<42} {time.perf_counter() - t0:7.3f} s", flush=True)
            return result

        setattr(module, name, wrapper)


def profile_extraction(data: Path, step_name: str = "dpo_candidate_move") -> None:
    """The in-memory extraction against the loops it is made of."""
    import dpo_frames
    from dpo_frames.candidates import objects as ingest

    gc.disable()
    eval_output = synth.build_eval_output(synth.SynthTables.read(data))
    gc.enable()
    gc.collect()
    timed("attribute walk (the floor)", lambda: synth.attribute_walk(eval_output), runs=2)
    timed("bare loop over the steps, counting", lambda: bare_loop(eval_output), runs=2)
    timed("loop + reading the candidates' fields", lambda: read_candidate_fields(eval_output, step_name), runs=2)
    frames = ingest._Columns.frames

    def timed_frames(self: Any) -> Any:
        return timed("  of which: frames from the column lists", lambda: frames(self))

    ingest._Columns.frames = timed_frames
    try:
        timed("extract_candidates", lambda: dpo_frames.extract_candidates(eval_output, run_id="p"), runs=2)
    finally:
        ingest._Columns.frames = frames


def profile_engine(data: Path) -> None:
    """build_pairs and finalize_dataset, per internal step."""
    import dpo_frames
    from dpo_frames.dataset import finalize as dataset
    from dpo_frames.pairs import engine as pairs

    candidates = pl.read_parquet(data / "ours_candidates.parquet")
    print(f"pair engine ({candidates.height:,} candidates), per internal step:")
    wrap_private(
        pairs, ["narrow_candidates", "_group_stats", "_ordered_pairs", "_filter", "_rank", "_select", "_gather"]
    )
    built, _ = timed("build_pairs", lambda: dpo_frames.build_pairs(candidates, dpo_frames.PairConfig()), runs=2)
    print(f"finalize_dataset ({built.height:,} pairs):")
    wrap_private(dataset, ["pair_keys", "decide"])
    timed("finalize_dataset", lambda: dpo_frames.finalize_dataset(built, deduplicate=True, seed=0), runs=2)


def profile_stored(data: Path) -> None:
    """read_steps and the steps-frame (DuckDB) extraction."""
    import dpo_frames

    steps = timed("read_steps", lambda: dpo_frames.read_steps(data / "stored_steps.parquet", run_id="p"))
    timed("extract_candidates (steps frame, DuckDB)", lambda: dpo_frames.extract_candidates(steps), runs=2)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", default="1M", help="a size run.py has cached (10k, 100k, 1M)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    data = HERE / ".cache" / f"{args.size}-seed{args.seed}-v3"
    if not (data / "stored_steps.parquet").exists():
        raise SystemExit(f"no cached data at {data}: run benchmarks/run.py --sizes {args.size} first")

    print(f"in-memory extraction ({args.size}):")
    profile_extraction(data)
    gc.collect()
    profile_engine(data)
    print("stored steps:")
    profile_stored(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
