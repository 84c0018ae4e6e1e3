"""``dpo-frames pairs``: steps -> candidates, rejects, pairs in a run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dpo_frames import layout, rundir
from dpo_frames._atomic import atomic_dir
from dpo_frames.candidates import extract_candidates, summarize_steps
from dpo_frames.cli.console import err_console, mapping_table, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS, pair_config, pair_field, pair_help, prepare_output
from dpo_frames.pairs import PairStrategy, build_pairs
from dpo_frames.rundir import DirKind, RunRecord, write_frames, write_record
from dpo_frames.steps import read_steps

__all__ = ["pairs_command"]


@click.command("pairs")
@click.argument("source", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory to create (Parquet frames and its record, dpo_frames.json).",
)
@click.option("--run-id", default=None, help="Run id of steps that carry none [default: the run directory's name].")
@click.option(
    "--ttc-step-name", default=pair_field("ttc_step_name").default, show_default=True, help=pair_help("ttc_step_name")
)
@click.option(
    "--exhaustive-pairs/--best-vs-worst", default=None, help=f"{pair_help('exhaustive_pairs')} [default: exhaustive]"
)
@click.option(
    "--strategy", type=click.Choice([s.value for s in PairStrategy]), default=None, help=pair_help("strategy")
)
@click.option(
    "--seed", type=click.IntRange(min=0), default=pair_field("seed").default, show_default=True, help=pair_help("seed")
)
@click.option(
    "--max-candidates-per-turn", type=click.IntRange(min=2), default=None, help=pair_help("max_candidates_per_turn")
)
@click.option(
    "--min-score-diff",
    type=click.FloatRange(min=0.0),
    default=pair_field("min_score_diff").default,
    show_default=True,
    help=pair_help("min_score_diff"),
)
@click.option(
    "--max-pairs-per-turn",
    type=click.IntRange(min=1),
    default=pair_field("max_pairs_per_turn").default,
    help=pair_help("max_pairs_per_turn"),
)
@click.option(
    "--reward-from-score-diff/--reward-from-chosen-score",
    default=pair_field("reward_from_score_diff").default,
    show_default=True,
    help=pair_help("reward_from_score_diff"),
)
@click.option(
    "--require-multiple-candidates/--allow-single-candidate",
    default=pair_field("require_multiple_candidates").default,
    show_default=True,
    help=pair_help("require_multiple_candidates"),
)
@click.option("--overwrite", is_flag=True, help="Replace RUN_DIR when dpo-frames wrote it.")
def pairs_command(source: Path, out: Path, run_id: str | None, overwrite: bool, **options: Any) -> None:
    """Read the steps in SOURCE and build preference pairs into a run directory.

    SOURCE is anything read_steps takes from a file: a NAT workflow_output.json, a JSONL
    file of steps, or a Parquet steps file. Writes steps, candidates, rejects and pairs
    as Parquet, and the run's record, into RUN_DIR (all at once: nothing is left half-written).

    \b
    Example:
      dpo-frames pairs workflow_output.json --out runs/r1 --best-vs-worst --min-score-diff 0.1
      dpo-frames pairs workflow_output.json --out runs/r2 --strategy best_vs_mean_minus_2sd
    """
    config = pair_config(options)
    prepare_output(out, overwrite)
    run_id = run_id or out.resolve().name
    seconds: dict[str, float] = {}
    with (
        reraise_as(EXIT_FAILURE, OSError, prefix=f"cannot write {out}: "),
        atomic_dir(out) as tmp,
        stages(err_console(), seconds) as stage,
    ):
        with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"cannot read steps from {source}: "):
            with stage("reading steps"):
                steps = read_steps(source, run_id=run_id)
            with stage("extracting candidates"):
                candidates, rejects = extract_candidates(steps, config.ttc_step_name)
        with stage("building pairs"):
            pairs, pair_stats = build_pairs(candidates, config)
        with stage("writing frames"):
            written = write_frames(tmp, steps=steps, candidates=candidates, rejects=rejects, pairs=pairs)
        record = RunRecord(
            kind=DirKind.RUN,
            producer="dpo-frames pairs",
            run_ids=[run_id],
            sources=[str(source.resolve())],
            config=config,
            steps=steps.height,
            candidates=candidates.height,
            rejects=rejects.height,
            rejects_by_reason=rundir.rejects_by_reason(rejects),
            steps_by_type=summarize_steps(steps, config.ttc_step_name).to_dicts(),
            pair_stats=pair_stats,
            frames=rundir.frame_entries(written),
            seconds=seconds,
        )
        write_record(tmp, record)
    if candidates.height == 0:
        err_console().print(
            f"[yellow]warning:[/] no candidate steps (TTC_END named {config.ttc_step_name!r}) "
            f"in {source}; see `dpo-frames stats {out}` for the steps by type"
        )
    console = out_console()
    counts = {
        "steps": steps.height,
        "candidates": candidates.height,
        "rejects": rejects.height,
        "turns": pair_stats.turns,
        "pairs": pair_stats.pairs,
    }
    counts.update({f"skipped: {k}": v for k, v in pair_stats.skipped().items()})
    console.print(mapping_table(counts, title=f"run {run_id}", value="count"))
    console.print(f"wrote {out}: steps, candidates, rejects, pairs (.parquet), {layout.RECORD_FILE}")
