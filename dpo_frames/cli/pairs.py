"""``dpo-frames pairs``: steps -> candidates, rejects, pairs in a run directory."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import click

from dpo_frames import layout, rundir
from dpo_frames._atomic import atomic_dir
from dpo_frames.cli.console import err_console, mapping_table, out_console, stages
from dpo_frames.cli.empty import no_candidates_message, no_pairs_message
from dpo_frames.cli.errors import EXIT_OUTPUT, reraise_as
from dpo_frames.cli.options import allow_empty_option, pair_config, pair_field, pair_help, prepare_output, strategy_seed
from dpo_frames.cli.sources import Gathered, default_run_ids, expand, gather
from dpo_frames.errors import EmptyResultError
from dpo_frames.pairs import PairConfig, PairStats, PairStrategy
from dpo_frames.rundir import DirKind, RunRecord, write_record
from dpo_frames.scale.pairs_file import pairs_to_file

__all__ = ["pairs_command"]


@click.command("pairs")
@click.argument("sources", nargs=-1, required=True)
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory to create (Parquet frames and its record, dpo_frames.json).",
)
@click.option(
    "--run-id",
    default=None,
    help="Run id of the steps that carry none [default: the run directory's name; with several sources, each "
    "source's path].",
)
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
    "--strategy-seed",
    type=click.IntRange(min=0),
    default=pair_field("seed").default,
    show_default=True,
    help=pair_help("seed"),
)
@click.option("--seed", "old_seed", type=click.IntRange(min=0), default=None, hidden=True)
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
@allow_empty_option
@click.option("--overwrite", is_flag=True, help="Replace RUN_DIR when dpo-frames wrote it.")
def pairs_command(
    sources: tuple[str, ...], out: Path, run_id: str | None, allow_empty: bool, overwrite: bool, **options: Any
) -> None:
    """Read SOURCE(s) and build preference pairs into a run directory.

    Each SOURCE is told by its content: a NAT workflow_output.json, serialized NAT eval
    items (JSONL or JSON), a JSONL or JSON of steps, a steps or candidates Parquet file,
    a directory dpo-frames or the NAT plugin wrote (its candidates are re-paired with these
    settings: collect once, pair many), or a glob of them. Several sources are one dataset
    of several runs, each keeping its run id. Writes steps, candidates, rejects and pairs
    as Parquet, and the run's record, into RUN_DIR (all at once: nothing is left half-written).

    No candidates, or no pairs, is an error (exit 7) that says what was found instead,
    unless --allow-empty; with candidates but no pairs RUN_DIR is still written, to re-pair.

    \b
    Examples:
      dpo-frames pairs workflow_output.json --out runs/r1 --best-vs-worst --min-score-diff 0.1
      dpo-frames pairs runs/r1 --out runs/r1-margin --min-score-diff 0.4
      dpo-frames pairs 'evals/*/workflow_output.json' items.jsonl --out runs/all
    """
    options = strategy_seed(options)
    config = pair_config(options)
    paths = expand(sources)
    run_ids = default_run_ids(paths, run_id, out)
    prepare_output(out, overwrite)
    seconds: dict[str, float] = {}
    # The run directory is built in a temporary sibling from the start: the frames go there as the
    # sources are read (memory holds one batch of steps, then one part of the candidates, at a time).
    with stages(err_console(), seconds) as stage, _writing(out) as tmp:
        with stage("reading sources") as reading:
            gathered = gather(paths, config.ttc_step_name, run_ids, reading, tmp)
        _warn_shared_run_ids(gathered)
        if gathered.candidate_count == 0 and not allow_empty:
            raise EmptyResultError(no_candidates_message(gathered, config.ttc_step_name))
        pairs_file = tmp / layout.frame_file("pairs")
        with stage("building pairs") as building, reraise_as(EXIT_OUTPUT, OSError, prefix=f"cannot write {out}: "):
            pair_stats = pairs_to_file(gathered.candidates, pairs_file, config)
            building.note(f"{pair_stats.pairs:,} pairs from {pair_stats.turns:,} turns")
        entries = {name: [layout.frame_file(name)] for name in ("candidates", "rejects", "pairs")}
        if gathered.steps is not None:
            entries["steps"] = [gathered.steps.name]
        elif gathered.steps_files:
            entries["steps"] = gathered.steps_files  # the source runs' steps, referenced, not copied
        with reraise_as(EXIT_OUTPUT, OSError, prefix=f"cannot write {out}: "):
            write_record(tmp, _record(gathered, paths, config, pair_stats, entries, seconds))
    _print_summary(out, gathered, pair_stats)
    if pair_stats.pairs == 0 and not allow_empty:
        raise EmptyResultError(no_pairs_message(pair_stats, config, out))


@contextmanager
def _writing(out: Path) -> Iterator[Path]:
    """The run directory's temporary sibling (:func:`~dpo_frames._atomic.atomic_dir`), put in place when
    the block succeeds; failing to make or place it is an output error, what the block raises is its own."""
    with reraise_as(EXIT_OUTPUT, OSError, prefix=f"cannot write {out}: "):
        stack = ExitStack()
        tmp = stack.enter_context(atomic_dir(out))
    try:
        yield tmp
    except BaseException:
        stack.__exit__(*sys.exc_info())  # the temporary directory removed
        raise
    with reraise_as(EXIT_OUTPUT, OSError, prefix=f"cannot write {out}: "):
        stack.close()


def _record(
    gathered: Gathered,
    paths: list[Path],
    config: PairConfig,
    pair_stats: PairStats,
    frames: dict[str, list[str]],
    seconds: dict[str, float],
) -> RunRecord:
    return RunRecord(
        kind=DirKind.RUN,
        producer="dpo-frames pairs",
        run_ids=gathered.run_ids,
        sources=[str(p.resolve()) for p in paths],
        config=config,
        steps=gathered.steps_count,
        candidates=gathered.candidate_count,
        rejects=gathered.reject_count,
        rejects_by_reason=gathered.rejects_by_reason(),
        steps_by_type=gathered.summary().to_dicts(),
        pair_stats=pair_stats,
        frames=frames,
        seconds=seconds,
        extra={
            "sources": [
                {
                    "path": str(p.source),
                    "kind": p.kind.value,
                    "steps": p.steps,
                    "candidates": p.candidates,
                    "rejects": p.rejects,
                }
                for p in gathered.parts
            ]
        },
    )


def _warn_shared_run_ids(gathered: Gathered) -> None:
    seen: dict[str, Path] = {}
    for part in gathered.parts:
        for run_id in sorted(part.run_ids):
            if run_id in seen and seen[run_id] != part.source:
                err_console().print(
                    f"[yellow]warning:[/] {seen[run_id]} and {part.source} both hold run {run_id!r}: "
                    "their turns are paired together as one run"
                )
            seen.setdefault(run_id, part.source)


def _print_summary(out: Path, gathered: Gathered, pair_stats: PairStats) -> None:
    counts = {
        "steps": gathered.steps_count,
        "candidates": gathered.candidate_count,
        "rejects": gathered.reject_count,
        "turns": pair_stats.turns,
        "pairs": pair_stats.pairs,
    }
    counts.update({f"skipped: {k}": v for k, v in pair_stats.skipped().items()})
    title = f"run {out.name}" + (f" ({len(gathered.parts)} sources)" if len(gathered.parts) > 1 else "")
    console = out_console()
    console.print(mapping_table(counts, title=title, value="count"))
    click.echo(f"wrote {out}: {', '.join(sorted(rundir.open_dir(out).record.frames))} (.parquet), {layout.RECORD_FILE}")
