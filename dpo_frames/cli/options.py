"""What the commands share: the pair options, reading errors, preparing an output directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import polars as pl
from pydantic import ValidationError

from dpo_frames import rundir
from dpo_frames._atomic import clean_leftovers
from dpo_frames.pairs import PairConfig

__all__ = [
    "ALLOW_EMPTY_HELP",
    "INPUT_ERRORS",
    "allow_empty_option",
    "pair_config",
    "pair_field",
    "pair_help",
    "prepare_output",
    "sample_seed",
    "strategy_seed",
]

INPUT_ERRORS: tuple[type[BaseException], ...] = (OSError, UnicodeDecodeError, pl.exceptions.PolarsError)
"""What a library raises while it reads a bad input file (dpo_frames' own errors map to exit codes by class)."""


def pair_field(name: str) -> Any:
    return PairConfig.model_fields[name]


def pair_help(name: str) -> str:
    return f"{pair_field(name).description} [PairConfig.{name}]"


def prepare_output(target: Path, overwrite: bool) -> None:
    """Refuse an output that may not be replaced; remove what killed writers left beside it."""
    rundir.check_replaceable(target, overwrite=overwrite)
    clean_leftovers(target.parent)


def pair_config(options: dict[str, Any]) -> PairConfig:
    options = {k: v for k, v in options.items() if not (k in ("exhaustive_pairs", "strategy") and v is None)}
    try:
        return PairConfig(**options)
    except ValidationError as exc:
        err = exc.errors()[0]
        hint = f"--{str(err['loc'][0]).replace('_', '-')}" if err["loc"] else "--strategy"  # model-level: the pair
        raise click.BadParameter(err["msg"].removeprefix("Value error, "), param_hint=hint) from None


def strategy_seed(options: dict[str, Any]) -> dict[str, Any]:
    """``--strategy-seed`` (PairConfig.seed); the 0.1 spelling ``--seed`` still works, with a warning."""
    options = dict(options)
    old = options.pop("old_seed", None)
    options["seed"] = options.pop("strategy_seed")
    if old is not None:
        click.echo("dpo-frames: warning: --seed is now --strategy-seed (the seed of best_vs_random)", err=True)
        options["seed"] = old
    return options


def sample_seed(new: int, old: int | None) -> int:
    """``--sample-seed`` (the --max-pairs sample); the 0.1 spelling ``--seed`` still works, with a warning."""
    if old is None:
        return new
    click.echo("dpo-frames: warning: --seed is now --sample-seed (the seed of the --max-pairs sample)", err=True)
    return old


ALLOW_EMPTY_HELP = "Write an empty result (no candidates or no pairs) and exit 0, instead of failing with exit 7."
allow_empty_option = click.option("--allow-empty", is_flag=True, help=ALLOW_EMPTY_HELP)
