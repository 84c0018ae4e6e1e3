"""``dpo-frames report``: a self-contained HTML page about one directory, or several compared (the ``report`` extra)."""

from __future__ import annotations

from pathlib import Path

import click

from dpo_frames.cli.console import err_console, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_OUTPUT, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS

__all__ = ["report_command"]

DEFAULT_EMBED_PAIRS = 2_000  # dpo_frames.explore._report_pairs.PAIR_SAMPLE (not imported: altair is slow to import)


@click.command("report")
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="DIR...")
@click.option(
    "--out",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file to write [default: DIR/report.html; required with several directories].",
)
@click.option(
    "--embed-pairs",
    "embed_pairs",
    type=click.IntRange(min=1),
    default=DEFAULT_EMBED_PAIRS,
    show_default=True,
    help="Pairs the page embeds per directory for its pair browser; a larger frame is sampled "
    "(the widest and closest margins, then a content-hash draw). Charts and numbers count every pair.",
)
def report_command(run_dirs: tuple[Path, ...], out: Path | None, embed_pairs: int) -> None:
    """Write a self-contained HTML page about DIR (works offline): several DIRs side by side.

    The funnel from steps to the dataset, a health panel (what is wrong or unusual), a
    pair browser (chosen and rejected side by side, the differing words marked; filter,
    search, sort) and the charts. DIR is any directory dpo-frames wrote (a run, a dataset
    export, a build).
    """
    if out is None and len(run_dirs) > 1:
        raise click.UsageError("name the page with --out when comparing several directories")
    from dpo_frames.explore import report  # altair is slow to import; only this command needs it

    out = out or run_dirs[0] / "report.html"
    prefix = f"{run_dirs[0]}: " if len(run_dirs) == 1 else ""
    with reraise_as(EXIT_BAD_INPUT, *INPUT_ERRORS, prefix=prefix):
        runs = report.load_runs(run_dirs)
    with (
        reraise_as(EXIT_OUTPUT, OSError, prefix=f"cannot write {out}: "),
        stages(err_console()) as stage,
        stage("drawing the report"),
    ):
        report.write_report(runs, out, embed_pairs=embed_pairs)
    out_console().print(f"wrote {out}")
