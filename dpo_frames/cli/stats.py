"""``dpo-frames stats`` and ``upgrade``: what a directory holds; the record of a 0.1.0 one."""

from __future__ import annotations

import json
from pathlib import Path

import click
import polars as pl

from dpo_frames import layout, rundir
from dpo_frames.cli.console import frame_table, mapping_table, out_console
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS
from dpo_frames.explore import sql
from dpo_frames.explore.quality import QualityReport, quality_checks
from dpo_frames.rundir import RunDir, open_dir

__all__ = ["stats_command", "upgrade_command"]


def run_quality(run: RunDir) -> QualityReport | None:
    """The quality checks of a directory's frames (scanned, not loaded); None without any."""
    frames = {name: run.frame(name) for name in ("candidates", "pairs", "dataset")}
    return quality_checks(**frames) if any(f is not None for f in frames.values()) else None


@click.command("stats")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the directories' records as JSON (for scripts).")
def stats_command(run_dirs: tuple[Path, ...], as_json: bool) -> None:
    """Show what a run read, kept and skipped: counts, pair and dataset statistics, rejects by reason.

    Each RUN_DIR is any directory dpo-frames wrote: a run, a dataset export, a build, a NAT
    collection run or the NAT adapter's dataset. With --json: the record of one directory, or
    a list of them for several.
    """
    runs = []
    for run_dir in run_dirs:
        with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
            runs.append(open_dir(run_dir))
    if as_json:
        records = [run.record.model_dump(mode="json") for run in runs]
        click.echo(json.dumps(records[0] if len(records) == 1 else records, indent=2))
        return
    for run_dir, run in zip(run_dirs, runs, strict=True):
        with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=f"{run_dir}: "):
            _show(run_dir, run)


def _rejects(run: RunDir) -> pl.DataFrame:
    if run.has("rejects"):
        return sql.query("rejects_by_reason", run.path)
    counts = run.record.rejects_by_reason
    return pl.DataFrame(
        {"reason": list(counts), "rejects": list(counts.values())}, schema={"reason": pl.String, "rejects": pl.Int64}
    )


def _show(run_dir: Path, run: RunDir) -> None:
    info = run.record
    rejects, quality = _rejects(run), run_quality(run)
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
    about.update({k: v for k, v in info.extra.items() if v is not None and k != "sources"})
    console.print(mapping_table(about, title=f"{info.kind.value} {run.title}"))
    if len(info.extra.get("sources") or []) > 1:
        console.print(frame_table(pl.DataFrame(info.extra["sources"]), title="sources"))
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
