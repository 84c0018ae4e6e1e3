"""Time dpo_frames stage by stage, in one of three views (runs in the project venv).

``run.py`` starts one process per view so that each view's memory is its own:

- ``engine``: the pair engine alone. Input: the candidates frame (extracted, untimed,
  from the stored steps of the same synthetic data). Stage ``build_pairs``. Compare
  with the reference's ``pairs`` + ``trajectories`` stages.
- ``memory``: end to end from an in-memory NAT ``EvaluationRunOutput`` (rebuilt from
  the cached tables before timing) to the Customizer JSONL files on disk. Stages
  ``extract_candidates`` (the in-memory fast path, straight from the step objects),
  ``build_pairs``, ``finalize``, ``write_jsonl``; also ``walk_floor``: one plain
  attribute walk over the same step objects, the floor of any reader of them.
- ``stored``: end to end from a stored Parquet steps file (``stored_steps.parquet``,
  the design's steps frame) to the JSONL files, same stages. Afterwards, ``write_bound``:
  the finished dataset's JSONL bytes (read back, untimed) written again with plain
  ``write`` calls (best of three), the bound for any writer of that dataset.
- ``candidates``: "collect once, pair many": end to end from the ``candidates.parquet``
  an earlier run wrote (what the NAT builder keeps per run) to the JSONL files. Stages
  ``read_candidates``, ``build_pairs``, ``finalize``, ``write_jsonl``.

All views use ``PairConfig()`` defaults (the reference builder's defaults) and
``finalize_dataset(deduplicate=True, max_pairs=--max-pairs, seed=0)``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import measure
import synth

VIEWS = ("engine", "memory", "stored", "candidates")


def _api() -> Any:
    """The dpo_frames package, checked for the functions this runner needs."""
    import dpo_frames

    needed = (
        "read_steps",
        "extract_candidates",
        "PairConfig",
        "build_pairs",
        "finalize_dataset",
        "write_customizer_jsonl",
    )
    missing = [n for n in needed if not hasattr(dpo_frames, n)]
    if missing:
        raise SystemExit(f"dpo_frames does not export {missing} yet; the 'ours' side cannot run")
    return dpo_frames


def _pipeline(df: Any, meter: measure.StageMeter, source: Any, out_dir: Path, max_pairs: int | None) -> None:
    """read -> candidates -> pairs -> dataset -> JSONL, each a measured stage."""
    n_steps = None
    if isinstance(source, Path) and source.name.startswith("ours_candidates"):
        with meter.stage("read_candidates"):
            candidates = df.read_frame(source, "candidates")
        rejects = candidates.clear()
    elif isinstance(source, Path):
        with meter.stage("read_steps"):
            steps = df.read_steps(source, run_id="bench")
        with meter.stage("extract_candidates"):
            candidates, rejects = df.extract_candidates(steps)
        n_steps = steps.height
        del steps
    else:
        with meter.stage("extract_candidates"):
            candidates, rejects = df.extract_candidates(source, run_id="bench")
    with meter.stage("build_pairs"):
        pairs, pair_stats = df.build_pairs(candidates, df.PairConfig())
    n_candidates = candidates.height
    del candidates
    with meter.stage("finalize"):
        dataset, dataset_stats = df.finalize_dataset(pairs, deduplicate=True, max_pairs=max_pairs, seed=0)
    n_pairs = pairs.height
    del pairs
    measure.prepare_write(out_dir, _jsonl_size_estimate(dataset))  # untimed
    with meter.stage("write_jsonl"):
        paths = df.write_customizer_jsonl(dataset, out_dir, use_full_message_history=False)
    files = _jsonl_files(paths, out_dir)
    meter.info.update(
        {
            "steps": n_steps,
            "candidates": n_candidates,
            "rejects": rejects.height,
            "pairs": n_pairs,
            "dataset_rows": dataset.height,
            "pair_stats": pair_stats.model_dump(mode="json"),
            "dataset_stats": dataset_stats.model_dump(mode="json"),
            "files": [str(p) for p in files],
            "bytes_written": sum(p.stat().st_size for p in files),
        }
    )


def _jsonl_size_estimate(dataset: Any) -> int:
    """About the bytes of the dataset's Customizer JSONL (its three texts and the keys)."""
    import polars as pl

    texts = dataset.select(
        pl.sum_horizontal(
            pl.col(c).str.len_bytes().sum() for c in ("prompt_text", "chosen_response", "rejected_response")
        )
    )
    return int(texts.item() or 0) + 60 * dataset.height


def _jsonl_files(paths: Any, out_dir: Path) -> list[Path]:
    """The JSONL files a writer reported (a mapping, a sequence or one path)."""
    if isinstance(paths, dict):
        found = [Path(p) for p in paths.values()]
    elif isinstance(paths, (list, tuple)):
        found = [Path(p) for p in paths]
    elif paths is not None:
        found = [Path(paths)]
    else:
        found = []
    found = [p for p in found if p.suffix == ".jsonl" and p.is_file()]
    return found or sorted(out_dir.rglob("*.jsonl"))


def write_bound(meter: measure.StageMeter, files: list[Path], bound_dir: Path, repeats: int = 3) -> None:
    """Time writing the given files' bytes again, with nothing else to do (best of
    ``repeats``; untimed before each run, the previous copies are deleted and the write
    is prepared as every timed write is, :func:`measure.prepare_write`)."""
    blobs = [(bound_dir / f"{i}_{p.name}", p.read_bytes()) for i, p in enumerate(files)]
    bound_dir.mkdir(parents=True, exist_ok=True)

    def clear() -> None:
        for path, _ in blobs:
            path.unlink(missing_ok=True)
        measure.prepare_write(bound_dir, sum(len(b) for _, b in blobs))

    def write() -> None:
        for path, blob in blobs:
            with open(path, "wb") as f:
                f.write(blob)

    meter.best_of("write_bound", write, repeats, between=clear)
    meter.info["bound_bytes"] = sum(len(b) for _, b in blobs)


def run(view: str, data_dir: Path, work: Path, max_pairs: int | None) -> measure.StageMeter:
    """Build the view's untimed input, then run and measure its stages."""
    df = _api()
    meter = measure.StageMeter()
    meter.info["view"] = view
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    out_dir = work / "dataset"
    t0 = time.perf_counter()

    if view == "engine":
        candidates = _candidates(df, data_dir)
        meter.info["setup_seconds"] = time.perf_counter() - t0
        meter.set_baseline()
        with meter.stage("build_pairs"):
            pairs, stats = df.build_pairs(candidates, df.PairConfig())
        meter.info.update(
            {"candidates": candidates.height, "pairs": pairs.height, "pair_stats": stats.model_dump(mode="json")}
        )
    elif view == "memory":
        tables = synth.SynthTables.read(data_dir)
        eval_output = synth.build_eval_output(tables)
        del tables
        meter.info["setup_seconds"] = time.perf_counter() - t0
        meter.set_baseline()
        with meter.stage("walk_floor"):
            synth.attribute_walk(eval_output)
        _pipeline(df, meter, eval_output, out_dir, max_pairs)
    elif view == "candidates":
        _candidates(df, data_dir)  # untimed: the file an earlier run wrote
        meter.info["setup_seconds"] = time.perf_counter() - t0
        meter.set_baseline()
        _pipeline(df, meter, data_dir / "ours_candidates.parquet", out_dir, max_pairs)
    elif view == "stored":
        source = data_dir / "stored_steps.parquet"
        meter.info["setup_seconds"] = time.perf_counter() - t0
        meter.set_baseline()
        _pipeline(df, meter, source, out_dir, max_pairs)
        write_bound(meter, [Path(p) for p in meter.info["files"]], work / "bound")
    else:
        raise SystemExit(f"unknown view {view!r}: expected one of {VIEWS}")
    return meter


def _candidates(df: Any, data_dir: Path) -> Any:
    """The candidates frame of the data set, cached next to it (untimed setup)."""
    import polars as pl

    path = data_dir / "ours_candidates.parquet"
    if path.exists():
        return pl.read_parquet(path)
    candidates, _ = df.extract_candidates(df.read_steps(data_dir / "stored_steps.parquet", run_id="bench"))
    tmp = path.with_suffix(".partial")
    candidates.write_parquet(tmp)
    tmp.rename(path)
    return candidates


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--view", choices=VIEWS, required=True)
    p.add_argument("--data", type=Path, required=True, help="cache dir of one synthetic data set (synth.py)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write the measurements to")
    p.add_argument("--work", type=Path, required=True, help="scratch directory (emptied first) for written files")
    p.add_argument("--max-pairs", type=int, default=None, help="finalize_dataset max_pairs (default: none)")
    args = p.parse_args(argv)
    meter = run(args.view, args.data, args.work, args.max_pairs)
    meter.write(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
