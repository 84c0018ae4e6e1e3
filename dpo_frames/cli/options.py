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

__all__ = ["INPUT_ERRORS", "pair_config", "pair_help", "pair_field", "prepare_output"]

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
