"""The examples in the public docstrings run and say what they claim."""

from __future__ import annotations

import doctest

import pytest

from dpo_frames import candidates, config, dataset, export, pairs, partitioned, steps


@pytest.mark.parametrize("module", [steps, candidates, config, pairs, dataset, export, partitioned], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
