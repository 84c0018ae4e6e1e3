"""Run the example through NAT's own evaluation and keep NAT's ``workflow_output.json``.

    python -m dpo_frames_tictactoe.make_sample --out examples/tictactoe/data/workflow_output.json

The evaluation runs in process with ``nvidia-nat-eval`` (the same code path as
``nat eval``); NAT writes into a throw-away directory (it wipes its output directory at
the start of every run), and the ``workflow_output.json`` it wrote is copied to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import TicTacToeError

if TYPE_CHECKING:
    from nat.data_models.evaluate_runtime import EvaluationRunOutput

EXAMPLE_DIR = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = EXAMPLE_DIR / "configs" / "eval.yml"
DEFAULT_DATASET = EXAMPLE_DIR / "data" / "positions.json"


class SampleError(TicTacToeError, RuntimeError):
    """The evaluation did not produce the expected output."""


@dataclass(frozen=True, slots=True)
class SampleSummary:
    """What a sample run produced."""

    path: Path
    items: int
    ttc_end_steps: int


async def run_example_eval(
    *,
    output_dir: Path,
    config_file: Path = DEFAULT_CONFIG,
    dataset: Path = DEFAULT_DATASET,
    overrides: tuple[tuple[str, str], ...] = (),
) -> EvaluationRunOutput:
    """Run ``nat eval`` in process on the example; NAT writes (and first wipes) ``output_dir``.

    ``overrides`` are ``nat eval -o`` pairs, e.g. ``(("workflow.seed", "1"),)``.
    """
    from nat.data_models.evaluate_runtime import EvaluationRunConfig
    from nat.plugins.eval.runtime.evaluate import EvaluationRun

    for path in (config_file, dataset):
        if not Path(path).is_file():
            raise SampleError(f"file not found: {path}")
    all_overrides = (
        ("eval.general.dataset.file_path", str(Path(dataset).resolve())),
        ("eval.general.output.dir", str(Path(output_dir).resolve())),
        *overrides,
    )
    run_config = EvaluationRunConfig(config_file=Path(config_file), override=all_overrides)
    return await EvaluationRun(config=run_config).run_and_evaluate()


def make_sample(
    out: Path,
    *,
    config_file: Path = DEFAULT_CONFIG,
    dataset: Path = DEFAULT_DATASET,
    overrides: tuple[tuple[str, str], ...] = (),
) -> SampleSummary:
    """Run the example evaluation and copy NAT's ``workflow_output.json`` to ``out``."""
    with tempfile.TemporaryDirectory(prefix="dpo_frames_tictactoe_eval_") as tmp:
        result = asyncio.run(
            run_example_eval(
                output_dir=Path(tmp) / "eval", config_file=config_file, dataset=dataset, overrides=overrides
            )
        )
        if result.workflow_interrupted:
            raise SampleError("the workflow failed on at least one item; see the log above")
        written = result.workflow_output_file
        if written is None or not Path(written).is_file():
            raise SampleError("NAT wrote no workflow_output.json (it only does when an evaluator produced a result)")
        records = json.loads(Path(written).read_text(encoding="utf-8"))
        ttc_ends = sum(
            1 for r in records for s in r.get("intermediate_steps", []) if s["payload"]["event_type"] == "TTC_END"
        )
        if ttc_ends == 0:
            raise SampleError(
                "workflow_output.json holds no TTC_END step: does the config set "
                "eval.general.output.workflow_output_step_filter: [TTC_END]?"
            )
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(written, out)
    return SampleSummary(path=out, items=len(records), ttc_end_steps=ttc_ends)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m dpo_frames_tictactoe.make_sample",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write workflow_output.json")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="nat eval config (default: %(default)s)")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, help="positions (default: %(default)s)")
    parser.add_argument(
        "-o",
        "--override",
        nargs=2,
        action="append",
        default=[],
        metavar=("KEY", "VALUE"),
        help="config override as in nat eval, e.g. -o workflow.seed 1",
    )
    args = parser.parse_args(argv)
    try:
        summary = make_sample(
            args.out, config_file=args.config, dataset=args.dataset, overrides=tuple(tuple(o) for o in args.override)
        )
    except TicTacToeError as exc:
        parser.exit(1, f"error: {exc}\n")
    print(f"wrote {summary.path}: {summary.items} items, {summary.ttc_end_steps} TTC_END steps")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
