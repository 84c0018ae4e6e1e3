"""NAT entry point (group ``nat.components``): registers the three components.

* ``_type: dpo_traj_builder`` -> :class:`~dpo_frames.nat.builder.DPOTrajectoryBuilder`
* ``_type: nemo_customizer_trainer_adapter`` -> :class:`~dpo_frames.nat.adapter.NeMoCustomizerTrainerAdapter`
* ``_type: nemo_customizer_trainer`` -> :class:`~dpo_frames.nat.trainer.NeMoCustomizerTrainer`

NAT rebuilds every component for each evaluation run, so these functions only construct
objects: connections are opened in ``initialize`` and closed by the trainer's cleanup.

NVIDIA's reference plugin registers the same names. When it is installed too, NAT cannot
load a config that uses them; this module then logs the fix at import, prints it again on
stderr when the process exits (after NAT's own errors, so it is the last thing the user
reads), and every registration function raises :class:`~dpo_frames.nat.errors.PluginClashError`.
"""

from __future__ import annotations

import atexit
import logging

from nat.builder.builder import Builder
from nat.cli.register_workflow import register_trainer, register_trainer_adapter, register_trajectory_builder

from dpo_frames.nat.clash import (
    check_no_reference_plugin,
    clash_message,
    print_clash_message,
    reference_plugin_version,
)
from dpo_frames.nat.config import DPOTrajBuilderConfig, NeMoCustomizerTrainerAdapterConfig, NeMoCustomizerTrainerConfig

logger = logging.getLogger("dpo_frames.nat")

_version = reference_plugin_version()
if _version is not None:
    logger.error("%s", clash_message(_version))
    # NAT then fails on the ambiguous names with pages of its own errors: say it again last.
    atexit.register(print_clash_message, _version)


@register_trajectory_builder(config_type=DPOTrajBuilderConfig)
async def dpo_trajectory_builder(config: DPOTrajBuilderConfig, builder: Builder):
    """The DPO trajectory builder: scored TTC candidates -> preference pairs."""
    check_no_reference_plugin()
    from dpo_frames.nat.builder import DPOTrajectoryBuilder

    yield DPOTrajectoryBuilder(trajectory_builder_config=config)


@register_trainer_adapter(config_type=NeMoCustomizerTrainerAdapterConfig)
async def nemo_customizer_trainer_adapter(config: NeMoCustomizerTrainerAdapterConfig, builder: Builder):
    """The NeMo Customizer adapter: dataset upload, training job, optional deployment."""
    check_no_reference_plugin()
    from dpo_frames.nat.adapter import NeMoCustomizerTrainerAdapter

    yield NeMoCustomizerTrainerAdapter(adapter_config=config)


@register_trainer(config_type=NeMoCustomizerTrainerConfig)
async def nemo_customizer_trainer(config: NeMoCustomizerTrainerConfig, builder: Builder):
    """The NeMo Customizer trainer: num_runs collections, one dataset, one job."""
    check_no_reference_plugin()
    from dpo_frames.nat.trainer import NeMoCustomizerTrainer

    yield NeMoCustomizerTrainer(trainer_config=config)
