"""``dpo-frames build``: candidates Parquet -> pairs and the Customizer dataset, in bounded memory
on this machine (``--engine local``) or on a Dask cluster (``--engine dask``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import polars as pl

from dpo_frames import layout, rundir
from dpo_frames._atomic import clean_leftovers
from dpo_frames.cli.console import err_console, mapping_table, out_console, stages
from dpo_frames.cli.dataset import KEPT_WHOLE_NOTE, dataset_command
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_USAGE, CliError, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS, pair_config, strategy_seed
from dpo_frames.cli.pairs import pairs_command
from dpo_frames.dataset.context import PromptContext
from dpo_frames.errors import EngineMissingError, OutputExistsError
from dpo_frames.pairs.config import PairConfig

__all__ = ["build_command"]

ENGINES = ("local", "dask")
_DATASET_OPTIONS = (
    "max_pairs",
    "sample_seed",
    "validation_fraction",
    "dedup",
    "full_message_history",
    "last_message_only",
)


def _shared_options(command: click.Command, names: Any) -> list[click.Parameter]:
    """The options of another command, so both spell and document them alike."""
    return [p for p in command.params if p.name in names]


def _refuse_existing(out: str, overwrite: bool) -> None:
    """Refuse an output that may not be replaced (local: any but ours; a URL: non-empty without our record)."""
    if "://" not in out:
        rundir.check_replaceable(Path(out), overwrite=overwrite)
        clean_leftovers(Path(out).parent)
        return
    import fsspec.core  # comes with the dask extra, the only engine that takes URLs

    fs, path = fsspec.core.url_to_fs(out)
    if not fs.exists(path) or (fs.isdir(path) and not fs.ls(path)):
        return
    if not fs.isdir(path):
        raise OutputExistsError(f"{out} exists and is not a directory")
    if not overwrite:
        raise OutputExistsError(f"{out} already exists; pass --overwrite to replace it")
    if not fs.exists(f"{path.rstrip('/')}/{layout.RECORD_FILE}"):
        raise OutputExistsError(
            f"{out} was not written by dpo_frames (no {layout.RECORD_FILE}); not replacing it (choose another --out)"
        )


@click.command("build")
@click.argument("candidates", nargs=-1, required=True)
@click.option("--out", "-o", required=True, help="Output directory: a local path or an fsspec URL (s3://...).")
@click.option(
    "--engine",
    type=click.Choice(ENGINES),
    default="local",
    show_default=True,
    help="local: partition by turn and pair in this process, one partition at a time. "
    "dask: a Dask cluster does the work (needs pip install 'dpo_frames[dask]').",
)
@click.option(
    "--address",
    default=None,
    help="--engine dask: the scheduler of a running cluster (tcp://host:8786) "
    "[default: start a local cluster of --workers processes].",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="--engine dask without --address: worker processes of the local cluster.",
)
@click.option(
    "--partitions",
    type=click.IntRange(min=1),
    default=None,
    help="Turn partitions [default: one per two million candidates; with dask, at least one per worker].",
)
@click.option("--overwrite", is_flag=True, help="Replace the output directory when dpo-frames wrote it.")
def build_command(
    candidates: tuple[str, ...],
    out: str,
    engine: str,
    address: str | None,
    workers: int,
    partitions: int | None,
    sample_seed: int,
    overwrite: bool,
    max_pairs: int | None,
    validation_fraction: float,
    dedup: bool,
    full_message_history: bool,
    last_message_only: bool,
    **options: Any,
) -> None:
    """Build pairs and the NeMo Customizer dataset from CANDIDATES, too many for one process's memory.

    CANDIDATES are Parquet files of the candidates frame (as `dpo-frames pairs` writes
    candidates.parquet): files, globs or directories, local or fsspec URLs. Writes
    pairs/ and dataset/ (Parquet, one file per partition), training/training_file.jsonl,
    validation/validation_file.jsonl and the record dpo_frames.json (last) into --out. The result is the
    in-memory one whatever the engine, workers or partitions (line order aside). Prompts of several
    messages are written whole (as --full-message-history) unless --last-message-only asks to cut them.

    \b
    Examples:
      dpo-frames build runs/*/candidates.parquet --out big --max-pairs-per-turn 2
      dpo-frames build 's3://bucket/cands/*.parquet' --out s3://bucket/dpo --engine dask --address tcp://sched:8786
    """
    ctx = click.get_current_context()
    if engine == "local" and (address or ctx.get_parameter_source("workers") == click.core.ParameterSource.COMMANDLINE):
        raise click.UsageError("--address and --workers apply to --engine dask")
    if address and ctx.get_parameter_source("workers") == click.core.ParameterSource.COMMANDLINE:
        raise click.UsageError("--workers starts a local cluster; it cannot be combined with --address")
    config = pair_config(strategy_seed(options))
    if engine == "local" and "://" in out:
        raise click.UsageError("--engine local writes to a local directory; URLs need --engine dask")
    if engine != "local":
        _require_extra(engine)
    _refuse_existing(out, overwrite)
    if full_message_history and last_message_only:
        raise click.UsageError(
            "--full-message-history keeps every message; --last-message-only the last one: choose one"
        )
    if not (full_message_history or last_message_only) and _has_conversations(candidates):
        full_message_history = True
        click.echo(KEPT_WHOLE_NOTE, err=True)
    dataset_options = {
        "partitions": partitions,
        "deduplicate": dedup,
        "max_pairs": max_pairs,
        "seed": sample_seed,
        "validation_fraction": validation_fraction,
        "use_full_message_history": full_message_history,
        "prompt_context": PromptContext.LAST_MESSAGE if last_message_only else PromptContext.REFUSE,
    }
    sources = list(candidates) if len(candidates) > 1 else candidates[0]
    with stages(err_console()) as stage, stage(f"building on {engine}"):
        result = _run(engine, sources, out, config, address, workers, dataset_options)
    console = out_console()
    console.print(
        mapping_table(
            {"engine": engine, "partitions": result.partitions, **result.pair_stats.model_dump()},
            title="pairs",
            value="count",
        )
    )
    console.print(mapping_table(result.dataset_stats.model_dump(), title="dataset"))
    for name, path in result.files.items():
        click.echo(f"{name}: {path}")  # whole, for scripts (a console would wrap long paths)


def _has_conversations(candidates: tuple[str, ...]) -> bool:
    """Whether local candidates files hold a prompt of several messages (one column read, streaming).
    URLs are not read here: there a cut not asked for is refused by the build itself."""
    if any("://" in c for c in candidates):
        return False
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix="cannot build: "):
        longest = pl.scan_parquet(list(candidates)).select(pl.col("prompt_messages").list.len().max()).collect().item()
    return bool(longest and longest > 1)


def _require_extra(engine: str) -> None:
    from dpo_frames.scale.dask import require_extra

    try:
        require_extra(engine)
    except EngineMissingError as exc:
        raise CliError(str(exc), EXIT_USAGE) from exc


def _run(
    engine: str,
    sources: Any,
    out: str,
    config: PairConfig,
    address: str | None,
    workers: int,
    dataset_options: dict[str, Any],
) -> Any:
    from dpo_frames.scale import build_dataset

    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix="cannot build: "):
        return build_dataset(sources, out, config, engine=engine, address=address, workers=workers, **dataset_options)


_PAIR_OPTIONS = {*PairConfig.model_fields, "strategy_seed", "old_seed"} - {"seed"}
build_command.params += _shared_options(pairs_command, _PAIR_OPTIONS)
build_command.params += _shared_options(dataset_command, _DATASET_OPTIONS)
