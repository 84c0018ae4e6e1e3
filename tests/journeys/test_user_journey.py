"""A user's journey through the installed ``dpo-frames`` script, each step reading what the last wrote:

a real ``nat finetune`` on the example (against the emulator), then ``stats``, ``report`` and
``sql`` on its per-run directory, ``pairs RUNDIR`` with other settings, ``pairs`` over two
sources at once, ``dataset`` in two formats side by side, and ``submit`` to the emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from dpo_frames import rundir
from dpo_frames.demo import example_dir
from dpo_frames.emulator import Emulator, EmulatorConfig

BIN = Path(sys.executable).parent
EXAMPLE = example_dir()


def run(*args: object, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, f"{args}: {done.stderr[-2000:]}"
    return done


def test_from_nat_finetune_to_a_customizer_job(tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(EXAMPLE.parent, target_is_directory=True)  # the config's relative paths
    dpo = BIN / "dpo-frames"
    with Emulator(EmulatorConfig(tick_seconds=0.01)) as emu:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("NEMO_", "HF_"))}
        env.update(EMULATOR_PORT=str(emu.port), TQDM_DISABLE="1", NEMO_MICROSERVICES_BASE_URL=emu.url)
        run(
            BIN / "nat",
            "--log-level",
            "warning",
            "finetune",
            "--config_file",
            EXAMPLE / "configs/finetune.yml",
            cwd=tmp_path,
            env=env,
        )
        (run_dir,) = (tmp_path / ".tmp/dpo_frames_tictactoe/finetune/runs").iterdir()  # the NAT collection run

        stats = json.loads(run(dpo, "stats", run_dir, "--json", cwd=tmp_path, env=env).stdout)
        assert stats["producer"] == "dpo_traj_builder" and stats["candidates"] == 119
        run(dpo, "report", run_dir, "--out", tmp_path / "nat-run.html", cwd=tmp_path, env=env)
        assert (tmp_path / "nat-run.html").stat().st_size > 100_000  # the page with its charts inlined
        per_turn = run(dpo, "sql", run_dir, "pairs_per_turn", "--csv", tmp_path / "per_turn.csv", cwd=tmp_path, env=env)
        assert "wrote" in per_turn.stdout and (tmp_path / "per_turn.csv").read_text().startswith("turn_index")

        r2 = tmp_path / "r2"  # collect once, pair many: the NAT run's candidates with another margin
        run(dpo, "pairs", run_dir, "--min-score-diff", "0.4", "--out", r2, cwd=tmp_path, env=env)
        assert rundir.open_dir(r2).record.run_ids == [run_dir.name]
        both = tmp_path / "both"  # two sources at once: the NAT run and the example's workflow output
        run(dpo, "pairs", run_dir, EXAMPLE / "data/workflow_output.json", "--out", both, cwd=tmp_path, env=env)
        assert len(rundir.open_dir(both).record.run_ids) == 2

        run(dpo, "dataset", r2, cwd=tmp_path, env=env)
        run(dpo, "dataset", r2, "--format", "trl-conversational", cwd=tmp_path, env=env)
        exports = sorted(p.name for p in (r2 / "datasets").iterdir())
        assert exports == ["customizer", "trl-conversational"]

        submitted = run(
            dpo,
            "submit",
            r2 / "datasets/customizer",
            "--namespace",
            "team",
            "--dataset-name",
            "r2",
            "--wait",
            "--poll-interval",
            "0.05",
            "--json",
            cwd=tmp_path,
            env=env,
        )
        ref = json.loads(submitted.stdout)
        assert ref["status"] == "completed" and ref["run_id"] == run_dir.name  # the run the dataset came from
        jobs = [job["status"] for job in emu.state.jobs.values()]
    assert jobs == ["completed", "completed"]  # the NAT run's job and ours
