"""The installed `dpo-frames` console script, as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.cli.conftest import EXAMPLE_OUTPUT

SCRIPT = Path(sys.executable).parent / "dpo-frames"


@pytest.fixture(scope="module")
def script() -> str:
    assert SCRIPT.is_file(), f"{SCRIPT} is missing: install the project (pip install -e .)"
    return str(SCRIPT)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "HF_"))}
    env["COLUMNS"] = "120"
    return env


def test_script_session(script, tmp_path):
    run = tmp_path / "r1"
    done = subprocess.run(
        [script, "pairs", str(EXAMPLE_OUTPUT), "--out", str(run), "--best-vs-worst"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # not a terminal (a CI log, nohup): one line per stage, with its counts and seconds
    lines = done.stderr.splitlines()
    stages = [re.sub(r" \([0-9.]+ s\)$", "", line.removeprefix("dpo-frames: ")).split(":")[0] for line in lines]
    assert stages == ["reading sources", "building pairs"]  # each writes its frames as it makes them
    assert "119 steps, 119 candidates, 0 rejects" in lines[0] and "20 pairs from 35 turns" in lines[1]
    assert all(line.startswith("dpo-frames: ") and line.endswith(" s)") for line in lines)
    quiet = subprocess.run(
        [script, "--quiet", "pairs", str(EXAMPLE_OUTPUT), "--out", str(tmp_path / "q")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert quiet.returncode == 0 and quiet.stderr == ""
    stats = subprocess.run(
        [script, "stats", str(run), "--json"], capture_output=True, text=True, env=_env(), timeout=60
    )
    assert stats.returncode == 0 and json.loads(stats.stdout)["pair_stats"]["pairs"] == 20
    query = subprocess.run(
        [script, "sql", str(run), "SELECT count(*) AS n FROM pairs", "--csv", str(tmp_path / "n.csv")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert query.returncode == 0 and (tmp_path / "n.csv").read_text() == "n\n20\n"


def test_script_bad_input_exit_code_and_one_line(script, tmp_path):
    bad = tmp_path / "workflow_output.json"
    bad.write_text('[{"id": 1,')
    done = subprocess.run(
        [script, "pairs", str(bad), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"dpo-frames: error: cannot read steps from {bad}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["workflow_output.json"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_script_emulator_serves_and_stops_on_sigint(script):
    port = _free_port()
    proc = subprocess.Popen(
        [script, "emulator", "--port", str(port), "--tick-seconds", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v1/customization/configs", timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "emulator did not start in 30 s"
                time.sleep(0.1)
        assert answer.status_code == 200
        assert "llama-3.2-1b-instruct@v1.0.0+A100" in [c["name"] for c in answer.json()["data"]]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert f"emulator on http://127.0.0.1:{port}" in err


def test_script_emulator_bad_option(script):
    done = subprocess.run(
        [script, "emulator", "--token-env", "DPO_FRAMES_TEST_UNSET_VARIABLE"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=60,
    )
    assert done.returncode == 2 and "DPO_FRAMES_TEST_UNSET_VARIABLE" in done.stderr
