"""Step files at disk speed: ``dpo-frames pairs`` on a JSONL of steps against DuckDB's plain read.

Usage (from the repository root)::

    .venv/bin/python benchmarks/step_files.py --sizes 100k,1M [--old] [--write-readme]

For each size it writes (once, cached in ``benchmarks/.cache/step_files/``) a JSONL of that many
``TTC_END`` steps, one serialized NAT ``IntermediateStep`` a line, from the tables of
``synth.py`` (message prompts, 20-400 character responses), then measures, each in its own
process (wall time, peak RSS from ``wait4``):

- ``floor``: DuckDB's ``read_json(..., format='newline_delimited')`` projecting
  ``payload.data.output`` of every line (the plain read of the same file);
- ``read``: the file into its candidates and rejects, its steps written as Parquet (the reading
  ``pairs`` does, alone; ``collect_candidates(..., steps_to=...)`` where a streaming reader has it);
- ``pairs``: ``dpo-frames pairs FILE --out DIR`` (steps, candidates, rejects, pairs and the steps
  Parquet written);
- with ``--old REF``: the same two with the code of git ref ``REF`` too (``git archive`` of it into
  a temporary directory, run on this venv), side by side in the same run.

It prints a table (time, ratio to the floor, peak RSS) and, with ``--write-readme``, puts it
under "Step files" in ``benchmarks/README.md``. Run one benchmark at a time on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache" / "step_files"
PYTHON = sys.executable
sys.path.insert(0, str(HERE))

from synth import SynthSpec, format_size, generate, parse_size, stored_steps_frame  # noqa: E402

_FLOOR = """
import duckdb, sys
n = duckdb.sql("SELECT count(o) FROM (SELECT payload.data.output AS o FROM read_json(?, "
               "format='newline_delimited', maximum_object_size=1000000000))", params=[sys.argv[1]]).fetchall()[0]
print(n[0])
"""

# The floor of each kind of file: DuckDB's plain read of it, projecting what holds the candidates (the
# text itself for Parquet: a count of it would read no string).
_FLOORS = {
    "jsonl": _FLOOR,
    "eval_items": """
import duckdb, sys
print(duckdb.sql("SELECT sum(len(trajectory)) FROM read_json(?, format='newline_delimited', "
                 "maximum_object_size=1000000000)", params=[sys.argv[1]]).fetchall()[0][0])
""",
    "workflow_output": """
import duckdb, sys
print(duckdb.sql("SELECT sum(len(intermediate_steps)) FROM read_json(?, format='array', "
                 "maximum_object_size=1000000000)", params=[sys.argv[1]]).fetchall()[0][0])
""",
    "steps_parquet": """
import duckdb, sys
print(duckdb.sql("SELECT sum(strlen(data)) FROM read_parquet(?)", params=[sys.argv[1]]).fetchall()[0][0])
""",
    "candidates_parquet": """
import duckdb, sys
print(duckdb.sql("SELECT sum(strlen(response)) FROM read_parquet(?)", params=[sys.argv[1]]).fetchall()[0][0])
""",
}
KINDS = tuple(_FLOORS)
"""The source kinds measured: JSONL of steps, serialized eval items (JSONL), NAT's workflow_output.json,
a steps Parquet file and a candidates Parquet file (those two from a run of the JSONL)."""


# Reading alone: the file -> its candidates and rejects, and its steps as Parquet (what `pairs` keeps).
_READ = """
import inspect, sys, time
from dpo_frames.candidates.collect import collect_candidates
t = time.perf_counter()
if "steps_to" in inspect.signature(collect_candidates).parameters:
    got = collect_candidates(sys.argv[1], run_id="r", steps_to=sys.argv[2])
else:  # no streaming reader: the whole steps frame, then written
    got = collect_candidates(sys.argv[1], run_id="r", keep_steps=True)
    got.steps_frame.write_parquet(sys.argv[2])
print(f"dpo-frames: reading {got.candidates.height} candidates ({time.perf_counter() - t:.2f} s)", file=sys.stderr)
"""


def steps_file(n: int) -> Path:
    """The JSONL of ``n`` TTC_END steps (written once)."""
    path = CACHE / f"steps_{format_size(n)}.jsonl"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    tables = generate(SynthSpec(n_candidates=n, min_response_chars=20, max_response_chars=400))
    steps = stored_steps_frame(tables).filter(pl.col("event_type") == "TTC_END")

    def quoted(column: str) -> pl.Expr:
        wrapped = pl.struct(pl.col(column).alias("v")).struct.json_encode()
        return wrapped.str.slice(5, wrapped.str.len_bytes() - 6)

    line = pl.concat_str(
        pl.lit('{"run_id":'), quoted("run_id"), pl.lit(',"example_id":'), quoted("example_id"),
        pl.lit(',"payload":{"event_type":'), quoted("event_type"), pl.lit(',"name":'), quoted("name"),
        pl.lit(',"UUID":'), quoted("step_uuid"), pl.lit(',"event_timestamp":'),
        pl.col("event_timestamp").cast(pl.String), pl.lit(',"data":'), pl.col("data"),
        pl.lit(',"metadata":'), pl.col("metadata").fill_null("null"), pl.lit("}}"),
    )  # fmt: skip
    tmp = path.with_suffix(".partial")
    steps.select(line.alias("line")).write_csv(tmp, include_header=False, quote_style="never")
    tmp.rename(path)
    return path


def _grouped_lines(n: int) -> dict[str, list[str]]:
    """The JSONL's lines (kept as they are) by example id, in order of first appearance."""
    import json

    by_example: dict[str, list[str]] = {}
    with steps_file(n).open(encoding="utf-8") as f:
        for line in f:
            by_example.setdefault(json.loads(line)["example_id"], []).append(line.rstrip("\n"))
    return by_example


def kind_file(kind: str, n: int, runs: Path) -> Path:
    """The file of ``kind`` holding the ``n`` steps of :func:`steps_file` (written once, beside it)."""
    if kind == "jsonl":
        return ensure_file(n)
    if kind in ("steps_parquet", "candidates_parquet"):  # what `dpo-frames pairs` wrote of the JSONL
        name = kind.removesuffix("_parquet")
        path = CACHE / f"{name}_{format_size(n)}.parquet"
        if not path.exists():
            out = runs / f"source-{format_size(n)}"
            subprocess.run([PYTHON, "-m", "dpo_frames", "--quiet", "pairs", str(ensure_file(n)), "--out", str(out),
                            "--run-id", "r"], check=True)  # fmt: skip
            (out / f"{name}.parquet").rename(path)
        return path
    path = _json_kind_path(kind, n)
    if not path.exists():  # in a process of its own, as ensure_file says why
        subprocess.run([PYTHON, __file__, "--write-kind", kind, str(n)], check=True)
    return path


def _json_kind_path(kind: str, n: int) -> Path:
    return CACHE / f"{kind}_{format_size(n)}.{'jsonl' if kind == 'eval_items' else 'json'}"


def _write_json_kind(kind: str, n: int) -> None:
    """Write the eval-item JSONL or the workflow_output.json of :func:`kind_file` (about 1.3 GB of lines held
    per 1M steps while it is written)."""
    import json

    path = _json_kind_path(kind, n)
    tmp = path.with_suffix(".partial")
    with tmp.open("w", encoding="utf-8") as f:
        items = _grouped_lines(n).items()
        if kind == "eval_items":  # one serialized EvalInputItem a line
            for example, lines in items:
                f.write(f'{{"id":{json.dumps(example)},"trajectory":[{",".join(lines)}]}}\n')
        else:  # NAT's workflow_output.json: one JSON list of items, each with its intermediate steps
            f.write("[\n")
            for i, (example, lines) in enumerate(items):
                f.write(
                    ("," if i else "") + f'{{"id":{json.dumps(example)},"intermediate_steps":[{",".join(lines)}]}}\n'
                )
            f.write("]\n")
    tmp.rename(path)


def big_file(n: int) -> Path:
    """A JSONL of ``n`` steps (a multiple of a million) made of copies of the 1M file, each copy's example
    ids prefixed (``c3-ex17``) so that every copy's turns are turns of their own."""
    path = CACHE / f"steps_{format_size(n)}.jsonl"
    if path.exists():
        return path
    one = ensure_file(1_000_000)
    tmp = path.with_suffix(".partial")
    with tmp.open("wb") as out:
        for copy in range(n // 1_000_000):
            with one.open("rb") as f:
                for block in iter(lambda: f.read(64 << 20), b""):
                    head, _, tail = block.rpartition(b"\n")  # whole lines only: the rest goes with the next block
                    out.write(head.replace(b'"example_id":"', f'"example_id":"c{copy}-'.encode()) + b"\n")
                    if tail:
                        f.seek(-len(tail), 1)
    tmp.rename(path)
    return path


def run_big(n: int) -> list[dict[str, object]]:
    """Goal 2 of issue 18: ``n`` steps through ``dpo-frames pairs`` (the run directory), then ``dpo-frames
    build`` of its candidates (pairs, dataset and the Customizer JSONL, out of core; one pair a turn, so the
    JSONL of a 20M-step file fits the disk)."""
    path = big_file(n)
    rows = []
    with tempfile.TemporaryDirectory(dir=CACHE) as out:
        floor = measure([PYTHON, "-c", _FLOOR, str(path)])
        commands = {
            "floor (DuckDB read)": None,
            "dpo-frames pairs FILE": ["pairs", str(path), "--out", f"{out}/run", "--run-id", "r"],
            "dpo-frames build RUN/candidates.parquet --max-pairs-per-turn 1": [
                "build", f"{out}/run/candidates.parquet", "--out", f"{out}/dataset", "--max-pairs-per-turn", "1"],
        }  # fmt: skip
        for side, argv in commands.items():
            seconds, peak, err = floor if argv is None else measure([PYTHON, "-m", "dpo_frames", *argv])
            row = {"steps": format_size(n), "kind": "jsonl", "MB": round(path.stat().st_size / 1e6), "side": side}
            row |= {"seconds": round(seconds, 2), "x floor": round(seconds / floor[0], 1), "peak MiB": round(peak)}
            rows.append(row | {"stages (s)": stages(err)})
            print(rows[-1], flush=True)
        with open(f"{out}/dataset/training/training_file.jsonl", "rb") as f:
            lines = sum(1 for _ in f)
        print(f"training_file.jsonl: {lines:,} lines", flush=True)
    return rows


def ensure_file(n: int) -> Path:
    """:func:`steps_file`, in a process of its own: the generator's memory is not this process's, whose
    size every measured child would otherwise start with (a forked child's peak RSS counts it)."""
    path = CACHE / f"steps_{format_size(n)}.jsonl"
    if not path.exists():
        subprocess.run([PYTHON, __file__, "--write-file", str(n)], check=True)
    return path


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MiB, what it wrote to stderr) of one process."""
    t0 = time.perf_counter()
    # Run from the cache directory: run from the checkout, `python -m`/`-c` would put it first on sys.path,
    # ahead of the PYTHONPATH that points --old at the other code.
    proc = subprocess.Popen(argv, env=env, cwd=CACHE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode:
        raise RuntimeError(f"{argv} failed ({proc.returncode}): {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, err


def stages(err: str) -> str:
    """The stage times ``dpo-frames`` reported: ``read 3.1 + pairs 0.2 + write 0.5``."""
    found = re.findall(r"dpo-frames: (reading|building|writing) [^\n]*\((\d+\.\d+) s\)", err)
    names = {"reading": "read", "building": "pairs", "writing": "write"}
    return " + ".join(f"{names[name]} {s}" for name, s in found)


def old_tree(ref: str) -> Path:
    """main's code at ``ref`` (the package only), to run the old path on this venv."""
    out = Path(tempfile.mkdtemp(prefix="dpo-frames-old-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "dpo_frames"], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def run(sizes: list[int], old_ref: str | None, kinds: list[str]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    old = old_tree(old_ref) if old_ref else None
    cli = [PYTHON, "-m", "dpo_frames"]
    env = {**os.environ, "PYTHONPATH": str(old)} if old is not None else None
    for n in sizes:
        for kind in kinds:
            with tempfile.TemporaryDirectory(dir=CACHE) as out:
                path = kind_file(kind, n, Path(out))
                mb = path.stat().st_size / 1e6
                floor = measure([PYTHON, "-c", _FLOORS[kind], str(path)])
                sides = {"floor (DuckDB read)": floor}
                if kind == "jsonl":
                    sides["read: candidates + steps.parquet (this checkout)"] = measure(
                        [PYTHON, "-c", _READ, str(path), f"{out}/s"]
                    )
                    if env is not None:
                        sides["read: candidates + steps.parquet (--old)"] = measure(
                            [PYTHON, "-c", _READ, str(path), f"{out}/s"], env
                        )
                new = [*cli, "pairs", str(path), "--out", f"{out}/new", "--run-id", "r"]
                sides["dpo-frames pairs (this checkout)"] = measure(new)
                if env is not None:
                    sides["dpo-frames pairs (--old)"] = measure([*new[:-3], f"{out}/old", "--run-id", "r"], env)
            for side, (seconds, peak, err) in sides.items():
                row = {"steps": format_size(n), "kind": kind, "MB": round(mb), "side": side}
                row |= {"seconds": round(seconds, 2), "x floor": round(seconds / floor[0], 1), "peak MiB": round(peak)}
                rows.append(row | {"stages (s)": stages(err)})
                print(rows[-1], flush=True)
    return rows


def table(rows: list[dict[str, object]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(r[h]) for h in head) + " |" for r in rows]
    return "\n".join(lines)


def merged(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """``rows`` over those of earlier runs (``results/step_files.json``, kept), by size and side."""
    import json

    stored = HERE / "results" / "step_files.json"
    earlier = json.loads(stored.read_text()) if stored.exists() else []
    earlier = [r for r in earlier if "kind" in r]  # rows from before every kind was measured: superseded
    new = {(r["steps"], r["kind"], r["side"]) for r in rows}
    every = [r for r in earlier if (r["steps"], r["kind"], r["side"]) not in new] + rows
    order = ["floor", "read: candidates + steps.parquet (this checkout)", "read: candidates + steps.parquet (--old)"]
    order += [
        "dpo-frames pairs (this checkout)",
        "dpo-frames pairs (--old)",
        "dpo-frames pairs FILE",
        "dpo-frames build",
    ]
    every.sort(
        key=lambda r: (
            parse_size(str(r["steps"])),
            KINDS.index(str(r["kind"])),
            next(i for i, o in enumerate(order) if str(r["side"]).startswith(o)),
        )
    )
    stored.write_text(json.dumps(every, indent=1) + "\n")
    return every


_INTRO = """\
`dpo-frames pairs` on each kind of step file, against DuckDB's plain read of the same file (the
floor: `read_json` projecting what holds the candidates for the JSON kinds, the text column for
the Parquet ones), each in its own process (wall time, peak RSS from `wait4`), the code of
another git ref (`--old REF`) side by side in the same run:

    .venv/bin/python benchmarks/step_files.py --sizes 100k,1M --old REF --write-readme
    .venv/bin/python benchmarks/step_files.py --sizes 2M --old REF --write-readme
    .venv/bin/python benchmarks/step_files.py --big 20M --write-readme    # goal 2: pairs, then build

Files (written once, cached in `benchmarks/.cache/step_files/`): a JSONL of TTC_END steps a size
from `synth.py`'s tables (message prompts, 20-400 character responses, about 1.2 kB a line), the
same steps as serialized eval items (JSONL) and as NAT's `workflow_output.json`, and the steps and
candidates Parquet files `dpo-frames pairs` writes of the JSONL. `x floor` is the time over the
floor of the same file in the same run; the stages are those `dpo-frames pairs` reports (`--old`
refs before the streaming reader also report a write stage). Rows of earlier runs are kept in
`results/step_files.json`; compare within a run (a shared machine varies by 2x between days).
"""


_NOTES = """\
Measured 2026-12-04 on 2 cores (Intel Xeon), 23 GiB, a quiet machine: this checkout at 914ec90
(JSONL rows and 100k) and 21e004c (the other 1M and 2M rows; the same code but the duplicate rule's
lookup, see below) against 360bce3 (`--old`: parts of the candidates split into files before they
are paired). Where the time goes:

- `pairs` (the pair stage): candidates written by a step reader hold each turn's candidates one
  after the other, so every part of the pair build is a run of rows of the candidates file, read
  in place; before, every candidate was first written again into a part file (half the stage).
  1M 9.1 -> 4.5 s, 2M 17.1 -> 10.4 s (JSONL rows); the split into files stays for files whose
  turns interleave.
- `read` of a JSONL (1M: 16.9 s): two threads, both busy. One parses each line (orjson) and
  writes its `data` and `metadata` back as JSON text (the steps Parquet keeps them as text); the
  other runs DuckDB's candidate rules over that text and the Parquet writers: alone, on the steps
  Parquet of the same steps, that is 11.6 s at 1M. The 5x goal needs less work on both threads
  (the rules on the parsed values rather than on re-encoded text, as the in-memory path does).
- Peaks: every row is under 2 GB now. Two causes of the earlier figures: pyarrow's `ParquetFile`
  pre-buffers by default, and its batch iterator then keeps every row group read until the file
  is closed (the whole compressed file: 3.2 GB of candidates at 20M); batches are now read without
  it. And the harness: a forked child's peak RSS (`ru_maxrss` from `wait4`) starts at its parent's
  high-water mark, and the harness wrote the eval-item and workflow_output files in its own
  process (1.3 GB of lines per 1M steps), so every later row's peak was at least that: the
  2.7-2.9 GB peaks of the 2M eval-item and Parquet rows in earlier tables. Those files are now
  written in a process of their own. The 1M eval-item floor (1349 MiB) is from before that fix.
- Noise: this checkout ran first for each kind. At 100k (below the part size) nothing changed but
  the duplicate rule's sort (milliseconds), and its rows differ by up to 0.8 s either way; the
  `read` rows of 1M and 2M too. Alternating runs of the reads alone (`collect_candidates`, 1M)
  agree within that: JSONL 15.0 and 16.6 s at 21e004c against 15.6 and 15.7 s at 914ec90, steps
  Parquet 8.2 and 10.6 s at 360bce3 against 8.3 and 10.1 s.

The 20M rows (`--big 20M`): twenty copies of the 1M file (example ids prefixed per copy), 24.4 GB,
through `pairs` (46,551,880 pairs, twenty times the 1M run's) and `build` of its candidates (one
pair a turn; the copies' identical pairs are deduplicated, so the dataset holds 157,532 training
lines). At 314e029 (2026-12-03) `pairs` took 1184 s (read 653 + pairs 529) with a 5.8 GB peak and
`build` 212 s; at 8f964ad (parts read in place, no pre-buffering) 421 s (read 334 + pairs 86),
2.1 GB. The duplicate rule's memory of the steps read (two 64-bit hashes a step) was looked up
with random probes of its sorted arrays: 73 s of the 20M read, 15 s now that each batch's keys are
sorted first (914ec90). The 20M floor varies with what of the 24 GB file the page cache holds
(17-32 s between runs); `build`'s peak (6.4 GB) is the out-of-core dataset build's own.
"""


def write_readme(text: str) -> None:
    readme = HERE / "README.md"
    body = readme.read_text()
    marker = "## Step files"
    section = f"{marker}\n\n{_INTRO}\n{text}\n\n{_NOTES}"
    if marker in body:
        start = body.index(marker)
        end = body.find("\n## ", start + len(marker))
        body = body[:start] + section + (body[end:] if end != -1 else "")
    else:
        body = body.rstrip("\n") + "\n\n" + section
    readme.write_text(body)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100k,1M")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"of {', '.join(KINDS)} [default: all]")
    parser.add_argument("--old", nargs="?", const="main", dest="old_ref", help="also run this git ref's code")
    parser.add_argument("--write-readme", action="store_true")
    parser.add_argument("--write-file", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--write-kind", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--big", help="one size (20M): pairs, then build, of copies of the 1M file (goal 2)")
    args = parser.parse_args()
    if args.write_file:
        steps_file(args.write_file)
        return 0
    if args.write_kind:
        _write_json_kind(args.write_kind[0], int(args.write_kind[1]))
        return 0
    if args.big:
        rows = run_big(parse_size(args.big))
        print(table(rows))
        if args.write_readme:
            write_readme(table(merged(rows)))
        return 0
    kinds = args.kinds.split(",")
    if unknown := set(kinds) - set(KINDS):
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    rows = run([parse_size(s) for s in args.sizes.split(",")], args.old_ref, kinds)
    print(table(rows))
    if args.write_readme:
        write_readme(table(merged(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
