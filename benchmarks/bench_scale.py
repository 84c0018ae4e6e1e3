"""The out-of-core path at scale: time and peak memory of build_dataset_partitioned.

    .venv/bin/python benchmarks/bench_scale.py --candidates 50000000 --max-pairs-per-turn 2

Writes synthetic candidates as Parquet chunks of one million (cached under
benchmarks/.cache/scale-N), then builds pairs and the Customizer dataset with bounded
memory. Peak memory is the process's high-water mark (VmHWM), which includes every
Polars thread. Responses are 20-200 characters so that the output fits a work disk.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from bench_core import synthetic_candidates

import dpo_frames
from dpo_frames.scale.partitioned import build_dataset_partitioned

CHUNK = 1_000_000


def peak_rss_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def ensure_input(n: int, root: Path) -> Path:
    directory = root / f"scale-{n}"
    done = directory / "DONE"
    if done.exists():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(0, n, CHUNK):
        chunk = synthetic_candidates(
            min(CHUNK, n - i), seed=i // CHUNK, prefix=f"c{i // CHUNK}_", max_response_chars=200
        )
        chunk.write_parquet(directory / f"part-{i // CHUNK:05d}.parquet")
    done.write_text("ok")
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=50_000_000)
    parser.add_argument("--max-pairs-per-turn", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=None)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    parser.add_argument("--keep-output", action="store_true")
    args = parser.parse_args()
    t0 = time.perf_counter()
    source = ensure_input(args.candidates, args.cache)
    generated = time.perf_counter() - t0
    input_gib = sum(p.stat().st_size for p in source.glob("*.parquet")) / 2**30
    out = args.cache / f"scale-{args.candidates}-out"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    result = build_dataset_partitioned(
        str(source / "*.parquet"),
        out,
        dpo_frames.PairConfig(max_pairs_per_turn=args.max_pairs_per_turn),
        partitions=args.partitions,
        prompt_context="last_message",  # the reference's default (use_full_message_history: false), as before
    )
    seconds = time.perf_counter() - t0
    jsonl_gib = sum(result.files[s].stat().st_size for s in ("train", "validation")) / 2**30
    report = {
        "candidates": args.candidates,
        "partitions": result.partitions,
        "seconds": round(seconds, 1),
        "peak_rss_gib": round(peak_rss_gib(), 2),
        "input_parquet_gib": round(input_gib, 2),
        "pairs": result.pair_stats.pairs,
        "dataset_pairs": result.dataset_stats.pairs,
        "jsonl_gib": round(jsonl_gib, 2),
        "input_generation_seconds": round(generated, 1),
    }
    print(json.dumps(report, indent=2))
    if not args.keep_output:
        shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
