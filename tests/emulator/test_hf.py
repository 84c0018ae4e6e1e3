"""Faithfulness of the emulated Data Store: the official ``huggingface_hub.HfApi`` against it.

Also the protocol details HfApi does not exercise on its own: preupload decisions, commit
errors, the git-lfs upload ticket and content check, tree listings.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, RepositoryNotFoundError
from huggingface_hub.utils import disable_progress_bars

from dpo_frames.emulator import Emulator, EmulatorConfig

REPO = "dpo-team/pairs"
LFS_THRESHOLD = 64 * 1024


@pytest.fixture(scope="module")
def emu() -> Iterator[Emulator]:
    disable_progress_bars()
    with Emulator(EmulatorConfig(lfs_threshold_bytes=LFS_THRESHOLD)) as server:
        yield server


@pytest.fixture
def api(emu: Emulator) -> HfApi:
    return HfApi(endpoint=emu.hf_endpoint, token=None)


@pytest.fixture
def no_xet(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub sends every LFS file through Xet when hf_xet is installed; NeMo Data
    Store (and the emulator) speak git-lfs, so tests of the LFS path turn Xet off."""
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


def fresh_repo(api: HfApi, name: str) -> str:
    repo_id = f"dpo-team/{name}"
    api.create_repo(repo_id=repo_id, repo_type="dataset", exist_ok=True)
    return repo_id


def test_create_repo_twice_with_exist_ok(emu: Emulator, api: HfApi) -> None:
    first = api.create_repo(repo_id=REPO, repo_type="dataset", exist_ok=True)
    second = api.create_repo(repo_id=REPO, repo_type="dataset", exist_ok=True)

    assert first == second == f"{emu.hf_endpoint}/datasets/{REPO}"
    assert first.repo_id == REPO and first.repo_type == "dataset"
    statuses = [r.status for r in emu.state.requests_to("/v1/hf/api/repos/create", "POST")]
    assert statuses[-2:] == [200, 409]
    with pytest.raises(HfHubHTTPError) as conflict:
        api.create_repo(repo_id=REPO, repo_type="dataset")
    assert conflict.value.response.status_code == 409


def test_small_files_upload_inline_and_read_back(emu: Emulator, api: HfApi, tmp_path: Path) -> None:
    repo_id = fresh_repo(api, "small")
    training = tmp_path / "training_file.jsonl"
    training.write_text('{"prompt": "p", "chosen_response": "c", "rejected_response": "r"}\n')
    validation = b'{"prompt": [{"role": "user", "content": "hi"}], "chosen_response": "c", "rejected_response": "r"}'

    api.upload_file(
        path_or_fileobj=str(training),
        path_in_repo="training/training_file.jsonl",
        repo_id=repo_id,
        repo_type="dataset",
        revision="main",
        commit_message="Training file",
    )
    info = api.upload_file(
        path_or_fileobj=validation,
        path_in_repo="validation/validation_file.jsonl",
        repo_id=repo_id,
        repo_type="dataset",
    )

    assert info.oid == emu.state.repo(repo_id).head
    assert sorted(api.list_repo_files(repo_id, repo_type="dataset")) == [
        "training/training_file.jsonl",
        "validation/validation_file.jsonl",
    ]
    assert not emu.state.requests_to(f"/v1/hf/datasets/{repo_id}.git/info/lfs")  # all inline
    downloaded = hf_hub_download(
        repo_id,
        "training/training_file.jsonl",
        repo_type="dataset",
        endpoint=emu.hf_endpoint,
        cache_dir=tmp_path / "cache",
        token=False,
    )
    assert Path(downloaded).read_bytes() == training.read_bytes()
    assert emu.state.file_bytes(repo_id, "validation/validation_file.jsonl") == validation


def test_large_file_goes_through_git_lfs(emu: Emulator, api: HfApi, tmp_path: Path, no_xet: None) -> None:
    repo_id = fresh_repo(api, "large")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(LFS_THRESHOLD + 12_345))

    api.upload_file(path_or_fileobj=str(big), path_in_repo="data/big.bin", repo_id=repo_id, repo_type="dataset")

    lfs_calls = [
        (r.method, r.path.rsplit("/", 1)[-1], r.status) for r in emu.state.requests_to(f"/v1/hf/datasets/{repo_id}.git")
    ]
    sha256 = hashlib.sha256(big.read_bytes()).hexdigest()
    assert lfs_calls == [("POST", "batch", 200), ("PUT", sha256, 200), ("POST", "verify", 200)]
    stored = emu.state.repo(repo_id).files["data/big.bin"]
    assert stored.lfs and stored.sha256 == sha256 and stored.size == big.stat().st_size
    (entry,) = list(api.list_repo_tree(repo_id, "data", repo_type="dataset"))
    assert entry.lfs is not None and entry.lfs.sha256 == sha256
    downloaded = hf_hub_download(
        repo_id,
        "data/big.bin",
        repo_type="dataset",
        endpoint=emu.hf_endpoint,
        cache_dir=tmp_path / "cache",
        token=False,
    )
    assert Path(downloaded).read_bytes() == big.read_bytes()


def test_large_file_object_takes_lfs_without_xet(emu: Emulator, api: HfApi, tmp_path: Path) -> None:
    """huggingface_hub falls back from Xet to plain git-lfs for a binary file object."""
    repo_id = fresh_repo(api, "large-fileobj")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(LFS_THRESHOLD))

    with big.open("rb") as handle:
        api.upload_file(path_or_fileobj=handle, path_in_repo="big.bin", repo_id=repo_id, repo_type="dataset")

    assert emu.state.repo(repo_id).files["big.bin"].lfs
    assert emu.state.requests_to(f"/v1/hf/datasets/{repo_id}.git/info/lfs/objects/batch", "POST")


def test_xet_is_refused_with_an_explanation(emu: Emulator, api: HfApi) -> None:
    fresh_repo(api, "xet")
    answer = httpx.get(f"{emu.hf_endpoint}/api/datasets/dpo-team/xet/xet-write-token/main")
    assert answer.status_code == 501
    assert "HF_HUB_DISABLE_XET" in answer.json()["error"]


def test_unchanged_file_is_not_committed_again(emu: Emulator, api: HfApi) -> None:
    repo_id = fresh_repo(api, "unchanged")
    api.upload_file(path_or_fileobj=b"same bytes", path_in_repo="a.txt", repo_id=repo_id, repo_type="dataset")
    commits = len(emu.state.repo(repo_id).commits)

    api.upload_file(path_or_fileobj=b"same bytes", path_in_repo="a.txt", repo_id=repo_id, repo_type="dataset")

    assert len(emu.state.repo(repo_id).commits) == commits


def test_missing_repo_and_file_map_to_hub_errors(emu: Emulator, api: HfApi, tmp_path: Path) -> None:
    with pytest.raises(RepositoryNotFoundError):
        api.list_repo_files("dpo-team/nothing-here", repo_type="dataset")
    repo_id = fresh_repo(api, "errors")
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(
            repo_id, "missing.txt", repo_type="dataset", endpoint=emu.hf_endpoint, cache_dir=tmp_path, token=False
        )


def test_delete_file_and_folder(emu: Emulator, api: HfApi) -> None:
    repo_id = fresh_repo(api, "deletions")
    for path in ("keep.txt", "dir/a.txt", "dir/sub/b.txt"):
        api.upload_file(path_or_fileobj=path.encode(), path_in_repo=path, repo_id=repo_id, repo_type="dataset")

    api.delete_folder("dir", repo_id=repo_id, repo_type="dataset")
    assert api.list_repo_files(repo_id, repo_type="dataset") == ["keep.txt"]
    api.delete_file("keep.txt", repo_id=repo_id, repo_type="dataset")
    assert api.list_repo_files(repo_id, repo_type="dataset") == []


# --- the protocol below HfApi -------------------------------------------------------------------
def _commit_body(*operations: dict) -> bytes:
    lines = [{"key": "header", "value": {"summary": "s", "description": ""}}, *operations]
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_preupload_decides_by_size_and_reports_existing_oid(emu: Emulator, api: HfApi) -> None:
    repo_id = fresh_repo(api, "preupload")
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="hello.txt", repo_id=repo_id, repo_type="dataset")
    files = [
        {"path": "hello.txt", "size": 5, "sample": base64.b64encode(b"hello").decode()},
        {"path": "big.bin", "size": LFS_THRESHOLD, "sample": ""},
        {"path": "small.bin", "size": LFS_THRESHOLD - 1, "sample": ""},
    ]

    answer = httpx.post(f"{emu.hf_endpoint}/api/datasets/{repo_id}/preupload/main", json={"files": files}).json()

    modes = {item["path"]: (item["uploadMode"], item["shouldIgnore"], item["oid"]) for item in answer["files"]}
    git_oid = hashlib.sha1(b"blob 5\0hello").hexdigest()
    assert modes == {
        "hello.txt": ("regular", False, git_oid),
        "big.bin": ("lfs", False, None),
        "small.bin": ("regular", False, None),
    }


def test_commit_rejects_bad_payloads(emu: Emulator, api: HfApi) -> None:
    repo_id = fresh_repo(api, "bad-commits")
    url = f"{emu.hf_endpoint}/api/datasets/{repo_id}/commit/main"
    headers = {"Content-Type": "application/x-ndjson"}

    bad_base64 = httpx.post(
        url,
        content=_commit_body({"key": "file", "value": {"path": "a", "content": "%%", "encoding": "base64"}}),
        headers=headers,
    )
    missing_lfs = httpx.post(
        url,
        content=_commit_body({"key": "lfsFile", "value": {"path": "b", "algo": "sha256", "oid": "0" * 64, "size": 3}}),
        headers=headers,
    )
    escaping = httpx.post(
        url,
        content=_commit_body({"key": "file", "value": {"path": "../x", "content": "", "encoding": "base64"}}),
        headers=headers,
    )
    no_header = httpx.post(url, content=b'{"key": "deletedFile", "value": {"path": "a"}}\n', headers=headers)

    assert (bad_base64.status_code, "line 2" in bad_base64.json()["error"]) == (400, True)
    assert missing_lfs.status_code == 422 and "git-lfs batch" in missing_lfs.json()["error"]
    assert escaping.status_code == 400
    assert no_header.status_code in (400, 404)
    assert emu.state.repo(repo_id).files == {}


def test_lfs_upload_needs_its_ticket_and_matching_content(emu: Emulator, api: HfApi) -> None:
    repo_id = fresh_repo(api, "lfs-checks")
    content = b"x" * 1000
    oid = hashlib.sha256(content).hexdigest()
    batch = httpx.post(
        f"{emu.hf_endpoint}/datasets/{repo_id}.git/info/lfs/objects/batch",
        json={
            "operation": "upload",
            "transfers": ["basic"],
            "objects": [{"oid": oid, "size": len(content)}, {"oid": "nope", "size": 1}],
        },
    ).json()
    good, bad = batch["objects"]
    href = good["actions"]["upload"]["href"]

    assert bad["error"]["code"] == 422
    assert httpx.put(href.split("?")[0] + "?ticket=forged", content=content).status_code == 403
    assert httpx.put(href, content=b"y" * 1000).status_code == 400  # sha256 mismatch, ticket kept
    assert httpx.put(href, content=content).status_code == 200
    assert httpx.post(good["actions"]["verify"]["href"], json={"oid": oid, "size": len(content)}).status_code == 200
    again = httpx.post(
        f"{emu.hf_endpoint}/datasets/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(content)}]},
    ).json()
    assert "actions" not in again["objects"][0]  # already stored: nothing to upload


def test_tree_lists_one_level_or_everything(emu: Emulator, api: HfApi) -> None:
    repo_id = fresh_repo(api, "tree")
    for path in ("top.txt", "training/training_file.jsonl", "training/extra/deep.txt"):
        emu.state.put_file(repo_id, path, path.encode())
    base = f"{emu.hf_endpoint}/api/datasets/{repo_id}/tree/main"

    top = httpx.get(base, params={"recursive": "false"}).json()
    everything = httpx.get(base, params={"recursive": "true", "expand": "false"}).json()
    inside = httpx.get(f"{base}/training").json()

    assert [(e["type"], e["path"]) for e in top] == [("file", "top.txt"), ("directory", "training")]
    assert [e["path"] for e in everything] == [
        "top.txt",
        "training",
        "training/extra",
        "training/extra/deep.txt",
        "training/training_file.jsonl",
    ]
    assert [(e["type"], e["path"]) for e in inside] == [
        ("directory", "training/extra"),
        ("file", "training/training_file.jsonl"),
    ]
    assert httpx.get(f"{base}/nowhere").status_code == 404


def test_lfs_upload_is_streamed_to_disk(emu: Emulator, api: HfApi) -> None:
    """48 MB through the LFS PUT with Python allocations (both threads) far below the file size."""
    repo_id = fresh_repo(api, "streamed")
    chunk, chunks = os.urandom(256 * 1024), 192
    digest = hashlib.sha256()
    for _ in range(chunks):
        digest.update(chunk)
    size, oid = len(chunk) * chunks, digest.hexdigest()
    batch = httpx.post(
        f"{emu.hf_endpoint}/datasets/{repo_id}.git/info/lfs/objects/batch",
        json={"operation": "upload", "objects": [{"oid": oid, "size": size}]},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]

    tracemalloc.start()
    try:
        answer = httpx.put(href, content=(chunk for _ in range(chunks)), headers={"Content-Length": str(size)})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert answer.status_code == 200
    assert peak < 8 * 1024 * 1024
    assert emu.state.blobs.path(oid).stat().st_size == size


def test_model_repositories_work_too(emu: Emulator, api: HfApi, tmp_path: Path, no_xet: None) -> None:
    """Model repos live at the endpoint root (no ``/models/`` prefix), as on the Hub."""
    url = api.create_repo(repo_id="dpo-team/adapter", exist_ok=True)
    weights = os.urandom(LFS_THRESHOLD + 1)

    api.upload_file(path_or_fileobj=weights, path_in_repo="adapter.bin", repo_id="dpo-team/adapter")
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="dpo-team/adapter")

    assert url == f"{emu.hf_endpoint}/dpo-team/adapter"
    assert api.list_repo_files("dpo-team/adapter") == ["adapter.bin", "config.json"]
    assert api.model_info("dpo-team/adapter").sha == emu.state.repo("dpo-team/adapter", "model").head
    downloaded = hf_hub_download(
        "dpo-team/adapter", "adapter.bin", endpoint=emu.hf_endpoint, cache_dir=tmp_path, token=False
    )
    assert Path(downloaded).read_bytes() == weights
