"""dpo_frames as a NeMo Agent Toolkit (NAT) finetuning plugin.

A drop-in replacement for the DPO part of NVIDIA's ``nvidia-nat-nemo-customizer``: the
same ``_type`` names and YAML keys (see :mod:`dpo_frames.nat.config`), registered through
the ``nat.components`` entry point ``dpo_frames.nat.register``. Install one of the two
plugins per environment, not both.

Components: :class:`~dpo_frames.nat.builder.DPOTrajectoryBuilder` (``dpo_traj_builder``),
:class:`~dpo_frames.nat.adapter.NeMoCustomizerTrainerAdapter`
(``nemo_customizer_trainer_adapter``) and :class:`~dpo_frames.nat.trainer.NeMoCustomizerTrainer`
(``nemo_customizer_trainer``). With ``hyperparameters.training_type: sft`` they build and upload
best-of-n SFT records instead of DPO pairs (:mod:`dpo_frames.nat.sft`).
"""

from dpo_frames.errors import MissingExtraError

try:
    import nat  # noqa: F401
except ImportError as exc:
    raise MissingExtraError("the NAT plugin", "nat", exc.name or "nat") from None

from dpo_frames.errors import (
    CollectionError,
    EmptyDatasetError,
    NatPluginError,
    PlatformUnavailableError,
    PluginClashError,
    TrainingJobError,
)
from dpo_frames.nat.config import (
    DPOSpecificHyperparameters,
    DPOTrajBuilderConfig,
    NeMoCustomizerHyperparameters,
    NeMoCustomizerTrainerAdapterConfig,
    NeMoCustomizerTrainerConfig,
    NIMDeploymentConfig,
)

__all__ = [
    "CollectionError",
    "DPOSpecificHyperparameters",
    "DPOTrajBuilderConfig",
    "EmptyDatasetError",
    "NIMDeploymentConfig",
    "NatPluginError",
    "NeMoCustomizerHyperparameters",
    "NeMoCustomizerTrainerAdapterConfig",
    "NeMoCustomizerTrainerConfig",
    "PlatformUnavailableError",
    "PluginClashError",
    "TrainingJobError",
]
