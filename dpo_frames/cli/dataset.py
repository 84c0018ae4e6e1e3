"""``dpo-frames dataset``: the pairs (DPO) or candidates (SFT, KTO) of any directory -> a dataset directory in one format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import polars as pl
from pydantic import BaseModel, ValidationError

from dpo_frames import layout, rundir
from dpo_frames._atomic import atomic_dir
from dpo_frames.cli.console import err_console, mapping_table, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, CliError, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS, prepare_output
from dpo_frames.dataset import (
    FORMATS,
    RECIPES,
    REGISTRY,
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
from dpo_frames.rundir import DatasetInfo, RunDir, dataset_record, open_dir, write_frames, write_record

__all__ = ["dataset_command"]


@click.command("dataset")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="DPO: customizer (NeMo Customizer DPO files, the default), trl (TRL prompt/chosen/rejected strings), "
    "trl-conversational (TRL with message lists), nemo-rl-binary, nemo-rl-rank, openai. SFT: customizer-sft "
    "(prompt/completion, or messages with --full-message-history), trl-sft, trl-sft-conversational (messages). "
    "KTO: trl-kto, trl-kto-conversational (prompt, completion, label).",
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
    help="Plain (string-prompt) formats: keep only the last message of prompts of several messages (counted). "
    "Without it such prompts are refused: choose a conversational format or --full-message-history.",
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
    help="Directory of the dataset [default: RUN_DIR/datasets/FORMAT].",
)
@click.option(
    "--max-pairs", type=click.IntRange(min=1), default=None, help="Keep a seeded sample of N pairs (sft, kto: records)."
)
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
    help="customizer, customizer-sft: the prompt is the whole message list (customizer-sft: messages records).",
)
@click.option("--overwrite", is_flag=True, help="Replace the output directory when dpo-frames wrote it.")
def dataset_command(
    run_dir: Path,
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
    seed: int,
    validation_fraction: float,
    dedup: bool,
    full_message_history: bool,
    overwrite: bool,
) -> None:
    """Deduplicate, sample and split the pairs (or, for SFT and KTO, the candidates) of RUN_DIR into a dataset directory.

    RUN_DIR is any directory dpo-frames wrote (a run, a build, a dataset export). The
    dataset directory (--out) gets the JSONL files of the format, the dataset frame
    (dataset.parquet; completions.parquet for SFT and KTO) and its record: where its data
    came from, with which settings, what was selected, the split sizes. RUN_DIR itself is
    not changed.

    \b
    Example:
      dpo-frames dataset runs/r1 --max-pairs 10000 --seed 1 --full-message-history
      dpo-frames dataset runs/r1 --format nemo-rl-binary --rewards --dedup-mode normalized
      dpo-frames dataset runs/r1 --format trl-sft-conversational --min-score 0.5 --min-margin 0.1
      dpo-frames dataset runs/r1 --format trl-kto-conversational --label-by score --desirable-min-score 0.5
      dpo-frames submit runs/r1/datasets/customizer --namespace team --dataset-name ttt
    """
    fmt = _format(fmt, recipe)
    spec = REGISTRY[fmt]
    if full_message_history and spec.full_history is None:
        raise click.UsageError("--full-message-history only applies to --format customizer and customizer-sft")
    if rewards and not spec.rewards:
        raise click.UsageError(f"--rewards does not apply to --format {fmt} (its format has no reward fields)")
    selection_config = _selection_config(
        spec.recipe,
        {"min_score": min_score, "min_margin": min_margin},
        {
            "label_by": label_by,
            "desirable_min_score": desirable_min_score,
            "undesirable_max_score": undesirable_max_score,
            "desirable_top": desirable_top,
            "undesirable_bottom": undesirable_bottom or None,
        },
    )
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
        run = open_dir(run_dir)
        source = _pairs_of(run) if spec.recipe == "dpo" else _candidates_of(run)
    out = out or run_dir / layout.DATASETS_DIR / fmt
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
    with reraise_as(EXIT_FAILURE, OSError, prefix="cannot write the dataset: "), stages(err_console()) as stage:
        with stage("selecting and splitting" if spec.recipe != "dpo" else "finalizing dataset"):
            dataset, dataset_stats, selection = _build(
                spec.recipe, source, selection_config, max_pairs, dataset_options
            )
            context_stats = export_context(
                dataset, fmt, use_full_message_history=full_message_history, prompt_context=context
            )
        with stage(f"writing {fmt} files"), atomic_dir(out) as tmp:
            written = write_dataset(
                dataset,
                tmp,
                fmt,
                use_full_message_history=full_message_history,
                rewards=rewards,
                prompt_context=context,
            )
            frames = write_frames(tmp, **{spec.frame_name: dataset})
            info = DatasetInfo(
                format=fmt,
                recipe=spec.recipe,
                stats=dataset_stats,
                options=options,
                source=str(run.path.resolve()),
                files={split: path.relative_to(tmp).as_posix() for split, path in written.items()},
                selection=selection,
                context=context_stats,
            )
            write_record(tmp, dataset_record(run, info, rundir.frame_entries(frames), producer="dpo-frames dataset"))
    console = out_console()
    if selection is not None:
        chosen = selection.model_dump(exclude={"split", "config", "recipe"})
        console.print(mapping_table(chosen, title=f"{spec.recipe} selection of {run.title}"))
    console.print(mapping_table(dataset_stats.model_dump(), title=f"dataset of {run.title}"))
    if context_stats.truncated_prompts:
        console.print(
            f"[yellow]warning:[/] {context_stats.truncated_prompts} prompts cut to their last message "
            f"({context_stats.collapsed_records} records collapsed into others), as --last-message-only asks"
        )
    for split, path in written.items():
        console.print(f"{split}: {out / path.relative_to(tmp)}")


def _build(
    recipe: str, source: pl.LazyFrame, config: BaseModel | None, max_records: int | None, options: dict[str, Any]
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


def _candidates_of(run: RunDir) -> pl.LazyFrame:
    """The candidates of a directory (SFT and KTO choose among them)."""
    candidates = run.frame("candidates")
    if candidates is not None:
        return candidates
    raise CliError(
        f"{run.path} holds no candidates (its frames: {', '.join(run.record.frames) or 'none'}); SFT and KTO "
        "choose among a run's scored candidates: give the run directory (`dpo-frames pairs SOURCE --out DIR`)"
    )


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
