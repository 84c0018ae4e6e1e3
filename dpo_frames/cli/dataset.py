"""``dpo-frames dataset``: the pairs of any directory -> a dataset directory in one format."""

from __future__ import annotations

from pathlib import Path

import click
import polars as pl

from dpo_frames import layout, rundir
from dpo_frames._atomic import atomic_dir
from dpo_frames.cli.console import err_console, mapping_table, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_OUTPUT, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS, allow_empty_option, prepare_output
from dpo_frames.cli.options import sample_seed as chosen_sample_seed
from dpo_frames.dataset import FORMATS, DedupMode, Format, finalize_dataset, write_dataset
from dpo_frames.errors import EmptyResultError, SourceError
from dpo_frames.rundir import DatasetInfo, RunDir, dataset_record, open_dir, write_frames, write_record
from dpo_frames.schema import SPLITS, TRAIN

__all__ = ["dataset_command"]


@click.command("dataset")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
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
    help="Directory of the dataset [default: RUN_DIR/datasets/FORMAT; needed with several RUN_DIRs].",
)
@click.option("--max-pairs", type=click.IntRange(min=1), default=None, help="Keep a seeded sample of N pairs.")
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
    help="customizer format: the prompt is the whole message list, not the last message.",
)
@allow_empty_option
@click.option("--overwrite", is_flag=True, help="Replace the output directory when dpo-frames wrote it.")
def dataset_command(
    run_dirs: tuple[Path, ...],
    fmt: Format,  # click.Choice(FORMATS)
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
    """Deduplicate, sample and split the pairs of RUN_DIR(s) into a dataset directory.

    Each RUN_DIR is any directory dpo-frames wrote (a run, a build, a NAT collection run, a
    dataset export); several are one dataset (deduplicated across them). The dataset
    directory (--out) gets the JSONL files of the format, dataset.parquet (the pairs with
    their split) and its record: where its pairs came from, with which settings, the split
    sizes. The RUN_DIRs are not changed, so exports in several formats sit side by side.

    \b
    Examples:
      dpo-frames dataset runs/r1 --max-pairs 10000 --sample-seed 1
      dpo-frames dataset runs/r1 --format trl-conversational          # beside runs/r1/datasets/customizer
      dpo-frames dataset runs/r1 runs/r2 --out datasets/both --validation-fraction 0
      dpo-frames submit runs/r1/datasets/customizer --namespace team --dataset-name ttt
    """
    seed = chosen_sample_seed(sample_seed, old_seed)
    if full_message_history and fmt != "customizer":
        raise click.UsageError("--full-message-history only applies to --format customizer")
    if rewards and fmt == "openai":
        raise click.UsageError("--rewards does not apply to --format openai (its format has no reward fields)")
    if out is None and len(run_dirs) > 1:
        raise click.UsageError("with several RUN_DIRs, say where the dataset goes: --out DIR")
    runs, pairs = _read_pairs(run_dirs)
    if pairs.height == 0 and not allow_empty:
        raise EmptyResultError(
            f"no pairs in {', '.join(map(str, run_dirs))}: there is nothing to train on "
            "(`dpo-frames stats` shows what was skipped and why), or pass --allow-empty"
        )
    out = out or run_dirs[0] / layout.DATASETS_DIR / fmt
    prepare_output(out, overwrite)
    options = {
        "deduplicate": dedup,
        "dedup_mode": dedup_mode,
        "max_pairs": max_pairs,
        "seed": seed,
        "validation_fraction": validation_fraction,
        "use_full_message_history": full_message_history,
        "rewards": rewards,
    }
    with stages(err_console()) as stage:
        with stage("finalizing dataset") as finalizing:
            dataset, dataset_stats = finalize_dataset(
                pairs,
                deduplicate=dedup,
                max_pairs=max_pairs,
                seed=seed,
                validation_fraction=validation_fraction,
                dedup_mode=dedup_mode,
            )
            finalizing.note(f"{dataset_stats.train_pairs:,} train, {dataset_stats.validation_pairs:,} validation")
        splits = (TRAIN,) if validation_fraction == 0 else SPLITS
        with (
            reraise_as(EXIT_OUTPUT, OSError, prefix=f"cannot write {out}: "),
            stage(f"writing {fmt} files"),
            atomic_dir(out) as tmp,
        ):
            written = write_dataset(
                dataset, tmp, fmt, use_full_message_history=full_message_history, rewards=rewards, splits=splits
            )
            frames = write_frames(tmp, dataset=dataset)
            info = DatasetInfo(
                format=fmt,
                stats=dataset_stats,
                options=options,
                source=str(runs[0].path.resolve()),
                files={split: path.relative_to(tmp).as_posix() for split, path in written.items()},
            )
            write_record(tmp, dataset_record(runs, info, rundir.frame_entries(frames), producer="dpo-frames dataset"))
    console = out_console()
    title = runs[0].title if len(runs) == 1 else f"{len(runs)} directories"
    console.print(mapping_table(dataset_stats.model_dump(), title=f"dataset of {title}"))
    for split, path in written.items():
        click.echo(f"{split}: {out / path.relative_to(tmp)}")


def _read_pairs(run_dirs: tuple[Path, ...]) -> tuple[list[RunDir], pl.DataFrame]:
    runs, frames = [], []
    for run_dir in run_dirs:
        with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
            run = open_dir(run_dir)
            frames.append(_pairs_of(run).collect())
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
