"""Commands on runs: ``pairs``, ``dataset``, ``stats``, ``sql``, ``report``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
import polars as pl
from pydantic import ValidationError

from dpo_frames import layout, rundir
from dpo_frames._atomic import atomic_dir, atomic_path, clean_leftovers
from dpo_frames.candidates import extract_candidates, summarize_steps
from dpo_frames.cli.console import err_console, frame_table, mapping_table, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, CliError, one_line, reraise_as
from dpo_frames.dataset import FORMATS, DedupMode, Format, finalize_dataset, write_dataset
from dpo_frames.explore import sql
from dpo_frames.explore.quality import QualityReport, quality_checks
from dpo_frames.pairs import PairConfig, PairStrategy, build_pairs
from dpo_frames.rundir import DatasetInfo, DirKind, RunDir, RunRecord, open_dir, write_frames, write_record
from dpo_frames.steps import read_steps

__all__ = ["dataset_command", "pairs_command", "report_command", "sql_command", "stats_command", "upgrade_command"]

INPUT_ERRORS: tuple[type[BaseException], ...] = (OSError, UnicodeDecodeError, pl.exceptions.PolarsError)
"""What a library raises while it reads a bad input file (dpo_frames' own errors map to exit codes by class)."""


def _field(name: str) -> Any:
    return PairConfig.model_fields[name]


def _help(name: str) -> str:
    return f"{_field(name).description} [PairConfig.{name}]"


def _prepare_output(target: Path, overwrite: bool) -> None:
    """Refuse an output that may not be replaced; remove what killed writers left beside it."""
    rundir.check_replaceable(target, overwrite=overwrite)
    clean_leftovers(target.parent)


def _pair_config(options: dict[str, Any]) -> PairConfig:
    options = {k: v for k, v in options.items() if not (k in ("exhaustive_pairs", "strategy") and v is None)}
    try:
        return PairConfig(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        hint = f"--{str(err['loc'][0]).replace('_', '-')}" if err["loc"] else "--strategy"  # model-level: the pair
        raise click.BadParameter(err["msg"].removeprefix("Value error, "), param_hint=hint) from None


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
    "--ttc-step-name", default=_field("ttc_step_name").default, show_default=True, help=_help("ttc_step_name")
)
@click.option(
    "--exhaustive-pairs/--best-vs-worst", default=None, help=f"{_help('exhaustive_pairs')} [default: exhaustive]"
)
@click.option("--strategy", type=click.Choice([s.value for s in PairStrategy]), default=None, help=_help("strategy"))
@click.option(
    "--seed", type=click.IntRange(min=0), default=_field("seed").default, show_default=True, help=_help("seed")
)
@click.option(
    "--max-candidates-per-turn", type=click.IntRange(min=2), default=None, help=_help("max_candidates_per_turn")
)
@click.option(
    "--min-score-diff",
    type=click.FloatRange(min=0.0),
    default=_field("min_score_diff").default,
    show_default=True,
    help=_help("min_score_diff"),
)
@click.option(
    "--max-pairs-per-turn",
    type=click.IntRange(min=1),
    default=_field("max_pairs_per_turn").default,
    help=_help("max_pairs_per_turn"),
)
@click.option(
    "--reward-from-score-diff/--reward-from-chosen-score",
    default=_field("reward_from_score_diff").default,
    show_default=True,
    help=_help("reward_from_score_diff"),
)
@click.option(
    "--require-multiple-candidates/--allow-single-candidate",
    default=_field("require_multiple_candidates").default,
    show_default=True,
    help=_help("require_multiple_candidates"),
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
    config = _pair_config(options)
    _prepare_output(out, overwrite)
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


@click.command("dataset")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="customizer",
    show_default=True,
    help="customizer: NeMo Customizer DPO files; trl: TRL prompt/chosen/rejected strings; "
    "trl-conversational: TRL with message lists; nemo-rl-binary: NeMo RL prompt/chosen/rejected; "
    "nemo-rl-rank: NeMo RL context/completions; openai: OpenAI preference fine-tuning.",
)
@click.option(
    "--rewards",
    is_flag=True,
    help="Add chosen_reward and rejected_reward (the scores) to every record (not with --format openai).",
)
@click.option(
    "--dedup-mode",
    type=click.Choice([m.value for m in DedupMode]),
    default=DedupMode.EXACT.value,
    show_default=True,
    help="How --dedup compares texts: exact, normalized (trimmed, message lists as canonical JSON) or "
    "casefold (normalized and lower-cased).",
)
@click.option(
    "--out",
    "-o",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Directory of the dataset [default: RUN_DIR/datasets/FORMAT].",
)
@click.option("--max-pairs", type=click.IntRange(min=1), default=None, help="Keep a seeded sample of N pairs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --max-pairs sample.")
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of prompts whose pairs go to validation (split by prompt text).",
)
@click.option(
    "--dedup/--no-dedup", default=True, show_default=True, help="Keep one pair per (prompt, chosen, rejected)."
)
@click.option(
    "--full-message-history",
    is_flag=True,
    help="customizer format: the prompt is the whole message list, not the last message.",
)
@click.option("--overwrite", is_flag=True, help="Replace the output directory when dpo-frames wrote it.")
def dataset_command(
    run_dir: Path,
    fmt: Format,  # click.Choice(FORMATS)
    rewards: bool,
    dedup_mode: str,
    out: Path | None,
    max_pairs: int | None,
    seed: int,
    validation_fraction: float,
    dedup: bool,
    full_message_history: bool,
    overwrite: bool,
) -> None:
    """Deduplicate, sample and split the pairs of RUN_DIR into a dataset directory.

    RUN_DIR is any directory dpo-frames wrote (a run, a build, a dataset export). The
    dataset directory (--out) gets the JSONL files of the format, dataset.parquet (the
    pairs with their split) and its record: where its pairs came from, with which
    settings, the split sizes. RUN_DIR itself is not changed.

    \b
    Example:
      dpo-frames dataset runs/r1 --max-pairs 10000 --seed 1
      dpo-frames dataset runs/r1 --format nemo-rl-binary --rewards --dedup-mode normalized
      dpo-frames submit runs/r1/datasets/customizer --namespace team --dataset-name ttt
    """
    if full_message_history and fmt != "customizer":
        raise click.UsageError("--full-message-history only applies to --format customizer")
    if rewards and fmt == "openai":
        raise click.UsageError("--rewards does not apply to --format openai (its format has no reward fields)")
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        run = open_dir(run_dir)
        pairs = _pairs_of(run)
    out = out or run_dir / layout.DATASETS_DIR / fmt
    _prepare_output(out, overwrite)
    options = {
        "deduplicate": dedup,
        "dedup_mode": dedup_mode,
        "max_pairs": max_pairs,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "use_full_message_history": full_message_history,
        "rewards": rewards,
    }
    with reraise_as(EXIT_FAILURE, OSError, prefix="cannot write the dataset: "), stages(err_console()) as stage:
        with stage("finalizing dataset"):
            dataset, dataset_stats = finalize_dataset(
                pairs,
                deduplicate=dedup,
                max_pairs=max_pairs,
                seed=seed,
                validation_fraction=validation_fraction,
                dedup_mode=dedup_mode,
            )
        with stage(f"writing {fmt} files"), atomic_dir(out) as tmp:
            written = write_dataset(dataset, tmp, fmt, use_full_message_history=full_message_history, rewards=rewards)
            frames = write_frames(tmp, dataset=dataset)
            info = DatasetInfo(
                format=fmt,
                stats=dataset_stats,
                options=options,
                source=str(run.path.resolve()),
                files={split: path.relative_to(tmp).as_posix() for split, path in written.items()},
            )
            write_record(tmp, dataset_record(run, info, rundir.frame_entries(frames), producer="dpo-frames dataset"))
    console = out_console()
    console.print(mapping_table(dataset_stats.model_dump(), title=f"dataset of {run.title}"))
    for split, path in written.items():
        console.print(f"{split}: {out / path.relative_to(tmp)}")


def _pairs_of(run: RunDir) -> pl.LazyFrame:
    """The pairs of a directory: its pairs frame, else (a dataset export) its dataset's pairs."""
    pairs = run.frame("pairs")
    if pairs is not None:
        return pairs
    dataset = run.frame("dataset")
    if dataset is not None:
        return dataset.drop("split")
    raise CliError(
        f"{run.path} holds no pairs (its frames: {', '.join(run.record.frames) or 'none'}); "
        f"build them with `dpo-frames pairs SOURCE --out DIR`"
    )


def dataset_record(run: RunDir, info: DatasetInfo, frames: dict[str, list[str]], *, producer: str) -> RunRecord:
    """The record of a dataset made from the pairs of ``run``: its own files, the run's provenance."""
    source = run.record
    return RunRecord(
        kind=DirKind.DATASET,
        producer=producer,
        run_ids=source.run_ids,
        sources=[str(run.path.resolve())],
        config=source.config,
        steps=source.steps,
        candidates=source.candidates,
        rejects=source.rejects,
        rejects_by_reason=source.rejects_by_reason,
        pair_stats=source.pair_stats,
        dataset=info,
        frames=frames,
    )


def run_quality(run: RunDir) -> QualityReport | None:
    """The quality checks of a directory's frames (scanned, not loaded); None without any."""
    frames = {name: run.frame(name) for name in ("candidates", "pairs", "dataset")}
    return quality_checks(**frames) if any(f is not None for f in frames.values()) else None


@click.command("stats")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the directory's record as JSON (for scripts).")
def stats_command(run_dir: Path, as_json: bool) -> None:
    """Show what a run read, kept and skipped: counts, pair and dataset statistics, rejects by reason.

    RUN_DIR is any directory dpo-frames wrote: a run, a dataset export, a build, a NAT run.
    """
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        run = open_dir(run_dir)
        info = run.record
        rejects = (
            sql.query("rejects_by_reason", run_dir)
            if run.has("rejects")
            else pl.DataFrame(
                {"reason": list(info.rejects_by_reason), "rejects": list(info.rejects_by_reason.values())},
                schema={"reason": pl.String, "rejects": pl.Int64},
            )
        )
        quality = run_quality(run)
    if as_json:
        click.echo(info.to_json(), nl=False)
        return
    console = out_console()
    about = {
        "kind": info.kind.value,
        "run ids": ", ".join(info.run_ids) or None,
        "sources": ", ".join(info.sources) or None,
        "written by": info.producer,
        "created": info.created_at,
        "dpo_frames": info.dpo_frames_version,
        "steps": info.steps,
        "candidates": info.candidates,
        "rejects": info.rejects,
    }
    about.update({f"config: {k}": v for k, v in (info.config.model_dump() if info.config else {}).items()})
    about.update({k: v for k, v in info.extra.items() if v is not None})
    console.print(mapping_table(about, title=f"{info.kind.value} {run.title}"))
    if info.pair_stats is not None:
        console.print(mapping_table(info.pair_stats.model_dump(), title="pairs", value="count"))
    if info.dataset is not None:
        ds = info.dataset
        files = {f"file: {split}": str(path) for split, path in run.dataset_files().items()}
        console.print(mapping_table({**ds.stats.model_dump(), "format": ds.format, **files}, title="dataset"))
    console.print(frame_table(rejects, title="rejects by reason"))
    if info.steps_by_type:
        console.print(frame_table(pl.DataFrame(info.steps_by_type), title="steps by type"))
    if quality is not None:
        console.print(mapping_table(quality.rows(), title="quality checks"))
        for warning in quality.warnings:
            console.print(f"[yellow]warning:[/] {warning}")
    if not run.has_record and (run.path / layout.LEGACY_STATS_FILE).is_file():
        click.echo(f"note: written by dpo_frames 0.1.0; `dpo-frames upgrade {run_dir}` writes its record")


@click.command("upgrade")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
def upgrade_command(run_dirs: tuple[Path, ...]) -> None:
    """Write the record of directories written by dpo_frames 0.1.0 (their files are left as they are).

    Afterwards every command reads and writes them like new ones (and --overwrite may
    replace them).
    """
    for run_dir in run_dirs:
        with reraise_as(EXIT_FAILURE, OSError, prefix=f"cannot write {run_dir}: "):
            path = rundir.upgrade(run_dir)
        out_console().print(f"wrote {path}")


def _list_examples(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    console = out_console()
    for example in sql.EXAMPLES.values():
        console.print(f"[bold]{example.name}[/] ({', '.join(example.needs)}): {example.description}")
        console.print(example.sql, highlight=False, markup=False)
        console.print()
    ctx.exit(0)


def _write_atomic(frame: pl.DataFrame, path: Path, kind: str) -> None:
    with atomic_path(path) as tmp:
        if kind == "csv":
            frame.write_csv(tmp)
        else:
            frame.write_parquet(tmp)


@click.command("sql")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("query")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the result as CSV.")
@click.option(
    "--parquet", "parquet_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the result as Parquet."
)
@click.option(
    "--max-rows", type=click.IntRange(min=1), default=50, show_default=True, help="Rows printed (files get every row)."
)
@click.option(
    "--list-examples",
    is_flag=True,
    is_eager=True,
    expose_value=False,
    callback=_list_examples,
    help="Show the example queries and exit.",
)
def sql_command(
    run_dirs: tuple[Path, ...], query: str, csv_path: Path | None, parquet_path: Path | None, max_rows: int
) -> None:
    """Run a DuckDB SQL QUERY over the frames of one or more run directories.

    Views: steps, candidates, rejects, pairs, dataset (those the runs have; several runs
    are unioned). QUERY may be the name of an example query (see --list-examples), or
    "-" to read it from stdin. Parquet files are scanned, not loaded.

    \b
    Examples:
      dpo-frames sql runs/r1 "SELECT turn_id, count(*) FROM pairs GROUP BY ALL"
      dpo-frames sql runs/r1 runs/r2 duplicate_pairs --csv dups.csv
    """
    if csv_path and parquet_path:
        raise click.UsageError("give --csv or --parquet, not both")
    text = sys.stdin.read() if query == "-" else query
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS):
        with stages(err_console()) as stage, stage("running query"):
            result = sql.query(text, list(run_dirs))
        target, kind = (csv_path, "csv") if csv_path else (parquet_path, "parquet")
        if target is not None:
            try:
                _write_atomic(result, target, kind)
            except pl.exceptions.ComputeError as exc:
                hint = "use --parquet, or select text columns"
                raise CliError(f"cannot write {target}: {one_line(exc)} ({hint})") from None
    if target is not None:
        out_console().print(f"wrote {result.height} rows to {target}")
    else:
        out_console().print(frame_table(result, max_rows=max_rows))


@click.command("report")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file to write [default: RUN_DIR/report.html].",
)
def report_command(run_dir: Path, out: Path | None) -> None:
    """Write a self-contained HTML page of charts about a run (works offline).

    Statistics, score distribution per turn index, margin (score_diff) distribution of
    the pairs, pairs per example and rejects by reason.
    """
    from dpo_frames.explore import report  # altair is slow to import; only this command needs it

    out = out or run_dir / "report.html"
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        data = report.load_run(run_dir)
    with (
        reraise_as(EXIT_FAILURE, OSError, prefix=f"cannot write {out}: "),
        stages(err_console()) as stage,
        stage("drawing charts"),
    ):
        report.write_report(data, out)
    out_console().print(f"wrote {out}")
