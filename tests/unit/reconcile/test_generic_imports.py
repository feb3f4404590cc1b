"""The two-table diff starts light: the catalog's models, the masking policy and DuckDB load later or never."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Imported by the store's thread while PostgreSQL hashes (DuckDB, Arrow, the settings), or never
# by the two-table diff (the catalog's pydantic models, the masking policy, the fix path).
DEFERRED = (
    "duckdb",
    "pyarrow",
    "pydantic_settings",
    "smartsync.core.settings",
    "smartsync.core.catalog.models",
    "masking.policy",
    "reconcile.store",
    "reconcile.apply",
)


def _loaded_after(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint(' '.join(m for m in {DEFERRED!r} if m in sys.modules))\n"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout  # noqa: S603
    return set(out.split())


def test_the_two_table_diff_imports_nothing_it_can_defer() -> None:
    assert _loaded_after("import reconcile.generic") == set()


def test_a_package_export_loads_its_own_module_only() -> None:
    assert _loaded_after("from smartsync.core.catalog import MaskRule\nfrom masking import masker_for") == set()
    loaded = _loaded_after("from smartsync.core.catalog import load_catalog\nload_catalog()")
    assert "smartsync.core.catalog.models" in loaded


def test_an_unknown_export_is_an_attribute_error() -> None:
    import masking  # noqa: PLC0415
    import smartsync.core.catalog  # noqa: PLC0415

    with pytest.raises(AttributeError, match="has no attribute 'Nothing'"):
        _ = smartsync.core.catalog.Nothing  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="module 'masking' has no attribute 'nope'"):
        _ = masking.nope  # type: ignore[attr-defined]
    assert smartsync.core.catalog.MaskRule.CLEAR.value == "clear"
