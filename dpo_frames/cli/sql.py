"""``dpo-frames sql``: DuckDB SQL over the frames of any directories dpo_frames wrote."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import polars as pl

from dpo_frames._atomic import atomic_path
from dpo_frames.cli.console import err_console, frame_table, out_console, stages
from dpo_frames.cli.errors import EXIT_BAD_INPUT, CliError, one_line, reraise_as
from dpo_frames.cli.options import INPUT_ERRORS
from dpo_frames.explore import sql

__all__ = ["sql_command"]


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
