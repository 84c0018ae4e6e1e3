"""Where the plugin keeps files, and the one directory it must never use."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dpo_frames.errors import NatPluginError


def wiped_eval_dir(config: Any) -> Path | None:
    """The directory NAT wipes at the start of every evaluation run, if any.

    ``config`` is NAT's ``Config``; NAT cleans ``eval.general.output.dir`` when an output
    section is present and its ``cleanup`` is on (the default).
    """
    output = getattr(getattr(getattr(config, "eval", None), "general", None), "output", None)
    if output is None or not getattr(output, "cleanup", True):
        return None
    return Path(output.dir)


def check_outside_wiped_dir(path: Path, config: Any, what: str) -> None:
    """Raise when ``path`` is (inside) the evaluation output directory NAT wipes on every run."""
    wiped = wiped_eval_dir(config)
    if wiped is None:
        return
    target, wiped = path.resolve(), wiped.resolve()
    if target == wiped or wiped in target.parents:
        raise NatPluginError(
            f"{what} ({path}) is inside eval.general.output.dir ({wiped}), which NAT deletes at the start of "
            "every evaluation run: choose a directory outside it"
        )
