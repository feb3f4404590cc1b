"""Package names loaded on first use: a package's ``__init__`` exports them without importing every module.

The catalog's pydantic models and the masking policy take about 0.15 s to import. The
two-table diff (``smartsync reconcile diff --source ... --key``) needs neither, yet it needs
``MaskRule`` and ``masker_for`` from the same packages. Their ``__init__`` modules name where
each export lives; Python calls the module's ``__getattr__`` (PEP 562) for a name not loaded
yet, which imports its module then. Type checkers read the same names from a
``TYPE_CHECKING`` import block.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: each name of ``homes`` comes from its module when first read."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            msg = f"module {package!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(importlib.import_module(f"{package}.{home}"), name)
        setattr(importlib.import_module(package), name, value)  # read once: a plain attribute from now on
        return value

    return __getattr__
