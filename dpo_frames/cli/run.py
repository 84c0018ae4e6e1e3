"""Commands on runs: ``pairs``, ``dataset``, ``stats``, ``sql``, ``report``."""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import click
import duckdb
import polars as pl
from pydantic import ValidationError

import dpo_frames
from dpo_frames import rundir, sql
from dpo_frames.cli.console import err_console, frame_table, mapping_table, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, CliError, one_line, reraise_as
from dpo_frames.config import PairConfig, PairStrategy
from dpo_frames.dataset import DedupMode
from dpo_frames.errors import DpoFramesError
from dpo_frames.export import FORMATS, write_dataset
from dpo_frames.quality import QualityReport, quality_checks

__all__ = ["dataset_command", "pairs_command", "report_command", "sql_command", "stats_command"]

INPUT_ERRORS: tuple[type[BaseException], ...] = (
    DpoFramesError, OSError, UnicodeDecodeError, pl.exceptions.PolarsError, duckdb.Error, ValueError)
"""What a bad input file or run directory raises while it is read."""



def _field(name: str) -> Any:
    return PairConfig.model_fields[name]


def _help(name: str) -> str:
    return f"{_field(name).description} [PairConfig.{name}]"


def _refuse_existing(target: Path, overwrite: bool, ours: bool, what: str) -> None:
    """Raise a usage error when ``target`` holds something that may not be replaced."""
    if not target.exists():
        return
    if not target.is_dir():
        raise click.UsageError(f"{target} exists and is not a directory")
    if not any(target.iterdir()):
        return
    if not overwrite:
        raise click.UsageError(f"{target} already exists; pass --overwrite to replace it")
    if not ours:
        raise click.UsageError(f"{target} does not look like {what}; not replacing it (choose another --out)")


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
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run directory to create (Parquet frames and stats.json).")
@click.option("--run-id", default=None, help="Run id of steps that carry none [default: the run directory's name].")
@click.option("--ttc-step-name", default=_field("ttc_step_name").default, show_default=True,
              help=_help("ttc_step_name"))
@click.option("--exhaustive-pairs/--best-vs-worst", default=None,
              help=f"{_help('exhaustive_pairs')} [default: exhaustive]")
@click.option("--strategy", type=click.Choice([s.value for s in PairStrategy]), default=None,
              help=_help("strategy"))
@click.option("--seed", type=click.IntRange(min=0), default=_field("seed").default, show_default=True,
              help=_help("seed"))
@click.option("--max-candidates-per-turn", type=click.IntRange(min=2), default=None,
              help=_help("max_candidates_per_turn"))
@click.option("--min-score-diff", type=click.FloatRange(min=0.0), default=_field("min_score_diff").default,
              show_default=True, help=_help("min_score_diff"))
@click.option("--max-pairs-per-turn", type=click.IntRange(min=1), default=_field("max_pairs_per_turn").default,
              help=_help("max_pairs_per_turn"))
@click.option("--reward-from-score-diff/--reward-from-chosen-score",
              default=_field("reward_from_score_diff").default, show_default=True,
              help=_help("reward_from_score_diff"))
@click.option("--require-multiple-candidates/--allow-single-candidate",
              default=_field("require_multiple_candidates").default, show_default=True,
              help=_help("require_multiple_candidates"))
@click.option("--overwrite", is_flag=True, help="Replace RUN_DIR when it is an earlier run directory.")
def pairs_command(source: Path, out: Path, run_id: str | None, overwrite: bool, **options: Any) -> None:
    """Read the steps in SOURCE and build preference pairs into a run directory.

    SOURCE is anything read_steps takes from a file: a NAT workflow_output.json, a JSONL
    file of steps, or a Parquet steps file. Writes steps, candidates, rejects and pairs
    as Parquet, and stats.json, into RUN_DIR (all at once: nothing is left half-written).

    \b
    Example:
      dpo-frames pairs workflow_output.json --out runs/r1 --best-vs-worst --min-score-diff 0.1
      dpo-frames pairs workflow_output.json --out runs/r2 --strategy best_vs_mean_minus_2sd
    """
    config = _pair_config(options)
    _refuse_existing(out, overwrite, (out / rundir.STATS_FILE).is_file(), "a dpo-frames run directory")
    run_id = run_id or out.resolve().name
    seconds: dict[str, float] = {}
    with reraise_as(EXIT_FAILURE, OSError, prefix=f"cannot write {out}: "), rundir.replace_dir(out) as tmp, \
            stages(err_console(), seconds) as stage:
        with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"cannot read steps from {source}: "):
            with stage("reading steps"):
                steps = dpo_frames.read_steps(source, run_id=run_id)
            with stage("extracting candidates"):
                candidates, rejects = dpo_frames.extract_candidates(steps, config.ttc_step_name)
        with stage("building pairs"):
            pairs, pair_stats = dpo_frames.build_pairs(candidates, config)
        with stage("writing frames"):
            dpo_frames.write_frames(tmp, steps=steps, candidates=candidates, rejects=rejects, pairs=pairs)
        by_reason = rejects.group_by("reason").len().sort(["len", "reason"], descending=[True, False])
        info = rundir.RunInfo(
            dpo_frames_version=dpo_frames.__version__, run_id=run_id, source=str(source.resolve()),
            created_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), config=config,
            steps=steps.height, candidates=candidates.height, rejects=rejects.height,
            rejects_by_reason=dict(by_reason.iter_rows()),
            steps_by_type=dpo_frames.summarize_steps(steps, config.ttc_step_name).to_dicts(),
            pair_stats=pair_stats, seconds=seconds)
        rundir.save_run_info(tmp, info)
    if candidates.height == 0:
        err_console().print(f"[yellow]warning:[/] no candidate steps (TTC_END named {config.ttc_step_name!r}) "
                            f"in {source}; see `dpo-frames stats {out}` for the steps by type")
    console = out_console()
    counts = {"steps": info.steps, "candidates": info.candidates, "rejects": info.rejects,
              "turns": pair_stats.turns, "pairs": pair_stats.pairs}
    counts.update({f"skipped: {k}": v for k, v in pair_stats.skipped().items()})
    console.print(mapping_table(counts, title=f"run {run_id}", value="count"))
    console.print(f"wrote {out}: steps, candidates, rejects, pairs (.parquet), {rundir.STATS_FILE}")


def _only_our_jsonl(directory: Path) -> bool:
    return all(p.is_dir() or p.suffix == ".jsonl" for p in directory.rglob("*"))


@click.command("dataset")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="customizer", show_default=True,
              help="customizer: NeMo Customizer DPO files; trl: TRL prompt/chosen/rejected strings; "
                   "trl-conversational: TRL with message lists; nemo-rl-binary: NeMo RL prompt/chosen/rejected; "
                   "nemo-rl-rank: NeMo RL context/completions; openai: OpenAI preference fine-tuning.")
@click.option("--rewards", is_flag=True,
              help="Add chosen_reward and rejected_reward (the scores) to every record (not with --format openai).")
@click.option("--dedup-mode", type=click.Choice([m.value for m in DedupMode]), default=DedupMode.EXACT.value,
              show_default=True,
              help="How --dedup compares texts: exact, normalized (trimmed, message lists as canonical JSON) or "
                   "casefold (normalized and lower-cased).")
@click.option("--out", "-o", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory of the JSONL files [default: RUN_DIR/dataset].")
@click.option("--max-pairs", type=click.IntRange(min=1), default=None, help="Keep a seeded sample of N pairs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the --max-pairs sample.")
@click.option("--validation-fraction", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Share of prompts whose pairs go to validation (split by prompt text).")
@click.option("--dedup/--no-dedup", default=True, show_default=True,
              help="Keep one pair per (prompt, chosen, rejected).")
@click.option("--full-message-history", is_flag=True,
              help="customizer format: the prompt is the whole message list, not the last message.")
@click.option("--overwrite", is_flag=True, help="Replace the output directory of an earlier dataset.")
def dataset_command(run_dir: Path, fmt: str, rewards: bool, dedup_mode: str, out: Path | None, max_pairs: int | None,
                    seed: int, validation_fraction: float, dedup: bool, full_message_history: bool,
                    overwrite: bool) -> None:
    """Deduplicate, sample and split the pairs of RUN_DIR into training files.

    Writes the JSONL files into --out (all at once), RUN_DIR/dataset.parquet (the pairs
    with their split) and the dataset statistics into RUN_DIR/stats.json.

    \b
    Example:
      dpo-frames dataset runs/r1 --max-pairs 10000 --seed 1
      dpo-frames dataset runs/r1 --format nemo-rl-binary --rewards --dedup-mode normalized
      dpo-frames submit runs/r1/dataset --namespace team --dataset-name ttt
    """
    if full_message_history and fmt != "customizer":
        raise click.UsageError("--full-message-history only applies to --format customizer")
    if rewards and fmt == "openai":
        raise click.UsageError("--rewards does not apply to --format openai (its format has no reward fields)")
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        info = rundir.load_run_info(run_dir)
        pairs = dpo_frames.read_frame(run_dir, "pairs")
    out = out or run_dir / "dataset"
    _refuse_existing(out, overwrite, out.is_dir() and _only_our_jsonl(out), "a dataset directory")
    with reraise_as(EXIT_FAILURE, OSError, prefix="cannot write the dataset: "), stages(err_console()) as stage:
        with stage("finalizing dataset"):
            dataset, dataset_stats = dpo_frames.finalize_dataset(
                pairs, deduplicate=dedup, max_pairs=max_pairs, seed=seed, validation_fraction=validation_fraction,
                dedup_mode=dedup_mode)
        with stage(f"writing {fmt} files"), rundir.replace_dir(out) as tmp:
            written = write_dataset(dataset, tmp, fmt, use_full_message_history=full_message_history,
                                    rewards=rewards)
        files = {split: str(out / path.relative_to(tmp)) for split, path in written.items()}
        dpo_frames.write_frames(run_dir, dataset=dataset)
        info.dataset = rundir.DatasetInfo(stats=dataset_stats, format=fmt, out_dir=str(out), files=files,
                                          deduplicate=dedup, max_pairs=max_pairs,
                                          full_message_history=full_message_history)
        rundir.save_run_info(run_dir, info)
    console = out_console()
    console.print(mapping_table(dataset_stats.model_dump(), title=f"dataset of run {info.run_id}"))
    for split, path in files.items():
        console.print(f"{split}: {path}")


def run_quality(run_dir: Path) -> QualityReport | None:
    """The quality checks of a run directory's frames (scanned, not loaded); None without any."""
    frames = {name: dpo_frames.read_frame(run_dir, name, lazy=True) if (run_dir / f"{name}.parquet").is_file()
              else None for name in ("candidates", "pairs", "dataset")}
    return quality_checks(**frames) if any(f is not None for f in frames.values()) else None


@click.command("stats")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print stats.json as it is (for scripts).")
def stats_command(run_dir: Path, as_json: bool) -> None:
    """Show what a run read, kept and skipped: counts, pair and dataset statistics, rejects by reason."""
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        info = rundir.load_run_info(run_dir)
        rejects = (sql.query("rejects_by_reason", run_dir) if (run_dir / "rejects.parquet").is_file()
                   else pl.DataFrame({"reason": list(info.rejects_by_reason),
                                      "rejects": list(info.rejects_by_reason.values())}))
        quality = run_quality(run_dir)
    console = out_console()
    if as_json:
        click.echo(json.dumps(info.model_dump(mode="json"), indent=2))
        return
    run = {"run id": info.run_id, "source": info.source, "created": info.created_at,
           "dpo_frames": info.dpo_frames_version, "steps": info.steps, "candidates": info.candidates,
           "rejects": info.rejects}
    run.update({f"config: {k}": v for k, v in info.config.model_dump().items()})
    console.print(mapping_table(run, title=f"run {info.run_id}"))
    console.print(mapping_table(info.pair_stats.model_dump(), title="pairs", value="count"))
    if info.dataset is not None:
        ds = info.dataset
        console.print(mapping_table({**ds.stats.model_dump(), "format": ds.format, "files": ds.out_dir},
                                    title="dataset"))
    console.print(frame_table(rejects, title="rejects by reason"))
    console.print(frame_table(pl.DataFrame(info.steps_by_type) if info.steps_by_type else pl.DataFrame(),
                              title="steps by type"))
    if quality is not None:
        console.print(mapping_table(quality.rows(), title="quality checks"))
        for warning in quality.warnings:
            console.print(f"[yellow]warning:[/] {warning}")


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.write_csv(tmp) if kind == "csv" else frame.write_parquet(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@click.command("sql")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.argument("query")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the result as CSV.")
@click.option("--parquet", "parquet_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the result as Parquet.")
@click.option("--max-rows", type=click.IntRange(min=1), default=50, show_default=True,
              help="Rows printed (files get every row).")
@click.option("--list-examples", is_flag=True, is_eager=True, expose_value=False, callback=_list_examples,
              help="Show the example queries and exit.")
def sql_command(run_dirs: tuple[Path, ...], query: str, csv_path: Path | None, parquet_path: Path | None,
                max_rows: int) -> None:
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
@click.option("--out", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="HTML file to write [default: RUN_DIR/report.html].")
def report_command(run_dir: Path, out: Path | None) -> None:
    """Write a self-contained HTML page of charts about a run (works offline).

    Statistics, score distribution per turn index, margin (score_diff) distribution of
    the pairs, pairs per example and rejects by reason.
    """
    from dpo_frames import report  # altair is slow to import; only this command needs it

    out = out or run_dir / "report.html"
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        data = report.load_run(run_dir)
    with reraise_as(EXIT_FAILURE, OSError, prefix=f"cannot write {out}: "), stages(err_console()) as stage, \
            stage("drawing charts"):
        report.write_report(data, out)
    out_console().print(f"wrote {out}")
