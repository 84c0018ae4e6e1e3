"""Config parity with the reference plugin (nvidia-nat-nemo-customizer 1.9): every key, its
default and its validation; reference-style YAML loads through NAT unchanged."""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from dpo_frames.nat import DPOTrajBuilderConfig, NeMoCustomizerTrainerAdapterConfig, NeMoCustomizerTrainerConfig
from dpo_frames.nat.adapter import NeMoCustomizerTrainerAdapter

from ._helpers import FINETUNE_YML

# The reference's keys and defaults (nat/plugins/customizer/dpo/config.py, 1.9.0).
REFERENCE_BUILDER = {
    "ttc_step_name": "dpo_candidate_move",
    "exhaustive_pairs": True,
    "min_score_diff": 0.0,
    "max_pairs_per_turn": None,
    "reward_from_score_diff": True,
    "require_multiple_candidates": True,
}
REFERENCE_TRAINER = {
    "num_runs": 1,
    "continue_on_collection_error": False,
    "deduplicate_pairs": True,
    "max_pairs": None,
    "wait_for_completion": True,
}
REFERENCE_ADAPTER = {
    "dataset_name": "nat-dpo",
    "dataset_output_dir": None,
    "create_namespace_if_missing": True,
    "hyperparameters": {
        "training_type": "dpo",
        "finetuning_type": "all_weights",
        "epochs": 3,
        "batch_size": 4,
        "learning_rate": 5e-5,
        "dpo": {
            "ref_policy_kl_penalty": 0.1,
            "preference_loss_weight": 1.0,
            "preference_average_log_probs": False,
            "sft_loss_weight": 0.0,
        },
    },
    "use_full_message_history": False,
    "deploy_on_completion": False,
    "deployment_config": {
        "image_name": "nvcr.io/nim/nvidia/nemotron-3.5-lightning-30b-a3b",
        "image_tag": "latest",
        "gpu": 1,
        "deployment_name": None,
        "description": "Fine-tuned model deployment",
    },
    "poll_interval_seconds": 30.0,
    "deployment_timeout_seconds": 1800.0,
    "max_consecutive_status_failures": 3,
}
REQUIRED_ADAPTER = {
    "entity_host": "https://nmp.example.com",
    "datastore_host": "https://datastore.example.com",
    "namespace": "team",
    "customization_config": "meta/llama-3.2-1b-instruct@v1.0.0+A100",
}


def test_builder_defaults_are_the_reference_ones() -> None:
    assert DPOTrajBuilderConfig().model_dump(include=set(REFERENCE_BUILDER)) == REFERENCE_BUILDER


def test_trainer_defaults_are_the_reference_ones() -> None:
    assert NeMoCustomizerTrainerConfig().model_dump(include=set(REFERENCE_TRAINER)) == REFERENCE_TRAINER


def test_adapter_defaults_are_the_reference_ones() -> None:
    config = NeMoCustomizerTrainerAdapterConfig(**REQUIRED_ADAPTER)
    assert config.model_dump(include=set(REFERENCE_ADAPTER)) == REFERENCE_ADAPTER
    assert config.hf_token.get_secret_value() == ""


@pytest.mark.parametrize("missing", sorted(REQUIRED_ADAPTER))
def test_adapter_requires_what_the_reference_requires(missing: str) -> None:
    with pytest.raises(ValidationError, match=missing):
        NeMoCustomizerTrainerAdapterConfig(**{k: v for k, v in REQUIRED_ADAPTER.items() if k != missing})


def _nested(path: str, value: object) -> dict:
    *parents, leaf = path.split(".")
    data: dict = {leaf: value}
    for part in reversed(parents):
        data = {part: data}
    return data


@pytest.mark.parametrize(
    "model, key, value",
    [
        (DPOTrajBuilderConfig, "min_score_diff", -0.1),
        (DPOTrajBuilderConfig, "max_pairs_per_turn", 0),
        (NeMoCustomizerTrainerConfig, "num_runs", 0),
        (NeMoCustomizerTrainerConfig, "max_pairs", 0),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.training_type", "ppo"),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.finetuning_type", "qlora"),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.epochs", 0),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.batch_size", 0),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.learning_rate", 0.0),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.dpo.ref_policy_kl_penalty", -1.0),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.dpo.preference_loss_weight", -1.0),
        (NeMoCustomizerTrainerAdapterConfig, "hyperparameters.dpo.sft_loss_weight", -1.0),
        (NeMoCustomizerTrainerAdapterConfig, "deployment_config.gpu", 0),
        (NeMoCustomizerTrainerAdapterConfig, "poll_interval_seconds", 0.0),
        (NeMoCustomizerTrainerAdapterConfig, "deployment_timeout_seconds", 0.0),
        (NeMoCustomizerTrainerAdapterConfig, "max_consecutive_status_failures", 0),
        (NeMoCustomizerTrainerAdapterConfig, "max_consecutive_status_failures", 11),
        (NeMoCustomizerTrainerAdapterConfig, "validation_fraction", 1.0),
    ],
)
def test_invalid_values_are_rejected_like_the_reference(model, key, value) -> None:
    base = dict(REQUIRED_ADAPTER) if model is NeMoCustomizerTrainerAdapterConfig else {}
    with pytest.raises(ValidationError, match=key.split(".")[-1]):
        model.model_validate({**base, **_nested(key, value)})


def test_hosts_lose_trailing_slashes() -> None:
    config = NeMoCustomizerTrainerAdapterConfig(
        **{**REQUIRED_ADAPTER, "entity_host": "https://nmp.example.com/", "datastore_host": "https://ds.example.com//"}
    )
    assert (config.entity_host, config.datastore_host) == ("https://nmp.example.com", "https://ds.example.com")


# A config shaped like the reference's tic-tac-toe example: every block, the reference's
# docstring examples, and its obsolete `custom_step_name`.
REFERENCE_STYLE_YAML = """
workflow:
  _type: dpo_frames_tictactoe
trajectory_builders:
  dpo_builder:
    _type: dpo_traj_builder
    custom_step_name: dpo_candidate_move
    exhaustive_pairs: true
    min_score_diff: 0.01
    max_pairs_per_turn: 5
    reward_from_score_diff: true
  docstring_builder:
    _type: dpo_traj_builder
    ttc_step_name: dpo_candidate_move
    exhaustive_pairs: true
    min_score_diff: 0.05
    max_pairs_per_turn: 5
trainer_adapters:
  nemo_customizer_trainer_adapter:
    _type: nemo_customizer_trainer_adapter
    entity_host: https://nmp.example.com
    datastore_host: https://datastore.example.com
    namespace: nat-dpo-test
    customization_config: meta/llama-3.1-8b-instruct@v1.0.0+A100
    dataset_output_dir: .tmp/output/datasets
    hyperparameters:
      training_type: dpo
      epochs: 5
      batch_size: 8
    use_full_message_history: false
    deploy_on_completion: true
    deployment_config:
      image_name: nvcr.io/nim/meta/llama-3.1-8b-instruct
      image_tag: latest
      gpu: 2
      deployment_name: nat_dpo_tic_tac_toe_model
      description: Fine-tuned agent model by the NeMo Agent Toolkit
  docstring_adapter:
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
trainers:
  nemo_customizer_trainer:
    _type: nemo_customizer_trainer
    num_runs: 1
    continue_on_collection_error: true
    deduplicate_pairs: true
    wait_for_completion: true
  docstring_trainer:
    _type: nemo_customizer_trainer
    num_runs: 5
    wait_for_completion: true
    deduplicate_pairs: true
    max_pairs: 10000
finetuning:
  enabled: true
  trainer: nemo_customizer_trainer
  trajectory_builder: dpo_builder
  trainer_adapter: nemo_customizer_trainer_adapter
  output_dir: ./.tmp/nat/finetuning/dpo_tic_tac_toe
"""


def _load_nat_config(text: str, tmp_path: Path):
    from dpo_frames.demo import load_config

    path = tmp_path / "config.yml"
    path.write_text(textwrap.dedent(text))
    return load_config(path)


def test_reference_style_yaml_loads_through_nat(tmp_path: Path) -> None:
    config = _load_nat_config(REFERENCE_STYLE_YAML, tmp_path)
    builder = config.trajectory_builders["dpo_builder"]
    assert isinstance(builder, DPOTrajBuilderConfig)
    assert builder.ttc_step_name == "dpo_candidate_move"
    assert (builder.min_score_diff, builder.max_pairs_per_turn) == (0.01, 5)
    adapter = config.trainer_adapters["nemo_customizer_trainer_adapter"]
    assert isinstance(adapter, NeMoCustomizerTrainerAdapterConfig)
    hp = adapter.hyperparameters
    assert (hp.epochs, hp.batch_size, adapter.deployment_config.gpu) == (5, 8, 2)
    assert adapter.hyperparameters.learning_rate == 5e-5  # unset keys keep the reference defaults
    trainer = config.trainers["docstring_trainer"]
    assert isinstance(trainer, NeMoCustomizerTrainerConfig) and (trainer.num_runs, trainer.max_pairs) == (5, 10000)


def test_obsolete_custom_step_name_is_read_as_ttc_step_name(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dpo_frames.nat"):
        config = DPOTrajBuilderConfig.model_validate({"custom_step_name": "my_step"})
        both = DPOTrajBuilderConfig.model_validate({"custom_step_name": "old", "ttc_step_name": "new"})
    assert (config.ttc_step_name, both.ttc_step_name) == ("my_step", "new")
    assert "obsolete" in caplog.text


def test_unknown_keys_load_but_are_named_in_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dpo_frames.nat"):
        config = NeMoCustomizerTrainerConfig.model_validate({"num_run": 3})
    assert config.num_runs == 1 and "num_run" in caplog.text


def test_the_example_config_is_valid() -> None:
    from dpo_frames.demo import load_config

    config = load_config(FINETUNE_YML)
    assert config.trainer_adapters["customizer"].use_full_message_history is True


# --- secrets ---------------------------------------------------------------------------

SECRET = "hf-SECRET-abcdef123456"


def test_tokens_never_show_in_reprs_or_dumps(tmp_path: Path) -> None:
    text = REFERENCE_STYLE_YAML.replace(
        "namespace: nat-dpo-test", f"namespace: nat-dpo-test\n    hf_token: {SECRET}\n    api_token: {SECRET}"
    )
    config = _load_nat_config(text, tmp_path)
    adapter = config.trainer_adapters["nemo_customizer_trainer_adapter"]
    assert adapter.hf_token.get_secret_value() == SECRET
    # NAT logs the config model and writes model_dump(mode="json") to config_effective.yml.
    for shown in (repr(config), str(config), yaml.safe_dump(config.model_dump(mode="json")), repr(adapter)):
        assert SECRET not in shown


def test_api_token_comes_from_the_environment_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEMO_API_TOKEN", "from-env")
    from_env = NeMoCustomizerTrainerAdapter(NeMoCustomizerTrainerAdapterConfig(**REQUIRED_ADAPTER)).settings()
    explicit = NeMoCustomizerTrainerAdapter(
        NeMoCustomizerTrainerAdapterConfig(**REQUIRED_ADAPTER, api_token="explicit", hf_token="hf")
    ).settings()
    assert from_env.token.get_secret_value() == "from-env" and from_env.hf_token is None
    assert explicit.token.get_secret_value() == "explicit" and explicit.hf_token.get_secret_value() == "hf"


def test_null_hf_token_from_an_unquoted_empty_env_var_is_accepted() -> None:
    config = NeMoCustomizerTrainerAdapterConfig(**REQUIRED_ADAPTER, hf_token=None)
    assert config.hf_token.get_secret_value() == ""
