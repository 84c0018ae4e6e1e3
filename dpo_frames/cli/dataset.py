"""``dpo-frames dataset``: the pairs (DPO) or candidates (SFT, KTO) of directories -> a dataset directory in one format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import polars as pl
from pydantic import BaseModel, ValidationError

from dpo_frames import layout, rundir
from dpo_frames._atomic import atomic_dir
from dpo_frames.cli.console import err_console, mapping_table, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_OUTPUT, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS, allow_empty_option, prepare_output
from dpo_frames.cli.options import sample_seed as chosen_sample_seed
from dpo_frames.dataset import (
    FORMATS,
    RECIPES,
    REGISTRY,
    DatasetFormat,
    DatasetStats,
    DedupMode,
    Format,
    KtoConfig,
    KtoStats,
    PromptContext,
    SftConfig,
    SftStats,
    build_kto,
    build_sft,
    export_context,
    finalize_dataset,
    write_dataset,
)
from dpo_frames.errors import EmptyResultError, SourceError
from dpo_frames.rundir import DatasetInfo, RunDir, dataset_record, open_dir, write_frames, write_record
from dpo_frames.schema import SPLITS, TRAIN

__all__ = ["FORMAT_HELP", "FULL_HISTORY_HELP", "LAST_MESSAGE_HELP", "dataset_command"]

FORMAT_HELP = (
    "The records' format. DPO: customizer (NeMo Customizer DPO files), trl (TRL prompt/chosen/rejected strings), "
    "trl-conversational (TRL with message lists), nemo-rl-binary, nemo-rl-rank, openai. SFT: customizer-sft "
    "(prompt/completion, or messages with --full-message-history), trl-sft, trl-sft-conversational (messages). "
    "KTO: trl-kto, trl-kto-conversational (prompt, completion, label). [default: dataset: customizer, or the "
    "--recipe's customizer-sft or trl-kto-conversational; push: the recipe's TRL conversational format]"
)
LAST_MESSAGE_HELP = (
    "Plain (string-prompt) formats: keep only the last message of prompts of several messages (counted). "
    "Without it such prompts are refused: choose a conversational format or --full-message-history."
)
KEPT_WHOLE_NOTE = (
    "dpo-frames: prompts of several messages are written whole (--full-message-history); "
    "--last-message-only keeps the last message of each"
)
FULL_HISTORY_HELP = (
    "customizer, customizer-sft: the prompt is the whole message list (customizer-sft: messages records)."
)


@click.command("dataset")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help=FORMAT_HELP,
)
@click.option(
    "--recipe",
    type=click.Choice(list(RECIPES)),
    default=None,
    help="dpo: preference pairs; sft: the best candidate of each turn; kto: completions labelled desirable or "
    "undesirable [default: the format's; without --format: customizer, customizer-sft, trl-kto-conversational].",
)
@click.option(
    "--last-message-only",
    is_flag=True,
    help=LAST_MESSAGE_HELP,
)
@click.option("--min-score", type=float, default=None, help="sft: the best candidate must score at least this.")
@click.option(
    "--min-margin", type=float, default=None, help="sft: the best must beat the turn's next best by at least this."
)
@click.option(
    "--label-by",
    type=click.Choice(["rank", "score"]),
    default="rank",
    show_default=True,
    help="kto: desirable/undesirable by rank within the turn, or by the score thresholds.",
)
@click.option("--desirable-min-score", type=float, default=None, help="kto: desirable scores at least this.")
@click.option("--undesirable-max-score", type=float, default=None, help="kto: undesirable scores at most this.")
@click.option(
    "--desirable-top", type=click.IntRange(min=1), default=1, show_default=True, help="kto by rank: the best N."
)
@click.option(
    "--undesirable-bottom",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="kto by rank: the worst N are undesirable (0: every candidate below the desirable ones).",
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
    help="Directory of the dataset [default: RUN_DIR/datasets/FORMAT; needed with several RUN_DIRs].",
)
@click.option(
    "--max-pairs", type=click.IntRange(min=1), default=None, help="Keep a seeded sample of N pairs (sft, kto: records)."
)
@click.option("--sample-seed", type=int, default=0, show_default=True, help="Seed of the --max-pairs sample.")
@click.option("--seed", "old_seed", type=int, default=None, hidden=True)
@click.option(
    "--validation-fraction",
    type=click.FloatRange(0.0, 1.0, max_open=True),
    default=0.2,
    show_default=True,
    help="Share of prompts whose pairs go to validation (split by prompt text); 0: train only.",
)
@click.option(
    "--dedup/--no-dedup", default=True, show_default=True, help="Keep one pair per (prompt, chosen, rejected)."
)
@click.option(
    "--full-message-history",
    is_flag=True,
    help=FULL_HISTORY_HELP,
)
@allow_empty_option
@click.option("--overwrite", is_flag=True, help="Replace the output directory when dpo-frames wrote it.")
def dataset_command(
    run_dirs: tuple[Path, ...],
    fmt: Format | None,  # click.Choice(FORMATS)
    recipe: str | None,
    last_message_only: bool,
    min_score: float | None,
    min_margin: float | None,
    label_by: str,
    desirable_min_score: float | None,
    undesirable_max_score: float | None,
    desirable_top: int,
    undesirable_bottom: int,
    rewards: bool,
    dedup_mode: str,
    out: Path | None,
    max_pairs: int | None,
    sample_seed: int,
    old_seed: int | None,
    validation_fraction: float,
    dedup: bool,
    full_message_history: bool,
    allow_empty: bool,
    overwrite: bool,
) -> None:
    """Deduplicate, sample and split the pairs (SFT, KTO: the chosen candidates) of RUN_DIR(s) into a dataset directory.

    Each RUN_DIR is any directory dpo-frames wrote (a run, a build, a NAT collection run, a
    dataset export); several are one dataset (deduplicated across them). The dataset
    directory (--out) gets the JSONL files of the format, the dataset frame (dataset.parquet;
    completions.parquet for SFT and KTO) and its record: where its data came from, with which
    settings, what was selected, the split sizes. The RUN_DIRs are not changed, so exports in
    several formats sit side by side.

    \b
    Examples:
      dpo-frames dataset runs/r1 --max-pairs 10000 --sample-seed 1
      dpo-frames dataset runs/r1 --format trl-conversational          # beside runs/r1/datasets/customizer
      dpo-frames dataset runs/r1 runs/r2 --out datasets/both --validation-fraction 0
      dpo-frames dataset runs/r1 --format trl-sft-conversational --min-score 0.5 --min-margin 0.1
      dpo-frames dataset runs/r1 --format trl-kto-conversational --label-by score --desirable-min-score 0.5
      dpo-frames submit runs/r1/datasets/customizer --namespace team --dataset-name ttt
    """
    seed = chosen_sample_seed(sample_seed, old_seed)
    fmt = _format(fmt, recipe)
    spec = REGISTRY[fmt]
    if full_message_history and spec.full_history is None:
        raise click.UsageError("--full-message-history only applies to --format customizer and customizer-sft")
    if rewards and not spec.rewards:
        raise click.UsageError(f"--rewards does not apply to --format {fmt} (its format has no reward fields)")
    if out is None and len(run_dirs) > 1:
        raise click.UsageError("with several RUN_DIRs, say where the dataset goes: --out DIR")
    kto = {
        "label_by": label_by,
        "desirable_min_score": desirable_min_score,
        "undesirable_max_score": undesirable_max_score,
        "desirable_top": desirable_top,
        "undesirable_bottom": undesirable_bottom or None,
    }
    selection_config = _selection_config(spec.recipe, {"min_score": min_score, "min_margin": min_margin}, kto)
    what = "pairs" if spec.recipe == "dpo" else "candidates"
    runs, pairs = _read_pairs(run_dirs, what)
    if pairs.height == 0 and not allow_empty:
        raise EmptyResultError(
            f"no {what} in {', '.join(map(str, run_dirs))}: there is nothing to train on "
            "(`dpo-frames stats` shows what was skipped and why), or pass --allow-empty"
        )
    out = out or run_dirs[0] / layout.DATASETS_DIR / fmt
    prepare_output(out, overwrite)
    context = PromptContext.LAST_MESSAGE if last_message_only else PromptContext.REFUSE
    options = {
        "deduplicate": dedup,
        "dedup_mode": dedup_mode,
        "max_pairs": max_pairs,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "use_full_message_history": full_message_history,
        "rewards": rewards,
        "prompt_context": context.value,
    }
    dataset_options: dict[str, Any] = {
        "deduplicate": dedup,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "dedup_mode": dedup_mode,
    }
    with stages(err_console()) as stage:
        with stage("finalizing dataset" if spec.recipe == "dpo" else f"selecting {spec.recipe} records") as finalizing:
            dataset, dataset_stats, selection = _build(spec.recipe, pairs, selection_config, max_pairs, dataset_options)
            finalizing.note(f"{dataset_stats.train_pairs:,} train, {dataset_stats.validation_pairs:,} validation")
            if _keeps_history_by_default(spec, dataset, full_message_history, last_message_only):
                full_message_history = True
                options["use_full_message_history"] = True
                click.echo(KEPT_WHOLE_NOTE, err=True)
            context_stats = export_context(
                dataset, fmt, use_full_message_history=full_message_history, prompt_context=context
            )
        splits = (TRAIN,) if validation_fraction == 0 else SPLITS
        with (
            reraise_as(EXIT_OUTPUT, OSError, prefix=f"cannot write {out}: "),
            stage(f"writing {fmt} files"),
            atomic_dir(out) as tmp,
        ):
            written = write_dataset(
                dataset,
                tmp,
                fmt,
                use_full_message_history=full_message_history,
                rewards=rewards,
                splits=splits,
                prompt_context=context,
            )
            frames = write_frames(tmp, **{spec.frame_name: dataset})
            info = DatasetInfo(
                format=fmt,
                recipe=spec.recipe,
                stats=dataset_stats,
                options=options,
                source=str(runs[0].path.resolve()),
                files={split: path.relative_to(tmp).as_posix() for split, path in written.items()},
                selection=selection,
                context=context_stats,
            )
            write_record(tmp, dataset_record(runs, info, rundir.frame_entries(frames), producer="dpo-frames dataset"))
    console = out_console()
    title = runs[0].title if len(runs) == 1 else f"{len(runs)} directories"
    if selection is not None:
        chosen = selection.model_dump(exclude={"split", "config", "recipe"})
        console.print(mapping_table(chosen, title=f"{spec.recipe} selection of {title}"))
    console.print(mapping_table(dataset_stats.model_dump(), title=f"dataset of {title}"))
    if context_stats.truncated_prompts:
        console.print(
            f"[yellow]warning:[/] {context_stats.truncated_prompts} prompts cut to their last message "
            f"({context_stats.collapsed_records} records collapsed into others), as --last-message-only asks"
        )
    for split, path in written.items():
        click.echo(f"{split}: {out / path.relative_to(tmp)}")


def _keeps_history_by_default(spec: DatasetFormat, dataset: pl.DataFrame, full: bool, last_only: bool) -> bool:
    """A format that can carry the message list (customizer, customizer-sft) carries it when a prompt has
    several messages and neither choice was made: nothing is cut, and nothing is refused for want of a flag."""
    if full or last_only or spec.full_history is None or "prompt_messages" not in dataset.columns:
        return False
    return bool((dataset["prompt_messages"].list.len() > 1).any())


def _read_pairs(run_dirs: tuple[Path, ...], what: str = "pairs") -> tuple[list[RunDir], pl.DataFrame]:
    """The directories and their pairs (or, ``what="candidates"``, their candidates), concatenated."""
    runs, frames = [], []
    for run_dir in run_dirs:
        with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
            run = open_dir(run_dir)
            frames.append((_pairs_of(run) if what == "pairs" else _candidates_of(run)).collect())
        runs.append(run)
    if len({r.path.resolve() for r in runs}) < len(runs):
        raise click.UsageError("a RUN_DIR is given twice")
    return runs, pl.concat(frames, how="vertical_relaxed")


def _pairs_of(run: RunDir) -> pl.LazyFrame:
    """The pairs of a directory: its pairs frame, else (a dataset export) its dataset's pairs."""
    pairs = run.frame("pairs")
    if pairs is not None:
        return pairs
    dataset = run.frame("dataset")
    if dataset is not None:
        return dataset.drop("split")
    raise SourceError(
        f"{run.path} holds no pairs (its frames: {', '.join(run.record.frames) or 'none'}); "
        "build them with `dpo-frames pairs SOURCE --out DIR`"
    )


def _candidates_of(run: RunDir) -> pl.LazyFrame:
    """The candidates of a directory (SFT and KTO choose among them)."""
    candidates = run.frame("candidates")
    if candidates is not None:
        return candidates
    raise SourceError(
        f"{run.path} holds no candidates (its frames: {', '.join(run.record.frames) or 'none'}); SFT and KTO "
        "choose among a run's scored candidates: give the run directory (`dpo-frames pairs SOURCE --out DIR`)"
    )


def _build(
    recipe: str, source: pl.DataFrame, config: BaseModel | None, max_records: int | None, options: dict[str, Any]
) -> tuple[pl.DataFrame, DatasetStats, SftStats | KtoStats | None]:
    """The dataset frame of the recipe, its split statistics and (SFT, KTO) what was selected."""
    if isinstance(config, SftConfig):
        sft, sft_stats = build_sft(source, config, max_records=max_records, **options)
        return sft, sft_stats.split, sft_stats
    if isinstance(config, KtoConfig):
        kto, kto_stats = build_kto(source, config, max_records=max_records, **options)
        return kto, kto_stats.split, kto_stats
    dataset, stats = finalize_dataset(source, max_pairs=max_records, **options)
    return dataset, stats, None


_RECIPE_FORMAT = {"dpo": "customizer", "sft": "customizer-sft", "kto": "trl-kto-conversational"}


def _format(fmt: str | None, recipe: str | None) -> Format:
    """The format asked for, or the recipe's default; a usage error when they disagree."""
    if fmt is None:
        return _RECIPE_FORMAT[recipe or "dpo"]  # type: ignore[return-value]  # a Format by construction
    if recipe is not None and REGISTRY[fmt].recipe != recipe:
        raise click.UsageError(f"--format {fmt} is a {REGISTRY[fmt].recipe} format, not {recipe}: {RECIPES[recipe]}")
    return fmt  # type: ignore[return-value]  # click.Choice(FORMATS)


def _selection_config(recipe: str, sft: dict[str, Any], kto: dict[str, Any]) -> BaseModel | None:
    """The SFT or KTO settings of the options (None for DPO); a usage error naming the option when invalid."""
    models: dict[str, type[BaseModel]] = {"sft": SftConfig, "kto": KtoConfig}
    model = models.get(recipe)
    if model is None:
        return None
    try:
        return model(**(sft if recipe == "sft" else kto))
    except ValidationError as exc:
        err = exc.errors()[0]
        hint = f"--{str(err['loc'][0]).replace('_', '-')}" if err["loc"] else "--label-by"
        raise click.BadParameter(err["msg"].removeprefix("Value error, "), param_hint=hint) from None
