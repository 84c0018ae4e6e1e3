"""Optional dependencies: imported where they are used, with one clear line when missing.

``pip install dpo_frames`` installs the data library; the extras add the NAT plugin
(``nat``), the platform emulator (``emulator``), the HTML report (``report``), the Dask
engine (``dask``) and the Hugging Face bridge (``hf``). Code that needs one calls
:func:`require` instead of importing at module level, so ``import dpo_frames`` stays light
and a missing extra says how to install it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from dpo_frames.errors import MissingExtraError

__all__ = ["require"]


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import ``module``, or raise :class:`~dpo_frames.errors.MissingExtraError` naming the extra.

    Example:
        >>> require("json", extra="report", feature="the report").__name__
        'json'
        >>> require("no_such_module_here", extra="report", feature="the report")
        Traceback (most recent call last):
        ...
        dpo_frames.errors.MissingExtraError: the report needs the optional dependencies of dpo_frames[report] (module 'no_such_module_here' is missing): pip install 'dpo_frames[report]'
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(feature, extra, exc.name or module) from None
