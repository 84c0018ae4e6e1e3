"""Fixtures of the NAT plugin tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """Where a finetuning run writes everything."""
    return tmp_path / "out"
