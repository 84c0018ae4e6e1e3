"""Side-by-side benchmark: the reference plugin vs dpo_frames, on the same synthetic data.

One command (``make bench``)::

    .venv/bin/python benchmarks/run.py --sizes 10k,100k,1M

For each size it generates the synthetic data once (cached under ``benchmarks/.cache``),
creates the reference's venv if needed (``setup_ref_env.sh``), runs each runner as its
own subprocess (the reference in ``benchmarks/.venv-ref``, then dpo_frames' three views
in this interpreter's venv), and prints a table of per-stage and end-to-end seconds,
ratios (reference / ours, ours / bound) and peak memory. Results go to
``benchmarks/results/latest.json`` (every raw measurement) and
``benchmarks/results/latest.md`` (the tables). See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import synth  # noqa: E402  (a sibling module: importable once HERE is on the path)

REF_PYTHON = HERE / ".venv-ref" / "bin" / "python"
REF_STAGES = ("parse", "pairs", "trajectories", "dedup_sample", "jsonl", "write")
OURS_STAGES = ("read_steps", "extract_candidates", "build_pairs", "finalize", "write_jsonl")
OURS_MEMORY_STAGES = ("extract_candidates", "build_pairs", "finalize", "write_jsonl")
OURS_CANDIDATES_STAGES = ("read_candidates", "build_pairs", "finalize", "write_jsonl")
OURS_VIEWS = ("engine", "memory", "stored", "candidates")


class BenchError(RuntimeError):
    """A benchmark step that could not run (setup failure, runner crash)."""


# ---------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------


def _run(cmd: list[str], label: str, timeout: float | None) -> tuple[float, str | None]:
    """Run a subprocess whose output streams to our stderr; return (seconds, error or None)."""
    print(f"[{label}] {' '.join(str(c) for c in cmd)}", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, stdout=sys.stderr, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - t0, f"timed out after {timeout} s"
    seconds = time.perf_counter() - t0
    if proc.returncode:
        return seconds, f"exit {proc.returncode} (its output is above)"
    return seconds, None


def ensure_ref_env() -> None:
    """Create benchmarks/.venv-ref unless it is already set up."""
    proc = subprocess.run(["bash", str(HERE / "setup_ref_env.sh")], text=True, check=False)
    if proc.returncode:
        raise BenchError("could not set up the reference venv (benchmarks/setup_ref_env.sh failed)")


def ensure_data(size: str, seed: int, cache: Path, timeout: float | None) -> Path:
    """Generate (in a subprocess, so this process stays small) and cache one data set."""
    spec = synth.SynthSpec(synth.parse_size(size), seed=seed)
    d = synth.cache_dir(spec, cache)
    if not (d / "meta.json").exists():
        _, err = _run(
            [sys.executable, str(HERE / "synth.py"), "--size", size, "--seed", str(seed), "--cache", str(cache)],
            f"{size} generate",
            timeout,
        )
        if err:
            raise BenchError(f"generating {size}: {err}")
    return d


def run_size(
    size: str,
    data: Path,
    sides: set[str],
    views: list[str],
    scratch: Path,
    raw_dir: Path,
    max_pairs: int | None,
    timeout: float | None,
) -> dict[str, Any]:
    """Run every selected runner on one data set; return their results (or errors)."""
    runs: dict[str, Any] = {}
    jobs: list[tuple[str, list[str]]] = []
    extra = ["--max-pairs", str(max_pairs)] if max_pairs is not None else []
    if "ref" in sides:
        jobs.append(("ref", [str(REF_PYTHON), str(HERE / "ref_runner.py")] + extra))
    if "ours" in sides:
        for view in views:
            jobs.append((f"ours_{view}", [sys.executable, str(HERE / "ours_runner.py"), "--view", view] + extra))
    for name, cmd in jobs:
        out = raw_dir / f"{size}-{name}.json"
        work = scratch / f"{size}-{name}"
        out.unlink(missing_ok=True)
        seconds, err = _run(
            cmd + ["--data", str(data), "--out", str(out), "--work", str(work)], f"{size} {name}", timeout
        )
        shutil.rmtree(work, ignore_errors=True)  # the JSONL files are large; keep only the numbers
        if err is None and out.exists():
            runs[name] = json.loads(out.read_text())
            runs[name]["process_seconds"] = seconds
        else:
            runs[name] = {"error": err or "runner wrote no result"}
    return runs


# ---------------------------------------------------------------------------
# Summarizing
# ---------------------------------------------------------------------------


def _stages(run: dict[str, Any] | None) -> dict[str, Any]:
    return (run or {}).get("stages", {})


def _sum(run: dict[str, Any] | None, names: tuple[str, ...]) -> float | None:
    st = _stages(run)
    if not st or any(n not in st for n in names):
        return None
    return sum(st[n]["seconds"] for n in names)


def _peak(run: dict[str, Any] | None, names: tuple[str, ...]) -> tuple[float, float] | None:
    """(peak above baseline, absolute peak) in MiB over the named stages."""
    st = _stages(run)
    if not st or any(n not in st for n in names):
        return None
    return (max(st[n]["peak_over_baseline_mib"] for n in names), max(st[n]["peak_rss_mib"] for n in names))


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b not in (None, 0) else None


def summarize(runs: dict[str, Any]) -> dict[str, Any]:
    """Per-size comparison rows: seconds, ratios and peak memory of both sides."""
    ref, mem, sto, eng, cand = (
        runs.get(k) for k in ("ref", "ours_memory", "ours_stored", "ours_engine", "ours_candidates")
    )
    bound = _sum(sto, ("write_bound",))
    walk = _sum(mem, ("walk_floor",))
    floor = walk + bound if walk is not None and bound is not None else None
    rows: list[dict[str, Any]] = []

    def row(
        label: str,
        ref_names: tuple[str, ...],
        ours_run: dict | None,
        ours_names: tuple[str, ...],
        over: str | None = None,
        over_value: float | None = None,
        goal: str | None = None,
    ) -> None:
        r, o = _sum(ref, ref_names), _sum(ours_run, ours_names)
        rows.append(
            {
                "label": label,
                "reference_s": r,
                "ours_s": o,
                "ref_over_ours": _ratio(r, o),
                "ours_over": over,
                "ours_over_value": _ratio(o, over_value) if over else None,
                "reference_peak_mib": _peak(ref, ref_names),
                "ours_peak_mib": _peak(ours_run, ours_names),
                "goal": goal,
            }
        )

    row("steps -> candidates (in-memory steps)", ("parse",), mem, ("extract_candidates",))
    row("pair engine: candidates -> pairs", ("pairs", "trajectories"), eng, ("build_pairs",), goal="ref/ours >= 100")
    row("dedup + sample (+ split)", ("dedup_sample",), mem, ("finalize",))
    row("JSONL conversion + write", ("jsonl", "write"), mem, ("write_jsonl",), "bound", bound)
    row(
        "end to end: in-memory EvaluationRunOutput -> JSONL",
        REF_STAGES,
        mem,
        OURS_MEMORY_STAGES,
        "floor",
        floor,
        goal="ours/floor <= 2",
    )
    row(
        "end to end: stored Parquet steps -> JSONL",
        REF_STAGES,
        sto,
        OURS_STAGES,
        "bound",
        bound,
        goal="ref/ours >= 100, ours/bound <= 2",
    )
    row(
        "end to end: stored candidates.parquet -> JSONL",
        REF_STAGES,
        cand,
        OURS_CANDIDATES_STAGES,
        "bound",
        bound,
        goal="ref/ours >= 100, ours/bound <= 2",
    )
    return {
        "rows": rows,
        "same_input": _same_input(ref, mem),
        "bound_s": bound,
        "walk_floor_s": walk,
        "reference_walk_floor_s": _sum(ref, ("walk_floor",)),
        "floor_s": floor,
        "errors": {k: v["error"] for k, v in runs.items() if "error" in v},
    }


def _same_input(ref: dict[str, Any] | None, mem: dict[str, Any] | None) -> bool | None:
    """Both sides saw the same candidates: the reference's pair count (every ordered
    pair, ties included, no filter at the defaults) equals dpo_frames' count of
    candidate pairs before its filters."""
    r, o = (ref or {}).get("info", {}), (mem or {}).get("info", {})
    if "pairs" not in r or "pair_stats" not in o:
        return None
    return r["candidates"] == o["candidates"] and r["pairs"] == o["pair_stats"]["candidate_pairs"]


def _goal_met(row: dict[str, Any]) -> str:
    goal = row["goal"]
    if not goal:
        return ""
    checks = []
    if "ref/ours" in goal:
        checks.append(row["ref_over_ours"] is not None and row["ref_over_ours"] >= 100)
    if "ours/" in goal:
        checks.append(row["ours_over_value"] is not None and row["ours_over_value"] <= 2)
    if any(c is None for c in checks) or row["ours_s"] is None:
        return f"{goal}: n/a"
    return f"{goal}: {'met' if all(checks) else 'not met'}"


def _fmt_s(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.1f}")


def _fmt_x(v: float | None) -> str:
    return "n/a" if v is None else (f"{v:.1f}x" if v < 100 else f"{v:.0f}x")


def _fmt_mem(v: tuple[float, float] | None) -> str:
    return "n/a" if v is None else f"+{v[0]:,.0f} ({v[1]:,.0f})"


def markdown(result: dict[str, Any]) -> str:
    """The results as markdown tables, one per size."""
    m = result["machine"]
    out = [
        "# Side-by-side benchmark: reference plugin vs dpo_frames",
        "",
        (
            f"Machine: {m['cpus']} CPUs ({m['cpu_model']}), {m['mem_total_gib']:.0f} GiB RAM, "
            f"Python {m['python']}, polars {m.get('polars', '?')}, {m['platform']}. "
            f"Reference: nvidia-nat-nemo-customizer {result['reference_version']}. "
            f"Started {result['started']}; git {result['git_commit']}."
        ),
        "",
        (
            "Seconds are wall time of one run. Memory: peak RSS above the process's baseline "
            "(after its input was built), and in parentheses the absolute peak, in MiB."
        ),
        "",
    ]
    for size, entry in result["sizes"].items():
        s, meta = entry["summary"], entry["data"]
        out += [
            f"### {size} candidates",
            "",
            (
                f"Data: {meta['candidates']:,} candidates in {meta['turns']:,} turns of {meta['examples']:,} "
                f"examples, {meta['steps']:,} steps; reference pairs: {_info(entry, 'ref', 'pairs')}, "
                f"ours: {_info(entry, 'ours_memory', 'pairs')} (ours drops tied and identical-text pairs); "
                f"dataset records written: reference {_records(entry)}, ours "
                f"{_info(entry, 'ours_memory', 'dataset_rows')}. Same candidates on both sides: "
                f"{ {True: 'yes', False: 'NO', None: 'n/a'}[s['same_input']] }."
            ),
            "",
            (
                "| stage / view | reference s | ours s | ref / ours | ours / bound | reference peak MiB "
                "| ours peak MiB | goal (at 1M) |"
            ),
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in s["rows"]:
            over = f"{_fmt_x(r['ours_over_value'])} ({r['ours_over']})" if r["ours_over"] else ""
            out.append(
                f"| {r['label']} | {_fmt_s(r['reference_s'])} | {_fmt_s(r['ours_s'])} | "
                f"{_fmt_x(r['ref_over_ours'])} | {over} | {_fmt_mem(r['reference_peak_mib'])} | "
                f"{_fmt_mem(r['ours_peak_mib'])} | {_goal_met(r)} |"
            )
        out += [
            "",
            (
                f"Bound (write the finished dataset's JSONL bytes alone, best of three; every timed write, "
                f"both sides' and the bound's, is primed as `measure.prepare_write` says): {_fmt_s(s['bound_s'])} s"
                f"{_cold(entry)}. "
                f"Floor of the in-memory view (one attribute walk over the step objects + the bound): "
                f"{_fmt_s(s['floor_s'])} s (walk {_fmt_s(s['walk_floor_s'])} s; the same walk in the "
                f"reference process {_fmt_s(s['reference_walk_floor_s'])} s)."
            ),
            "",
        ]
        if s["errors"]:
            out += ["Errors: " + "; ".join(f"{k}: {v}" for k, v in s["errors"].items()), ""]
    return "\n".join(out)


def _cold(entry: dict[str, Any]) -> str:
    """The bound's slowest run, when it differs much from the best."""
    times = entry["runs"].get("ours_stored", {}).get("stages", {}).get("write_bound", {}).get("all_seconds")
    if not times or max(times) < 1.5 * min(times):
        return ""
    return f" (its slowest run: {_fmt_s(max(times))} s)"


def _info(entry: dict[str, Any], run: str, key: str) -> str:
    v = entry["runs"].get(run, {}).get("info", {}).get(key)
    return "n/a" if v is None else f"{v:,}"


def _records(entry: dict[str, Any]) -> str:
    info = entry["runs"].get("ref", {}).get("info", {})
    if "training_records" not in info:
        return "n/a"
    return f"{info['training_records'] + info['validation_records']:,}"


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
        mem_kib = int(
            next(
                line.split()[1]
                for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemTotal")
            )
        )
    except (OSError, StopIteration):
        mem_kib = 0
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_total_gib": mem_kib / 2**20,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import polars

        info["polars"] = polars.__version__
    except ImportError:
        pass
    return info


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Side-by-side benchmark: reference plugin vs dpo_frames.")
    p.add_argument("--sizes", default="10k,100k,1M", help="comma-separated candidate counts (default 10k,100k,1M)")
    p.add_argument("--seed", type=int, default=0, help="synthetic data seed")
    p.add_argument("--sides", default="ref,ours", help="which sides to run: ref, ours or both (default)")
    p.add_argument(
        "--views", default=",".join(OURS_VIEWS), help="dpo_frames views to run (engine,memory,stored,candidates)"
    )
    p.add_argument("--max-pairs", type=int, default=None, help="max_pairs for both sides (default: none)")
    p.add_argument("--cache", type=Path, default=HERE / ".cache", help="synthetic data cache root")
    p.add_argument("--results", type=Path, default=HERE / "results", help="where latest.json/latest.md go")
    p.add_argument("--timeout", type=float, default=None, help="seconds allowed per runner process")
    p.add_argument(
        "--readme",
        type=Path,
        default=HERE / "README.md",
        help="README whose results block a complete run (both sides, no error) rewrites",
    )
    p.add_argument("--no-readme", dest="readme", action="store_const", const=None, help="leave the README alone")
    p.add_argument(
        "--render-only",
        action="store_true",
        help="only re-render latest.md (and the README block) from the existing latest.json",
    )
    args = p.parse_args(argv)

    if args.render_only:
        result = json.loads((args.results / "latest.json").read_text())
        md = markdown(result)
        (args.results / "latest.md").write_text(md + "\n")
        print(md)
        if args.readme is not None:
            update_readme(args.readme, md)
        return 0

    sides = {s.strip() for s in args.sides.split(",") if s.strip()}
    views = [v.strip() for v in args.views.split(",") if v.strip()]
    if not sides <= {"ref", "ours"} or not set(views) <= set(OURS_VIEWS):
        p.error(f"--sides takes ref,ours and --views takes {','.join(OURS_VIEWS)}")
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    for s in sizes:
        synth.parse_size(s)  # fail early on a typo

    if "ref" in sides:
        ensure_ref_env()
    raw_dir = args.cache / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "git_commit": _git_commit(),
        "machine": machine(),
        "reference_version": os.environ.get("REF_VERSION", "1.9.0"),
        "seed": args.seed,
        "max_pairs": args.max_pairs,
        "sizes": {},
    }
    for size in sizes:
        data = ensure_data(size, args.seed, args.cache, args.timeout)
        runs = run_size(size, data, sides, views, args.cache / "work", raw_dir, args.max_pairs, args.timeout)
        meta = json.loads((data / "meta.json").read_text())["counts"]
        result["sizes"][size] = {"data": meta, "runs": runs, "summary": summarize(runs)}

    md = markdown(result)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "latest.json").write_text(json.dumps(result, indent=2))
    (args.results / "latest.md").write_text(md + "\n")
    print(md)
    failed = any(e["summary"]["errors"] for e in result["sizes"].values())
    if args.readme is not None and not failed and sides == {"ref", "ours"}:
        update_readme(args.readme, md)
    return 1 if failed else 0


README_START = "<!-- results:start (written by run.py) -->"
README_END = "<!-- results:end -->"


def update_readme(readme: Path, md: str) -> None:
    """Replace the results block of the README with the new tables (a complete run only)."""
    text = readme.read_text()
    if README_START not in text or README_END not in text:
        raise BenchError(f"{readme} has no results block ({README_START} ... {README_END})")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    body = md.split("\n", 2)[2] if md.startswith("# ") else md  # drop the title line
    readme.write_text(f"{head}{README_START}\n{body.strip()}\n{README_END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
