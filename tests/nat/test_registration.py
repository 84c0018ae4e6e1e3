"""Registration: the entry point, cheap side-effect-free build functions, and the clash with
NVIDIA's reference plugin (same component names) detected with a clear fix."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dpo_frames.nat import PluginClashError, register
from dpo_frames.nat.adapter import NeMoCustomizerTrainerAdapter
from dpo_frames.nat.builder import DPOTrajectoryBuilder
from dpo_frames.nat.clash import REFERENCE_DISTRIBUTION
from dpo_frames.nat.config import DPOTrajBuilderConfig, NeMoCustomizerTrainerAdapterConfig, NeMoCustomizerTrainerConfig
from dpo_frames.nat.trainer import NeMoCustomizerTrainer

from ._helpers import FINETUNE_YML

ADAPTER_CONFIG = NeMoCustomizerTrainerAdapterConfig(
    entity_host="http://127.0.0.1:9", datastore_host="http://127.0.0.1:9", namespace="ns", customization_config="c"
)
BUILDS = [
    (register.dpo_trajectory_builder, DPOTrajBuilderConfig(), DPOTrajectoryBuilder),
    (register.nemo_customizer_trainer_adapter, ADAPTER_CONFIG, NeMoCustomizerTrainerAdapter),
    (register.nemo_customizer_trainer, NeMoCustomizerTrainerConfig(), NeMoCustomizerTrainer),
]


def test_the_entry_point_names_the_register_module() -> None:
    points = importlib.metadata.entry_points(group="nat.components")
    assert any(p.value == "dpo_frames.nat.register" for p in points)


@pytest.mark.parametrize("build, config, kind", BUILDS)
async def test_build_functions_only_construct(build, config, kind) -> None:
    async with build(config, None) as component:
        assert isinstance(component, kind)
    if isinstance(component, NeMoCustomizerTrainerAdapter):
        assert component._client is None  # no connection until initialize(): NAT rebuilds components per eval run


@pytest.mark.parametrize("build, config, kind", BUILDS)
async def test_build_functions_refuse_to_run_beside_the_reference(build, config, kind, monkeypatch) -> None:
    real = importlib.metadata.version
    monkeypatch.setattr(
        importlib.metadata, "version", lambda name: "1.9.0" if name == REFERENCE_DISTRIBUTION else real(name)
    )
    with pytest.raises(PluginClashError, match=f"pip uninstall {REFERENCE_DISTRIBUTION}"):
        async with build(config, None):
            pass


def test_nat_finetune_fails_with_the_fix_when_the_reference_is_installed(tmp_path: Path) -> None:
    """A real installed distribution (its metadata on sys.path), seen by a real `nat finetune`."""
    dist = tmp_path / "site" / "nvidia_nat_nemo_customizer-1.9.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {REFERENCE_DISTRIBUTION}\nVersion: 1.9.0\n")
    env = {**os.environ, "PYTHONPATH": str(dist.parent), "EMULATOR_PORT": "9"}
    nat = Path(sys.executable).with_name("nat")
    done = subprocess.run(
        [str(nat), "--log-level", "error", "finetune", "--config_file", str(FINETUNE_YML)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert f"{REFERENCE_DISTRIBUTION} 1.9.0 is installed" in done.stderr
    assert f"pip uninstall {REFERENCE_DISTRIBUTION}" in done.stderr
    assert not (tmp_path / ".tmp").exists()  # stopped before running anything


FAKE_REFERENCE = '''
"""Stands for NVIDIA's reference plugin: the same three component names, registered the same way."""
from nat.cli.register_workflow import register_trainer, register_trainer_adapter, register_trajectory_builder
from nat.data_models.finetuning import TrainerAdapterConfig, TrainerConfig, TrajectoryBuilderConfig


class Builder(TrajectoryBuilderConfig, name="dpo_traj_builder"):
    pass


class Adapter(TrainerAdapterConfig, name="nemo_customizer_trainer_adapter"):
    pass


class Trainer(TrainerConfig, name="nemo_customizer_trainer"):
    pass


@register_trajectory_builder(config_type=Builder)
async def builder(config, b):
    yield None


@register_trainer_adapter(config_type=Adapter)
async def adapter(config, b):
    yield None


@register_trainer(config_type=Trainer)
async def trainer(config, b):
    yield None
'''


def test_with_the_reference_installed_the_fix_is_the_last_thing_the_user_reads(tmp_path: Path) -> None:
    """NAT fails on the ambiguous names with pages of its own errors; the clash message comes after them."""
    site = tmp_path / "site"
    dist = site / "nvidia_nat_nemo_customizer-1.9.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {REFERENCE_DISTRIBUTION}\nVersion: 1.9.0\n")
    (dist / "entry_points.txt").write_text("[nat.components]\nnat_nemo_customizer = fake_reference_plugin\n")
    (site / "fake_reference_plugin.py").write_text(FAKE_REFERENCE)
    env = {**os.environ, "PYTHONPATH": str(site), "EMULATOR_PORT": "9"}
    nat = Path(sys.executable).with_name("nat")
    done = subprocess.run(
        [str(nat), "finetune", "--config_file", str(FINETUNE_YML)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "is ambiguous" in done.stderr  # NAT's own complaint about the names
    last = [line for line in done.stderr.splitlines() if line.strip()][-1]
    assert last.startswith(f"dpo_frames: {REFERENCE_DISTRIBUTION} 1.9.0 is installed")
    assert f"pip uninstall {REFERENCE_DISTRIBUTION}" in last
