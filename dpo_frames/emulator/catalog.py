"""The customization configs the emulated Customizer offers (``GET /v1/customization/configs``)."""

from __future__ import annotations

from typing import Any

_STAMP = "2025-01-01T00:00:00+00:00"


def _options(gpus: int, *, full_gpus: int | None = None) -> list[dict[str, Any]]:
    options = []
    for training_type in ("sft", "dpo"):
        options.append(
            {
                "training_type": training_type,
                "finetuning_type": "lora",
                "num_gpus": gpus,
                "num_nodes": 1,
                "micro_batch_size": 1,
                "tensor_parallel_size": 1,
            }
        )
        options.append(
            {
                "training_type": training_type,
                "finetuning_type": "all_weights",
                "num_gpus": full_gpus or gpus,
                "num_nodes": 1,
                "micro_batch_size": 1,
                "tensor_parallel_size": full_gpus or gpus,
            }
        )
    return options


def _config(
    namespace: str, name: str, base_model: str, parameters: int, options: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "id": f"customization_config-{name.split('@')[0].replace('.', '')}",
        "namespace": namespace,
        "name": name,
        "description": f"{base_model} customization on {name.rsplit('+', 1)[-1]}",
        "target": {
            "namespace": namespace,
            "name": name.split("+")[0],
            "base_model": base_model,
            "model_path": base_model.replace("/", "--"),
            "model_uri": f"ngc://nvidia/nemo/{base_model.split('/')[-1]}",
            "num_parameters": parameters,
            "precision": "bf16-mixed",
            "enabled": True,
            "status": "ready",
        },
        "training_options": options,
        "training_precision": "bf16-mixed",
        "max_seq_length": 4096,
        "prompt_template": "{prompt} {completion}",
        "chat_prompt_template": None,
        "dataset_schemas": [],
        "created_at": _STAMP,
        "updated_at": _STAMP,
        "custom_fields": {},
    }


def builtin_configs() -> list[dict[str, Any]]:
    """Fresh copies of the built-in configs, named like the platform's (``ns/model@version+GPU``)."""
    return [
        _config("meta", "llama-3.2-1b-instruct@v1.0.0+A100", "meta/llama-3.2-1b-instruct", 1_235_814_400, _options(1)),
        _config("meta", "llama-3.2-1b-instruct@v1.0.0+L40", "meta/llama-3.2-1b-instruct", 1_235_814_400, _options(1)),
        _config(
            "meta",
            "llama-3.1-8b-instruct@v1.0.0+A100",
            "meta/llama-3.1-8b-instruct",
            8_030_261_248,
            _options(1, full_gpus=8),
        ),
        _config(
            "nvidia",
            "nemotron-3.5-lightning-30b-a3b@v1.0.0+H100",
            "nvidia/nemotron-3.5-lightning-30b-a3b",
            30_000_000_000,
            _options(2, full_gpus=8),
        ),
    ]


def find_config(configs: list[dict[str, Any]], reference: str) -> dict[str, Any] | None:
    """The config named ``ns/name`` (or just ``name``), if any."""
    for config in configs:
        if reference in (f"{config['namespace']}/{config['name']}", config["name"]):
            return config
    return None


def base_model_name(config: dict[str, Any]) -> str:
    """The base model's short name (``llama-3.2-1b-instruct``), used to name output models."""
    target = config.get("target")
    if isinstance(target, dict) and target.get("base_model"):
        return str(target["base_model"]).split("/")[-1]
    return str(config.get("name", "model")).split("@")[0]
