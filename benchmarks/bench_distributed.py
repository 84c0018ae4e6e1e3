"""The distributed build against the in-process one: 1 and 2 local Dask workers vs build_dataset_partitioned.

    .venv/bin/python benchmarks/bench_distributed.py --candidates 3000000 --repeats 2

Needs the dask extra (pip install 'dpo_frames[dask]'). Input: synthetic candidates in
Parquet chunks of one million (bench_scale's cache, benchmarks/.cache/scale-N). Every
run builds pairs, the dataset Parquet and the Customizer JSONL into a fresh directory;
a Dask run's time includes starting and stopping its local cluster (also shown apart).
Prints the median wall time of each set-up, the distributed runs' steps, and the load
average (this benchmark is only meaningful on an otherwise idle machine). Not run by CI.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path

from bench_scale import ensure_input

import dpo_frames
from dpo_frames.scale.dask import build_dataset, connect
from dpo_frames.scale.partitioned import build_dataset_partitioned


def cluster_start_stop(workers: int) -> float:
    start = time.perf_counter()
    with connect("dask", workers=workers):
        pass
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=3_000_000)
    parser.add_argument("--max-pairs-per-turn", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(__file__).parent / ".cache")
    args = parser.parse_args()
    source = str(ensure_input(args.candidates, args.cache) / "*.parquet")
    config = dpo_frames.PairConfig(max_pairs_per_turn=args.max_pairs_per_turn)
    out = args.cache / f"distributed-{args.candidates}-out"
    setups = {"in-process (partitioned)": None, "dask, 1 local worker": 1, "dask, 2 local workers": 2}
    walls: dict[str, list[float]] = {name: [] for name in setups}
    steps: dict[str, dict[str, float]] = {}
    loads = []
    results = {}
    for _ in range(args.repeats):
        for name, workers in setups.items():  # interleaved, so a burst of load hits every set-up alike
            shutil.rmtree(out, ignore_errors=True)
            loads.append(os.getloadavg()[0])
            start = time.perf_counter()
            if workers is None:
                result = build_dataset_partitioned(
                    source, out, config, partitions=args.partitions, prompt_context="last_message"
                )
            else:
                result = build_dataset(
                    source, out, config, workers=workers, partitions=args.partitions, prompt_context="last_message"
                )
                steps[name] = result.seconds
            walls[name].append(time.perf_counter() - start)
            results[name] = (result.pair_stats, result.dataset_stats)
    shutil.rmtree(out, ignore_errors=True)
    assert len({repr(r) for r in results.values()}) == 1, "set-ups disagree"
    pair_stats, dataset_stats = results["in-process (partitioned)"]
    report = {
        "candidates": args.candidates,
        "pairs": pair_stats.pairs,
        "dataset_pairs": dataset_stats.pairs,
        "partitions": args.partitions,
        "repeats": args.repeats,
        "cores": os.cpu_count(),
        "median_seconds": {name: round(statistics.median(w), 1) for name, w in walls.items()},
        "all_seconds": {name: [round(x, 1) for x in w] for name, w in walls.items()},
        "dask_steps_seconds_last_run": steps,
        "local_cluster_start_stop_seconds": {w: round(cluster_start_stop(w), 2) for w in (1, 2)},
        "load_average_1min_at_starts": [round(x, 1) for x in loads],
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
