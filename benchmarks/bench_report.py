"""The HTML report at size: how long it takes to write, how large the page is, how fast Chromium opens it.

    .venv/bin/python benchmarks/bench_report.py --candidates 100k [--embed-pairs 2000]

Generates the synthetic NAT steps of ``synth.py`` (seed 0), runs ``dpo-frames pairs`` and
``dpo-frames dataset`` on them, then ``dpo-frames report`` on the dataset export, and opens the
page in headless Chromium with the network cut (the DevTools driver of the browser tests,
``tests/explore/browser.py``), timing from the navigation to the moment every chart is drawn
and the pair browser is ready. Also opens the bundled example's report. Prints one JSON line
per page; the page stays in ``--out`` (default ``.tmp/bench-report``) for a look.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import synth  # noqa: E402

from dpo_frames.cli import cli  # noqa: E402
from tests.explore.browser import Browser  # noqa: E402

READY = "document.body.dataset.rendered !== undefined && document.body.dataset.pairsReady !== undefined"


def run(*args: str) -> float:
    start = time.perf_counter()
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"dpo-frames {' '.join(args)} failed: {result.output}")
    return time.perf_counter() - start


def open_seconds(page: Path) -> tuple[float, int, list[str]]:
    """Seconds from navigation to drawn charts and a ready pair browser (in a browser already started)."""
    with Browser(width=1400, height=1000) as browser:
        start = time.perf_counter()
        tab = browser.open(page)
        tab.wait_for(READY)
        seconds = time.perf_counter() - start
        return seconds, int(tab.eval("document.body.dataset.pairsReady")), tab.errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", default="100k")
    parser.add_argument("--embed-pairs", default="2000")
    parser.add_argument("--out", type=Path, default=ROOT / ".tmp" / "bench-report")
    args = parser.parse_args()
    n = synth.parse_size(args.candidates)
    out = args.out / synth.format_size(n)
    out.mkdir(parents=True, exist_ok=True)
    steps = out / "steps.parquet"
    if not steps.is_file():
        synth.stored_steps_frame(synth.generate(synth.SynthSpec(n))).write_parquet(steps)
    pairs_s = run("pairs", str(steps), "--out", str(out / "run"), "--overwrite")
    dataset_s = run("dataset", str(out / "run"), "--overwrite")
    exported = out / "run" / "datasets" / "customizer"
    report_s = run("report", str(exported), "--embed-pairs", args.embed_pairs)
    page = exported / "report.html"
    seconds, embedded, errors = open_seconds(page)
    record = json.loads((exported / "dpo_frames.json").read_text())
    print(
        json.dumps(
            {
                "page": str(page),
                "candidates": n,
                "dataset_pairs": record["dataset"]["stats"]["pairs"],
                "embedded_pairs": embedded,
                "page_bytes": page.stat().st_size,
                "pairs_s": round(pairs_s, 2),
                "dataset_s": round(dataset_s, 2),
                "report_s": round(report_s, 2),
                "chromium_open_s": round(seconds, 2),
                "console_errors": errors,
            }
        )
    )
    example = args.out / "example"
    run("pairs", str(ROOT / "examples/tictactoe/data/workflow_output.json"), "--out", str(example), "--overwrite")
    report_s = run("report", str(example))
    seconds, embedded, errors = open_seconds(example / "report.html")
    size = (example / "report.html").stat().st_size
    print(json.dumps({"page": str(example / "report.html"), "embedded_pairs": embedded, "page_bytes": size,
                      "report_s": round(report_s, 2), "chromium_open_s": round(seconds, 2), "console_errors": errors}))  # fmt: skip


if __name__ == "__main__":
    main()
