"""The ``dpo-frames`` command line tool.

::

    dpo-frames pairs SOURCE --out RUN_DIR      steps -> candidates, rejects, pairs (Parquet) + the run's record
    dpo-frames dataset RUN_DIR                 dedup, sample, split -> Customizer or TRL JSONL
    dpo-frames stats RUN_DIR                   what was read, kept and skipped
    dpo-frames sql RUN_DIR... "QUERY"          DuckDB SQL over the run's frames
    dpo-frames upgrade RUN_DIR                 write the record of a directory made by dpo_frames 0.1.0
    dpo-frames report RUN_DIR                  a self-contained HTML page of charts
    dpo-frames build CANDIDATES --out DIR      pairs + dataset beyond memory, locally or on a Dask cluster
    dpo-frames emulator                        the local NeMo platform emulator
    dpo-frames submit DATASET_DIR ...          upload a dataset and start a DPO job
    dpo-frames status JOB_ID                   a job's status

Exit codes (:mod:`dpo_frames.cli.errors`): 0 ok, 2 usage, 3 bad input, 4 platform
error, 5 job failed / cancelled / timed out, 1 internal error. Every expected failure
is one line on stderr starting with ``dpo-frames: error:``.
"""

from __future__ import annotations

import os
import sys

import click

from dpo_frames._version import __version__
from dpo_frames.cli.build import build_command
from dpo_frames.cli.dataset import dataset_command
from dpo_frames.cli.errors import EXIT_CODES_HELP, EXIT_FAILURE, EXIT_INTERRUPTED, CliError, exit_code_for, one_line
from dpo_frames.cli.pairs import pairs_command
from dpo_frames.cli.platform import emulator_command, status_command, submit_command
from dpo_frames.cli.report import report_command
from dpo_frames.cli.sql import sql_command
from dpo_frames.cli.stats import stats_command, upgrade_command
from dpo_frames.errors import DpoFramesError

__all__ = ["cli", "main"]


class _Commands(click.Group):
    """The command group: dpo_frames' errors become one-line errors with the exit code of their class."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except DpoFramesError as exc:
            raise CliError(one_line(exc, all_lines=True), exit_code_for(exc)) from exc
        except KeyboardInterrupt:
            raise CliError("interrupted; an output being written was left as it was before", EXIT_INTERRUPTED) from None


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=EXIT_CODES_HELP,
)
@click.version_option(__version__, prog_name="dpo-frames")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines (results and errors still show).")
def cli(quiet: bool) -> None:
    """Turn NeMo Agent Toolkit runs into DPO preference data, explore it, ship it to NeMo Customizer.

    \b
    A session:
      dpo-frames pairs workflow_output.json --out runs/r1
      dpo-frames stats runs/r1
      dpo-frames sql runs/r1 pairs_per_turn
      dpo-frames report runs/r1
      dpo-frames dataset runs/r1 --max-pairs 10000
    """


for command in (
    pairs_command,
    dataset_command,
    stats_command,
    sql_command,
    report_command,
    build_command,
    upgrade_command,
    emulator_command,
    submit_command,
    status_command,
):
    command.epilog = EXIT_CODES_HELP
    cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``dpo-frames`` console script.

    An unexpected exception (a bug) prints one line and exits 1; set
    ``DPO_FRAMES_DEBUG=1`` to see the traceback instead.
    """
    try:
        cli.main(args=argv, prog_name="dpo-frames")
    except Exception as exc:  # click handles its own exceptions and exits; this is a bug
        if os.environ.get("DPO_FRAMES_DEBUG"):
            raise
        click.echo(
            f"dpo-frames: internal error: {type(exc).__name__}: {one_line(exc)} "
            "(set DPO_FRAMES_DEBUG=1 for the traceback)",
            err=True,
        )
        sys.exit(EXIT_FAILURE)
