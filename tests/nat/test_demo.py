"""The README's main job: `python -m dpo_frames.demo`, one command, no network."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_demo_runs_the_example_end_to_end_and_summarizes(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "dpo_frames.demo", "--out", str(tmp_path / "demo")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    text = done.stdout
    assert "candidates  119 scored moves, 0 rejected" in text
    assert "skipped: 3 single candidate turns, 100 tied pairs" in text
    assert "-> completed" in text
    for line in text.splitlines():
        if line.strip().startswith(("train ", "validation ")):
            assert (tmp_path / line.split()[-1]).is_file()
    assert done.stderr.strip() == ""  # no log noise by default
