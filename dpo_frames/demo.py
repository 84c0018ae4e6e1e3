"""The README's demo: ``nat finetune`` on the offline tic-tac-toe example, against the local
Customizer emulator, then a short summary. No network, no GPU, a few seconds::

    python -m dpo_frames.demo              # in process (NAT's finetuning_main)
    python -m dpo_frames.demo --cli        # the `nat finetune` command, as a subprocess
    python -m dpo_frames.demo --out DIR --verbose

The emulator listens on 127.0.0.1 on a free port with a fast job clock; the example
config (``examples/tictactoe/configs/finetune.yml``) is used as it is, with overrides
for the hosts and for where files go (``--out``, default ``.tmp/dpo_frames_demo``).
Exit status: 0 when the training job completed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpo_frames.emulator import Emulator, EmulatorConfig
from dpo_frames.layout import RECORD_FILE, RUNS_DIR
from dpo_frames.pairs import PairStats
from dpo_frames.rundir import RunDir, open_dir

__all__ = ["DemoResult", "example_dir", "finetune", "load_config", "main", "overrides", "run_demo", "summary"]

ADAPTER = "customizer"
"""The adapter's name in the example config."""


class DemoError(RuntimeError):
    """The demo could not run (e.g. the example workflow is not installed)."""


@dataclass(frozen=True)
class DemoResult:
    """What the demo run produced."""

    out_dir: Path
    url: str
    seconds: float
    final_metrics: dict[str, Any]
    run_stats: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    error: str | None = None

    @property
    def completed(self) -> bool:
        """True when the training job completed."""
        return self.final_metrics.get("status") == "completed" and self.error is None


def example_dir() -> Path:
    """The installed tic-tac-toe example (``examples/tictactoe``)."""
    try:
        from dpo_frames_tictactoe.make_sample import EXAMPLE_DIR
    except ImportError as exc:
        raise DemoError("the example workflow is not installed: pip install -e examples/tictactoe") from exc
    return Path(EXAMPLE_DIR)


def overrides(url: str, out_dir: Path, example: Path) -> tuple[tuple[str, str], ...]:
    """``nat finetune -o`` pairs: the emulator's URL and every path under ``out_dir``."""
    out = out_dir.resolve()
    return (
        (f"trainer_adapters.{ADAPTER}.entity_host", url),
        (f"trainer_adapters.{ADAPTER}.datastore_host", url),
        (f"trainer_adapters.{ADAPTER}.dataset_output_dir", str(out / "datasets")),
        ("finetuning.output_dir", str(out / "finetune")),
        ("eval.general.output.dir", str(out / "eval")),
        ("eval.general.dataset.file_path", str(example / "data" / "positions.json")),
    )


def load_config(config_file: Path, pairs: tuple[tuple[str, str], ...] = ()) -> Any:
    """NAT's ``Config`` from a YAML file (environment variables substituted) with ``-o`` style
    overrides applied to the parsed document.

    NAT's own override path (``load_and_override_config``) logs the whole effective config,
    secrets substituted from the environment included, at INFO; this does not.
    """
    from nat.data_models.config import Config
    from nat.runtime.loader import PluginTypes, discover_and_register_plugins
    from nat.utils.data_models.schema_validator import validate_schema
    from nat.utils.io.yaml_tools import yaml_load

    discover_and_register_plugins(PluginTypes.CONFIG_OBJECT)
    document = yaml_load(config_file)
    for key, value in pairs:
        *parents, leaf = key.split(".")
        node = document
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return validate_schema(document, Config)


async def finetune(config: Any) -> None:
    """What ``nat finetune`` runs, in process: NAT's ``finetuning_main`` on a loaded config."""
    from nat.data_models.finetuning import FinetuneRunConfig
    from nat.finetuning.finetuning_runtime import finetuning_main

    await finetuning_main(FinetuneRunConfig(config_file=config))


def _finetune_cli(config_file: Path, pairs: tuple[tuple[str, str], ...], verbose: bool) -> str | None:
    """Run ``nat finetune`` as a subprocess; the error text when it fails."""
    nat = Path(sys.executable).with_name("nat")
    command = [
        str(nat) if nat.exists() else "nat",
        "--log-level",
        "info" if verbose else "warning",
        "finetune",
        "--config_file",
        str(config_file),
    ]
    for key, value in pairs:
        command += ["-o", key, value]
    done = subprocess.run(command, capture_output=not verbose, text=True, check=False, env=dict(os.environ))
    if done.returncode == 0:
        return None
    tail = (done.stderr or "").strip().splitlines()[-5:] if not verbose else []
    return f"nat finetune exited with {done.returncode}" + (":\n  " + "\n  ".join(tail) if tail else "")


def _run_summary(run: RunDir) -> dict[str, Any]:
    """What the summary shows of one collection run, from its run directory's record."""
    record, stats = run.record, run.record.pair_stats or PairStats()
    return {
        "run_id": record.run_id,
        "items": record.extra.get("items"),
        "steps": record.steps,
        "candidates": record.candidates,
        "rejects": record.rejects,
        "rejects_by_reason": record.rejects_by_reason,
        "pairs": stats.pairs,
        "pair_stats": stats.model_dump(),
        "skipped": stats.skipped(),
        "frames_dir": str(run.path),
    }


def _read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def run_demo(out_dir: Path, *, cli: bool = False, verbose: bool = False) -> DemoResult:
    """Start the emulator, run the finetuning, collect what it wrote."""
    example = example_dir()
    config_file = example / "configs" / "finetune.yml"
    started = time.perf_counter()
    error = None
    with Emulator(EmulatorConfig(tick_seconds=0.02, deployment_ready_after=0.1)) as emulator:
        pairs = overrides(emulator.url, out_dir, example)
        if cli:
            error = _finetune_cli(config_file, pairs, verbose)
        else:
            try:
                asyncio.run(finetune(load_config(config_file, pairs)))
            except Exception as exc:  # the demo reports any failure in its summary
                error = f"{type(exc).__name__}: {exc}"
        with emulator.state.lock:
            jobs = [dict(job) for job in emulator.state.jobs.values()]
        url = emulator.url
    ft_dir = out_dir / "finetune"
    run_stats = [_run_summary(open_dir(p.parent)) for p in sorted((ft_dir / RUNS_DIR).glob(f"*/{RECORD_FILE}"))]
    return DemoResult(
        out_dir=out_dir,
        url=url,
        seconds=time.perf_counter() - started,
        final_metrics=_read_json(ft_dir / "final_metrics.json") or {},
        run_stats=run_stats,
        jobs=jobs,
        error=error,
    )


def _rel(path: str | Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _skipped_text(skipped: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in skipped.items()) or "nothing"


def summary(result: DemoResult) -> str:
    """The lines the demo prints."""
    lines = [f"dpo_frames demo: nat finetune on the tic-tac-toe example, NeMo platform emulated at {result.url}", ""]
    for stats in result.run_stats:
        rejected = f", {stats['rejects']} rejected {stats['rejects_by_reason']}" if stats["rejects"] else ", 0 rejected"
        lines += [
            f"run {stats['run_id']}: {stats['items']} games, {stats['steps']} intermediate steps",
            f"  candidates  {stats['candidates']} scored moves{rejected}",
            f"  pairs       {stats['pairs']} from {stats['pair_stats']['turns']} turns; "
            f"skipped: {_skipped_text(stats['skipped'])}",
        ]
    fm = result.final_metrics
    dataset, job_meta = fm.get("dataset") or {}, fm.get("job_metadata") or {}
    if dataset:
        lines.append(
            f"dataset       {dataset['pairs']} pairs ({dataset['duplicate_pairs']} duplicates removed): "
            f"{dataset['train_pairs']} training, {dataset['validation_pairs']} validation"
        )
    for split, path in (job_meta.get("files") or {}).items():
        lines.append(f"  {split:<11} {_rel(path)}")
    frames = result.run_stats[0].get("frames_dir") if result.run_stats else None
    lines.append(
        f"frames        {_rel(frames or result.out_dir / 'finetune' / RUNS_DIR)} "
        "(candidates, rejects, pairs .parquet; open it with `dpo-frames stats`)"
    )
    if job_meta.get("job_id"):
        lines.append(f"job           {job_meta['job_id']} -> {fm.get('status')} ({fm.get('message')})")
        lines.append(f"  model       {job_meta.get('output_model')}")
    elif fm:
        lines.append(f"status        {fm.get('status')}: {fm.get('message')}")
    if result.error:
        lines.append(f"error         {result.error}")
    lines.append(f"time          {result.seconds:.1f} s")
    return "\n".join(lines)


def _quiet_third_party_warnings() -> None:
    """Hide a deprecation warning NAT's imports trigger (authlib installs an 'always' filter on import)."""
    try:
        import authlib.deprecate  # noqa: F401
    except ImportError:
        return
    warnings.filterwarnings("ignore", message="authlib.jose module is deprecated")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        prog="python -m dpo_frames.demo", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--out", type=Path, default=Path(".tmp/dpo_frames_demo"), help="where every file goes (default: %(default)s)"
    )
    parser.add_argument("--cli", action="store_true", help="run the `nat finetune` command as a subprocess")
    parser.add_argument("--verbose", action="store_true", help="show the INFO log of NAT and dpo_frames")
    args = parser.parse_args(argv)
    _quiet_third_party_warnings()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR, format="%(levelname)s %(name)s: %(message)s"
    )
    if not args.verbose:
        os.environ.setdefault("TQDM_DISABLE", "1")
    try:
        result = run_demo(args.out, cli=args.cli, verbose=args.verbose)
    except DemoError as exc:
        parser.exit(2, f"error: {exc}\n")
    print(summary(result))
    return 0 if result.completed else 1


if __name__ == "__main__":
    raise SystemExit(main())
