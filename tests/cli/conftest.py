from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from dpo_frames.cli import cli
from tests import data

EXAMPLE_OUTPUT = data.EXAMPLE_OUTPUT

Invoke = Callable[..., Result]


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run the CLI in process; the platform environment variables are cleared."""
    for name in (
        "NEMO_MICROSERVICES_BASE_URL",
        "NEMO_API_TOKEN",
        "NEMO_DATASTORE_TOKEN",
        "HF_TOKEN",
        "NEMO_DATASTORE_URL",
        "NEMO_CUSTOMIZER_URL",
        "NEMO_DEPLOYMENT_URL",
    ):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    def run(*args: object, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, [str(a) for a in args], input=input, env=env, catch_exceptions=False)

    return run


@pytest.fixture(scope="module")
def example_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`dpo-frames pairs` on the bundled example, once per module (read-only for tests)."""
    out = tmp_path_factory.mktemp("example") / "ttt"
    result = CliRunner().invoke(cli, ["pairs", str(EXAMPLE_OUTPUT), "--out", str(out)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def steps_jsonl(tmp_path: Path) -> Path:
    """The hand-made steps of tests/sql/data.py (with rejects) as a JSONL file."""
    return data.write_steps_jsonl(tmp_path / "steps.jsonl")
