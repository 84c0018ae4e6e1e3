"""The emulator validates a job's dataset by its training type, as NeMo Customizer does: DPO records for
DPO jobs, prompt/completion or messages for SFT jobs, the file and line named on failure; and it serves
the dataset-card check (``validate-yaml``) ``huggingface_hub`` makes before committing a README."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.utils import disable_progress_bars

from dpo_frames.emulator import Emulator, EmulatorConfig

CONFIG = "meta/llama-3.2-1b-instruct@v1.0.0+A100"
DPO = {"prompt": "2+2?", "chosen_response": "4", "rejected_response": "5"}
SFT = {"prompt": "2+2?", "completion": "4"}
CHAT = {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "2+2?"},
                     {"role": "assistant", "content": "4"}]}  # fmt: skip
TRAINING, VALIDATION = "training/training_file.jsonl", "validation/validation_file.jsonl"


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    disable_progress_bars()
    with Emulator(EmulatorConfig(tick_seconds=0.1, job_steps=2, epochs=1, clock="manual")) as server:
        yield server


def run_job(emu: Emulator, name: str, training_type: str, *records: Any) -> dict[str, Any]:
    """A job of ``training_type`` on a dataset of ``records`` (training and validation), played to its end."""
    content = b"".join(json.dumps(r).encode() + b"\n" for r in records)
    for path in (TRAINING, VALIDATION):
        emu.state.put_file(f"types/{name}", path, content)
    emu.state.register_dataset("types", name)
    with httpx.Client(base_url=emu.url) as client:
        body = {
            "config": CONFIG,
            "dataset": f"types/{name}",
            "hyperparameters": {"training_type": training_type, "finetuning_type": "lora"},
        }
        created = client.post("/v1/customization/jobs", json=body)
        assert created.status_code == 201, created.text
        emu.advance(6)
        return client.get(f"/v1/customization/jobs/{created.json()['id']}/status").json()


def failure(status: dict[str, Any]) -> str:
    assert status["status"] == "failed", status["status"]
    return status["status_logs"][-1]["message"]


def test_sft_jobs_take_prompt_completion_and_messages(emu):
    assert run_job(emu, "sft-plain", "sft", SFT, SFT)["status"] == "completed"
    assert run_job(emu, "sft-chat", "sft", CHAT)["status"] == "completed"


def test_a_dpo_shaped_file_for_an_sft_job_fails_naming_file_and_line(emu):
    message = failure(run_job(emu, "sft-given-dpo", "sft", DPO))
    assert message.startswith(f"Dataset validation failed: {TRAINING} line 1: a DPO record")
    assert "completion" in message and "messages" in message


def test_an_sft_file_for_a_dpo_job_fails(emu):
    message = failure(run_job(emu, "dpo-given-sft", "dpo", DPO, SFT))
    assert message.startswith(f"Dataset validation failed: {TRAINING} line 2: missing required field 'chosen_response'")


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"prompt": "2+2?"}, "line 1: missing required field 'completion'"),
        ({"prompt": ["2+2?"], "completion": "4"}, "line 1: field 'prompt' must be a string, got list"),
        ({"messages": [{"role": "user", "content": "2+2?"}]}, "the last message must be the assistant's answer"),
        ({"messages": []}, "field 'messages' is an empty list"),
        ({"messages": [{"role": "assistant"}]}, "message 0 must be an object with string 'role' and 'content'"),
        ([SFT], "expected a JSON object, got list"),
    ],
)
def test_sft_records_are_checked_field_by_field(emu, record, expected):
    name = f"sft-bad-{abs(hash(json.dumps(record))) % 10**8}"
    assert expected in failure(run_job(emu, name, "sft", record))


def test_other_training_types_say_they_are_not_emulated(emu):
    from dpo_frames.emulator.dataset_check import DatasetInvalid, validate_dataset

    emu.state.put_file("types/other", TRAINING, b"{}\n")
    emu.state.register_dataset("types", "other")
    with pytest.raises(DatasetInvalid, match="training_type 'grpo' is not emulated"):
        validate_dataset(emu.state, "types", "other", training_type="grpo")


CARD = """---
configs:
- config_name: default
  data_files:
  - split: train
    path: data/train.jsonl
  - split: validation
    path: data/validation.jsonl
dataset_info:
  splits:
  - name: train
    num_examples: 2
---
# A dataset
"""


def test_a_dataset_card_commits_through_validate_yaml(emu):
    api = HfApi(endpoint=emu.hf_endpoint, token=None)
    api.create_repo("cards/ok", repo_type="dataset", exist_ok=True)
    api.create_commit(
        "cards/ok", [CommitOperationAdd("README.md", CARD.encode())], commit_message="card", repo_type="dataset"
    )
    assert emu.state.file_bytes("cards/ok", "README.md").decode() == CARD
    assert [r.status for r in emu.state.requests_to("/v1/hf/api/validate-yaml", "POST")][-1] == 200


@pytest.mark.parametrize(
    ("card", "expected"),
    [
        ("---\nconfigs: 3\n---\n", "configs must be a list"),
        ("---\nconfigs:\n- data_files: x.jsonl\n---\n", "config_name (a string) is required"),
        ("---\nconfigs:\n- config_name: a\n- config_name: a\n---\n", "'a' is used twice"),
        ("---\nconfigs:\n- config_name: a\n  data_files: [{path: x}]\n---\n", "expected a path or {split"),
        ("---\nkey: [unclosed\n---\n", "Invalid YAML"),
        ("---\n- a list\n---\n", "must be a YAML mapping"),
        ("---\ndataset_info:\n  splits: [{name: train, num_examples: many}]\n---\n", "integer num_examples"),
    ],
)
def test_bad_card_metadata_is_refused_before_the_commit(emu, card, expected):
    api = HfApi(endpoint=emu.hf_endpoint, token=None)
    api.create_repo("cards/bad", repo_type="dataset", exist_ok=True)
    with pytest.raises(ValueError, match="Invalid metadata in README.md") as refused:
        api.create_commit(
            "cards/bad", [CommitOperationAdd("README.md", card.encode())], commit_message="c", repo_type="dataset"
        )
    assert expected in str(refused.value)
    assert "README.md" not in emu.state.repo("cards/bad").files


def test_a_card_without_metadata_is_a_warning(emu):
    with httpx.Client(base_url=emu.url) as client:
        answer = client.post("/v1/hf/api/validate-yaml", json={"content": "# no metadata\n", "repoType": "dataset"})
        assert answer.status_code == 200 and "Empty metadata" in answer.json()["warnings"][0]["message"]
        assert client.post("/v1/hf/api/validate-yaml", json={"repoType": "dataset"}).status_code == 422


@pytest.mark.parametrize(
    ("line", "why"),
    [(b'{"prompt": "p", "chosen_response": ' + b"9" * 5000 + b', "rejected_response": "r"}', "unreadable JSON"),
     (b'{"prompt": ' + b"[" * 5000 + b"]" * 5000 + b"}", "unreadable JSON (nested too deep)")],
    ids=["5000-digits", "deep"],
)  # fmt: skip
def test_a_record_no_json_reader_takes_fails_the_job_naming_file_and_line(emu, line, why):
    good = json.dumps(DPO).encode()
    for path in (TRAINING, VALIDATION):
        emu.state.put_file("types/hostile-" + why[:4], path, good + b"\n" + line + b"\n")
    emu.state.register_dataset("types", "hostile-" + why[:4])
    with httpx.Client(base_url=emu.url) as client:
        body = {"config": CONFIG, "dataset": "types/hostile-" + why[:4],
                "hyperparameters": {"training_type": "dpo", "finetuning_type": "lora"}}  # fmt: skip
        created = client.post("/v1/customization/jobs", json=body)
        emu.advance(6)
        status = client.get(f"/v1/customization/jobs/{created.json()['id']}/status").json()
        assert client.get("/health").status_code == 200  # the emulator goes on
    assert failure(status).startswith(f"Dataset validation failed: {TRAINING} line 2: {why}")
