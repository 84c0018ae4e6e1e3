"""The examples in the docstrings run and say what they claim, in every module of the package."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import dpo_frames

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(dpo_frames.__path__, "dpo_frames.")
    if m.name not in {"dpo_frames.__main__", "dpo_frames.cli.__main__"}
)

STAGES_WITH_EXAMPLES = (
    "dpo_frames.steps.read",
    "dpo_frames.candidates.extract",
    "dpo_frames.pairs.config",
    "dpo_frames.pairs.engine",
    "dpo_frames.dataset.finalize",
    "dpo_frames.dataset.writers",
    "dpo_frames.scale.partitioned",
    "dpo_frames.scale",
    "dpo_frames.rundir",
    "dpo_frames._atomic",
    "dpo_frames._extras",
    "dpo_frames.explore.sql",
    "dpo_frames.explore.quality",
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
    if name in STAGES_WITH_EXAMPLES:
        assert result.attempted > 0, f"{name} lost its docstring examples"
