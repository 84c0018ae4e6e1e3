"""YAML configuration of the three NAT components, key for key compatible with NVIDIA's
reference plugin ``nvidia-nat-nemo-customizer`` 1.9.

Every reference key exists here with the same default and (at least) the same validation,
so a reference config loads unchanged. New keys are documented below and default to the
reference behaviour:

* builder: ``strategy`` (pairing strategy; unset, ``exhaustive_pairs`` decides as in the
  reference), ``seed`` (of ``best_vs_random``), ``max_candidates_per_turn`` (bounds the
  quadratic pairing of huge turns; unset, no bound as in the reference),
  ``strip_echoed_output`` (default true: a candidate's own answer recorded as the last
  message of its prompt is removed before pairing; the reference keeps it and writes records
  whose prompt is the chosen answer), ``sft`` (with the adapter's ``hyperparameters.training_type:
  sft``: which candidates become SFT records, :class:`~dpo_frames.SftConfig`'s ``min_score`` and
  ``min_margin``; unset, the best candidate of every turn).
  ``custom_step_name``, obsolete in the reference and ignored there, is read as an alias
  of ``ttc_step_name`` when that key is absent;
* adapter: ``api_token`` (bearer token for the platform, else env ``NEMO_API_TOKEN``),
  ``validation_fraction`` (share of prompts in the validation file, default 0.2 as the
  reference's 80/20 cut), ``retry`` (HTTP retry policy of the client),
  ``on_existing_deployment`` (``fail``/``update``/``replace`` a fixed-name deployment that
  serves another model);
* trainer: ``seed`` (the ``max_pairs`` sample is reproducible; the reference's is not).

With ``hyperparameters.training_type: sft`` the components build and upload SFT records, not DPO
records (which Customizer's SFT validation rejects): see :mod:`dpo_frames.nat.sft`.

Unknown keys are ignored, as NAT and the reference do, but named in a warning.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from nat.data_models.finetuning import TrainerAdapterConfig, TrainerConfig, TrajectoryBuilderConfig
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from dpo_frames.customizer.settings import RetryPolicy
from dpo_frames.dataset.sft import SftConfig
from dpo_frames.pairs.config import PairConfig

__all__ = [
    "API_TOKEN_ENV",
    "DPOSpecificHyperparameters",
    "DPOTrajBuilderConfig",
    "NIMDeploymentConfig",
    "NeMoCustomizerHyperparameters",
    "NeMoCustomizerTrainerAdapterConfig",
    "NeMoCustomizerTrainerConfig",
]

logger = logging.getLogger("dpo_frames.nat")

API_TOKEN_ENV = "NEMO_API_TOKEN"
_TYPE_KEYS = {"_type", "type"}


def _warn_unknown(cls: type[BaseModel], data: Any, also_known: frozenset[str] = frozenset()) -> None:
    """Log the keys NAT would silently ignore (typos, keys of another version)."""
    if not isinstance(data, dict):
        return
    known = set(cls.model_fields) | _TYPE_KEYS | also_known
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        logger.warning("%s: ignoring unknown key(s) %s", getattr(cls, "_typed_model_name", cls.__name__), unknown)


# --------------------------------------------------------------------------- builder


class DPOTrajBuilderConfig(TrajectoryBuilderConfig, PairConfig, name="dpo_traj_builder"):
    """``_type: dpo_traj_builder``: how preference pairs are built from scored TTC candidates.

    The pair keys are :class:`dpo_frames.PairConfig`'s (same names, defaults and validation
    as the reference): ``ttc_step_name``, ``exhaustive_pairs``, ``min_score_diff``,
    ``max_pairs_per_turn``, ``reward_from_score_diff``, ``require_multiple_candidates``; and
    the new ``strategy`` (``exhaustive``, ``best_vs_worst``, ``best_vs_random``,
    ``best_vs_all``, ``best_vs_mean_minus_2sd``, ``adjacent``; unset: from
    ``exhaustive_pairs``, the reference behaviour), ``seed`` and ``max_candidates_per_turn``.
    With the adapter's ``hyperparameters.training_type: sft`` the ``sft`` block picks the SFT
    records instead (:class:`~dpo_frames.SftConfig`; an unknown key in it is an error).

    Example YAML::

        trajectory_builders:
          dpo_builder:
            _type: dpo_traj_builder
            ttc_step_name: dpo_candidate_move
            exhaustive_pairs: true          # or, new: strategy: best_vs_mean_minus_2sd
            min_score_diff: 0.05
            max_pairs_per_turn: 5
            sft:                            # new, for training_type: sft
              min_score: 0.5
              min_margin: 0.1
    """

    model_config = ConfigDict(extra="ignore")

    sft: SftConfig = Field(
        default_factory=SftConfig,
        description="New: with the adapter's hyperparameters.training_type: sft, which candidate of each turn becomes "
        "an SFT record: the best, if it scores at least min_score and beats the turn's next best by min_margin "
        "(either unset: no such condition).",
    )
    strip_echoed_output: bool = Field(
        default=True,
        description="New: remove a candidate's own answer recorded as the last (assistant) message of its prompt "
        "before pairing and export (workflows that record the conversation after the model answered). "
        "False: prompts as recorded.",
    )

    @model_validator(mode="before")
    @classmethod
    def _obsolete_and_unknown_keys(cls, data: Any) -> Any:
        _warn_unknown(cls, data, frozenset({"custom_step_name"}))
        if isinstance(data, dict) and data.get("custom_step_name") is not None:
            if "ttc_step_name" not in data:
                logger.warning(
                    "dpo_traj_builder: 'custom_step_name' is obsolete; read as ttc_step_name=%r",
                    data["custom_step_name"],
                )
                data = {**data, "ttc_step_name": data["custom_step_name"]}
            elif data["ttc_step_name"] != data["custom_step_name"]:
                logger.warning(
                    "dpo_traj_builder: obsolete 'custom_step_name' ignored; ttc_step_name=%r is used",
                    data["ttc_step_name"],
                )
        return data

    def pair_config(self) -> PairConfig:
        """The core's pair settings."""
        return PairConfig(**{name: getattr(self, name) for name in PairConfig.model_fields})


# --------------------------------------------------------------------------- trainer


class NeMoCustomizerTrainerConfig(TrainerConfig, name="nemo_customizer_trainer"):  # type: ignore[call-arg]  # nat is untyped: mypy checks name= on object
    """``_type: nemo_customizer_trainer``: collect ``num_runs`` runs, build one dataset, train once.

    Example YAML::

        trainers:
          nemo_dpo:
            _type: nemo_customizer_trainer
            num_runs: 5
            wait_for_completion: true
            deduplicate_pairs: true
            max_pairs: 10000
            seed: 0
    """

    model_config = ConfigDict(extra="ignore")

    num_runs: int = Field(default=1, ge=1, description="How many times the workflow is evaluated to collect pairs.")
    continue_on_collection_error: bool = Field(
        default=False,
        description="True: a failed or interrupted collection run is logged and skipped; False: stop at once.",
    )
    deduplicate_pairs: bool = Field(
        default=True,
        description="Keep one pair per (prompt, chosen, rejected) across all runs (training_type sft: one record "
        "per (prompt, completion)).",
    )
    max_pairs: int | None = Field(
        default=None,
        ge=1,
        description="Keep a seeded random sample of at most this many pairs (training_type sft: records). None: all.",
    )
    wait_for_completion: bool = Field(
        default=True, description="Follow the training job to its end (False: return once submitted)."
    )
    seed: int = Field(default=0, description="New: seed of the max_pairs sample (the same seed keeps the same pairs).")

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys(cls, data: Any) -> Any:
        _warn_unknown(cls, data)
        return data


# --------------------------------------------------------------------------- adapter


class DPOSpecificHyperparameters(BaseModel):
    """``hyperparameters.dpo``: DPO settings of the customization job."""

    ref_policy_kl_penalty: float = Field(default=0.1, ge=0.0, description="KL penalty towards the reference policy.")
    preference_loss_weight: float = Field(default=1.0, ge=0.0, description="Weight of the preference loss.")
    preference_average_log_probs: bool = Field(
        default=False, description="Average (True) or sum (False) the log probabilities over the sequence."
    )
    sft_loss_weight: float = Field(default=0.0, ge=0.0, description="Weight of the SFT loss on chosen responses.")


class NeMoCustomizerHyperparameters(BaseModel):
    """``hyperparameters``: sent as the job's ``hyperparameters`` (reference field set)."""

    training_type: Literal["sft", "dpo"] = Field(
        default="dpo",
        description="dpo: preference pairs; sft: best-of-n SFT records (prompt/completion, or messages with "
        "use_full_message_history), chosen by the builder's sft rules.",
    )
    finetuning_type: Literal["lora", "all_weights"] = Field(default="all_weights", description="lora or all_weights.")
    epochs: int = Field(default=3, ge=1, description="Training epochs.")
    batch_size: int = Field(default=4, ge=1, description="Training batch size.")
    learning_rate: float = Field(default=5e-5, gt=0.0, description="Optimizer learning rate.")
    dpo: DPOSpecificHyperparameters = Field(default_factory=DPOSpecificHyperparameters)


class NIMDeploymentConfig(BaseModel):
    """``deployment_config``: the NIM deployment made when ``deploy_on_completion``."""

    image_name: str = Field(default="nvcr.io/nim/nvidia/nemotron-3.5-lightning-30b-a3b", description="NIM image.")
    image_tag: str = Field(default="latest", description="NIM image tag.")
    gpu: int = Field(default=1, ge=1, description="GPUs of the deployment.")
    deployment_name: str | None = Field(default=None, description="Deployment name; None: nat-deployment-{run id}.")
    description: str = Field(default="Fine-tuned model deployment", description="Deployment description.")


class NeMoCustomizerTrainerAdapterConfig(TrainerAdapterConfig, name="nemo_customizer_trainer_adapter"):  # type: ignore[call-arg]  # nat is untyped: mypy checks name= on object
    """``_type: nemo_customizer_trainer_adapter``: upload the dataset, train, follow, deploy.

    Secrets (``hf_token``, ``api_token``) are :class:`~pydantic.SecretStr`: NAT logs and
    saves whole configs, and these never show there.

    Example YAML::

        trainer_adapters:
          nemo_customizer:
            _type: nemo_customizer_trainer_adapter
            entity_host: https://nmp.example.com
            datastore_host: https://datastore.example.com
            namespace: my-project
            customization_config: meta/llama-3.2-1b-instruct@v1.0.0+A100
            hyperparameters:
              training_type: dpo
              epochs: 5
              batch_size: 8
            use_full_message_history: true
            deploy_on_completion: true
    """

    model_config = ConfigDict(extra="ignore")

    entity_host: str = Field(description="Entity Store base URL (also Customizer and deployments).")
    datastore_host: str = Field(description="Data Store base URL (its Hugging Face API is under /v1/hf).")
    hf_token: SecretStr = Field(default=SecretStr(""), description="Bearer token for the Data Store; empty: none.")
    namespace: str = Field(description="Namespace of the dataset, the job's output model and the deployment.")
    dataset_name: str = Field(default="nat-dpo", description="Dataset (and Data Store repository) name.")
    dataset_output_dir: str | None = Field(
        default=None,
        description="Where the JSONL files are written, in a subdirectory per run id, and kept. "
        "None: {finetuning output_dir}/datasets (the reference used a temporary directory).",
    )
    create_namespace_if_missing: bool = Field(default=True, description="Create the namespace in both stores.")
    customization_config: str = Field(description="Customization config, e.g. meta/llama-3.2-1b-instruct@v1.0.0+A100.")
    hyperparameters: NeMoCustomizerHyperparameters = Field(default_factory=NeMoCustomizerHyperparameters)
    use_full_message_history: bool = Field(
        default=False, description="prompt = the whole message list (True) or the last message's text (False)."
    )
    deploy_on_completion: bool = Field(default=False, description="Deploy the trained model when the job completes.")
    deployment_config: NIMDeploymentConfig = Field(default_factory=NIMDeploymentConfig)
    poll_interval_seconds: float = Field(default=30.0, gt=0.0, description="Seconds between status reads.")
    deployment_timeout_seconds: float = Field(default=1800.0, gt=0.0, description="How long a deployment may take.")
    max_consecutive_status_failures: int = Field(
        default=3, ge=1, le=10, description="Unreadable status polls in a row before the job counts as failed."
    )
    # New keys.
    api_token: SecretStr | None = Field(
        default=None, description=f"New: bearer token for every platform API; None: env {API_TOKEN_ENV} if set."
    )
    validation_fraction: float = Field(
        default=0.2,
        gt=0.0,
        lt=1.0,
        description="New: share of prompts whose pairs form the validation file (no prompt on both sides).",
    )
    retry: RetryPolicy = Field(
        default_factory=RetryPolicy, description="New: HTTP retry policy (attempts, backoff) of every platform call."
    )
    on_existing_deployment: Literal["fail", "update", "replace"] = Field(
        default="fail",
        description="New: when deployment_config.deployment_name already exists and serves another model: fail "
        "(naming both models), update it to the new model, or replace it (delete and create). The reference "
        "fails too, unclearly; a deployment that serves the same model is reused either way.",
    )

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys(cls, data: Any) -> Any:
        _warn_unknown(cls, data)
        return data

    @field_validator("hf_token", mode="before")
    @classmethod
    def _null_token_is_empty(cls, value: Any) -> Any:
        # `hf_token: ${HF_TOKEN:-}` unquoted becomes null after NAT's env substitution.
        return "" if value is None else value

    @model_validator(mode="after")
    def _strip_hosts(self) -> NeMoCustomizerTrainerAdapterConfig:
        self.entity_host = self.entity_host.rstrip("/")
        self.datastore_host = self.datastore_host.rstrip("/")
        return self
