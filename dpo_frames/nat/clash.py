"""Detect NVIDIA's reference plugin, whose component names are the same as ours."""

from __future__ import annotations

import importlib.metadata
import sys

from dpo_frames.errors import PluginClashError

REFERENCE_DISTRIBUTION = "nvidia-nat-nemo-customizer"


def reference_plugin_version() -> str | None:
    """The installed version of the reference plugin, or None when it is not installed."""
    try:
        return importlib.metadata.version(REFERENCE_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def clash_message(version: str) -> str:
    """What to tell the user when both plugins are installed."""
    return (
        f"{REFERENCE_DISTRIBUTION} {version} is installed in this environment: it registers the same NAT "
        "component names as dpo_frames (dpo_traj_builder, nemo_customizer_trainer_adapter, "
        "nemo_customizer_trainer), so NAT cannot tell them apart. Use one of them per environment: "
        f"`pip uninstall {REFERENCE_DISTRIBUTION}` to use dpo_frames (or uninstall dpo_frames to use the reference)."
    )


def print_clash_message(version: str) -> None:
    """Write the clash message on stderr (registered to run at exit when the clash is detected)."""
    print(f"\ndpo_frames: {clash_message(version)}", file=sys.stderr, flush=True)


def check_no_reference_plugin() -> None:
    """Raise :class:`PluginClashError` when the reference plugin is installed alongside."""
    version = reference_plugin_version()
    if version is not None:
        raise PluginClashError(clash_message(version))
