"""Benchmark: stream a large file (1 GiB by default) to the emulated Data Store.

The emulator runs in a child process, so the peak RSS measured here is the client's
alone: it must stay bounded (hashing and the LFS PUT stream fixed-size chunks; nothing
holds the whole file). Prints the time and the peak memory, and exits non-zero when the
RSS growth exceeds ``--max-rss-mb``.

    .venv/bin/python benchmarks/bench_upload.py            # 1 GiB
    .venv/bin/python benchmarks/bench_upload.py --mb 200   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from dpo_frames.customizer import CustomizerClient, CustomizerSettings, RetryPolicy

_SERVER = textwrap.dedent(
    """
    import sys
    from dpo_frames.emulator import Emulator, EmulatorConfig
    with Emulator(EmulatorConfig(persist_dir=sys.argv[1])) as emu:
        print(emu.url, flush=True)
        sys.stdin.read()  # run until the parent closes our stdin
    """
)


def rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux: ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_file(path: Path, size_mb: int) -> str:
    """Write ``size_mb`` MiB of non-repeating bytes in 1 MiB chunks; return the sha256."""
    sha = hashlib.sha256()
    block = bytearray(hashlib.sha512(b"seed").digest() * (1024 * 1024 // 64))
    with path.open("wb") as handle:
        for i in range(size_mb):
            block[:8] = i.to_bytes(8, "little")
            sha.update(block)
            handle.write(block)
    return sha.hexdigest()


async def upload(url: str, path: Path) -> tuple[str, str]:
    settings = CustomizerSettings(entity_host=url, retry=RetryPolicy(attempts=3), upload_timeout_seconds=1800)
    async with CustomizerClient(settings) as client:
        await client.datastore.create_namespace("bench")
        await client.datastore.create_repo("bench", "big")
        result = await client.datastore.upload_file(path, "data/big.bin", namespace="bench", name="big")
        tree = {e.path: e for e in await client.datastore.list_repo_tree("bench", "big")}
    return result.mode, str(tree["data/big.bin"].sha256)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=1024, help="file size in MiB (default 1024)")
    parser.add_argument("--max-rss-mb", type=float, default=256.0, help="allowed peak RSS growth, MiB")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-upload-") as tmp:
        tmp_path = Path(tmp)
        source = tmp_path / "big.bin"
        started = time.perf_counter()
        expected_sha = make_file(source, args.mb)
        print(f"generated {args.mb} MiB in {time.perf_counter() - started:.1f}s")

        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(tmp_path / "emulator")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            url = server.stdout.readline().strip()
            if not url.startswith("http://127.0.0.1:"):
                print(f"emulator did not start (got {url!r})", file=sys.stderr)
                return 2
            baseline = rss_mb()
            started = time.perf_counter()
            mode, stored_sha = asyncio.run(upload(url, source))
            elapsed = time.perf_counter() - started
            peak = rss_mb()
        finally:
            if server.stdin is not None:
                server.stdin.close()
            server.wait(timeout=60)

    growth = peak - baseline
    rate = args.mb / elapsed if elapsed else float("inf")
    print(f"upload mode: {mode}; sha256 stored == local: {stored_sha == expected_sha}")
    print(f"time: {elapsed:.1f}s ({rate:.0f} MiB/s), hashing and transfer included")
    print(f"client peak RSS: {peak:.0f} MiB (baseline {baseline:.0f} MiB, growth {growth:.0f} MiB)")
    ok = mode == "lfs" and stored_sha == expected_sha and growth <= args.max_rss_mb
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
