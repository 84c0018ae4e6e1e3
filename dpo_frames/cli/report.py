"""``dpo-frames report``: a self-contained HTML page about a directory (the ``report`` extra)."""

from __future__ import annotations

from pathlib import Path

import click

from dpo_frames.cli.console import err_console, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, EXIT_FAILURE, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS

__all__ = ["report_command"]


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
