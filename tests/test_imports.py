"""``import dpo_frames`` is light, and the core runs without the extras (as after ``pip install dpo_frames``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_OUTPUT

HEAVY = ("duckdb", "nat", "starlette", "uvicorn", "altair", "vl_convert", "dask", "distributed", "fsspec")
EXTRAS = ("nat", "starlette", "uvicorn", "altair", "vl_convert", "dask", "distributed", "fsspec", "datasets")
"""What the extras install (nat, emulator, report, dask, hf): hidden from the slim runs below."""

# A finder first on sys.meta_path that says the extras' modules do not exist, as in an
# environment where only `pip install dpo_frames` ran; then the command line, as the script runs it.
SLIM = """
import sys, importlib.abc
BLOCKED = set(sys.argv[1].split(","))
class Missing(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Missing())
from dpo_frames.cli import main
sys.argv = ["dpo-frames", *sys.argv[2:]]
main()
"""


def slim(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", SLIM, ",".join(EXTRAS), *map(str, args)], capture_output=True, text=True, check=False
    )


def test_import_loads_no_heavy_or_optional_dependency() -> None:
    code = f"import sys, dpo_frames; print([m for m in {HEAVY!r} if m in sys.modules])"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_core_journey_runs_without_the_extras(tmp_path: Path) -> None:
    steps = tmp_path / "steps.jsonl"
    items = json.loads(EXAMPLE_OUTPUT.read_text())
    steps.write_text(
        "".join(json.dumps({"example_id": i["id"], **s}) + "\n" for i in items for s in i["intermediate_steps"])
    )
    for args in (
        ("pairs", steps, "--out", tmp_path / "run"),
        ("stats", tmp_path / "run"),
        ("sql", tmp_path / "run", "pairs_per_turn"),
        ("dataset", tmp_path / "run", "--full-message-history"),
        ("build", tmp_path / "run" / "candidates.parquet", "--out", tmp_path / "build"),
    ):
        done = slim(*args)
        assert done.returncode == 0, (args, done.stderr)


@pytest.mark.parametrize(("args", "extra"), [
    (("report", "RUN"), "report"),
    (("emulator", "--port", "0"), "emulator"),
    (("build", "RUN/candidates.parquet", "--out", "OUT", "--engine", "dask"), "dask"),
])  # fmt: skip
def test_a_missing_extra_is_one_line_with_the_pip_command(tmp_path: Path, args: tuple[str, ...], extra: str) -> None:
    run = tmp_path / "run"
    assert slim("pairs", EXAMPLE_OUTPUT, "--out", run).returncode == 0
    done = slim(*(a.replace("RUN", str(run)).replace("OUT", str(tmp_path / "out")) for a in args))
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dpo-frames: error: ")
    assert lines[0].endswith(f"pip install 'dpo_frames[{extra}]'")
