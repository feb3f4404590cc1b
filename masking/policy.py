"""The masking policy of a sync: checked at start-up, compiled once, applied per row.

Default deny: every target column of a sync into smart_citizen carries a rule in the catalog
(``MaskRule.CLEAR`` when it is safe), every column of its live source table is either mapped
or deliberately dropped, and a row that carries a column the catalog does not classify is
refused, never passed on. Syncs into smart_warehouse are not masked.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import NoReturn

from masking.rules import MASKERS
from smartsync.core.catalog import Catalog, MaskRule, Sync
from smartsync.core.errors import MaskingPolicyError
from smartsync.core.tables import SYNC_COLUMNS

RowMasker = Callable[[Mapping[str, object]], dict[str, object]]

# Sync bookkeeping columns (source position, commit time): never personal data.
_BOOKKEEPING = frozenset(c.name for c in SYNC_COLUMNS)

# Column names that hold personal data wherever they appear: a citizen-bound column of one of
# these names (as source or target) must not be CLEAR, whatever else the catalog says.
SENSITIVE_NAMES: dict[str, MaskRule] = {
    "aadhaar": MaskRule.AADHAAR,
    "jan_aadhaar": MaskRule.JAN_AADHAAR,
    "mobile": MaskRule.MOBILE,
    "email": MaskRule.EMAIL,
    "income_band": MaskRule.CONFIDENTIAL,
}


def _policy_problems(sync: Sync) -> list[str]:
    problems: list[str] = []
    where = f"sync {sync.name!r}, target {sync.target_database}.{sync.target}"
    for column, col in sync.columns.items():
        if col.mask is None:
            problems.append(f"{where}: column {column!r} has no masking classification (default deny)")
            continue
        if column in sync.key and col.mask.lossy:
            problems.append(f"{where}: key column {column!r} cannot use the lossy mask {col.mask.value!r}")
        names = {column, col.source or column} & SENSITIVE_NAMES.keys()
        if col.mask is MaskRule.CLEAR and names:
            problems.append(
                f"{where}: column {column!r} holds personal data ({', '.join(sorted(names))}) but is marked clear"
            )
    return problems


def check_policy(target: Sync | Catalog) -> None:
    """Refuse a citizen-bound sync (or any sync of a catalog) whose masking policy is incomplete.

    Raises ``MaskingPolicyError`` naming every sync, table and column at fault.
    """
    syncs = target.syncs if isinstance(target, Catalog) else (target,)
    problems = [p for sync in syncs if sync.citizen_bound for p in _policy_problems(sync)]
    if problems:
        raise MaskingPolicyError(
            "; ".join(problems),
            hint="classify the column in smartsync/core/catalog/declared.py (mask=...) before it can sync",
        )


def check_live_columns(sync: Sync, live_source_columns: Iterable[str]) -> None:
    """Refuse a citizen-bound sync whose live source table has a column the catalog neither maps nor drops.

    Called at start-up with the table's live columns (the system catalogs): a column added to the
    source after the catalog was written stops the flow or batch instead of slipping through.
    """
    if not sync.citizen_bound:
        return
    covered = {c.source for c in sync.columns.values() if c.source} | set(sync.dropped) | _BOOKKEEPING
    unknown = sorted(set(live_source_columns) - covered)
    if unknown:
        cols = ", ".join(repr(c) for c in unknown)
        msg = (
            f"sync {sync.name!r}: source table {sync.source_database}.{sync.source} has column(s) {cols} "
            f"that the catalog neither maps nor drops; refusing to sync into {sync.target_database}.{sync.target}"
        )
        raise MaskingPolicyError(
            msg,
            hint="map the column with a mask rule or add it to 'dropped' in smartsync/core/catalog/declared.py",
        )


def row_masker(sync: Sync) -> RowMasker:
    """Compile a sync's policy into one fast function: a target row in, a new masked row out.

    The row is keyed by target column; only the columns present are masked (an update may
    carry a subset). Bookkeeping columns (``_source_lsn`` …) pass as they are. For a
    citizen-bound sync a column the catalog does not classify raises ``MaskingPolicyError``.
    """
    check_policy(sync)
    if not sync.citizen_bound:
        return dict
    masked = tuple((column, MASKERS[rule]) for column, rule in sync.masks().items() if rule is not MaskRule.CLEAR)
    classified = (frozenset(sync.columns) | _BOOKKEEPING).issuperset

    def mask(row: Mapping[str, object]) -> dict[str, object]:
        out = dict(row)
        if not classified(out):
            _refuse_unclassified(sync, out)
        for column, fn in masked:
            if column in out:
                out[column] = fn(out[column])
        return out

    mask.__name__ = f"mask_{sync.name}"
    mask.__qualname__ = mask.__name__
    return mask


def _refuse_unclassified(sync: Sync, row: Mapping[str, object]) -> NoReturn:
    unclassified = set(row) - set(sync.columns) - _BOOKKEEPING
    cols = ", ".join(repr(c) for c in sorted(unclassified))
    msg = (
        f"sync {sync.name!r}: row for {sync.target_database}.{sync.target} carries column(s) {cols} "
        "without a masking classification; refusing to write it"
    )
    raise MaskingPolicyError(
        msg,
        hint="classify the column in smartsync/core/catalog/declared.py",
    )


_COMPILED: dict[int, tuple[Sync, RowMasker]] = {}


def mask_row(sync: Sync, row: Mapping[str, object]) -> dict[str, object]:
    """Mask one target row of a sync (compiles and caches the sync's masker on first use)."""
    entry = _COMPILED.get(id(sync))
    if entry is None or entry[0] is not sync:
        entry = (sync, row_masker(sync))
        _COMPILED[id(sync)] = entry
    return entry[1](row)


def effective_policy(sync: Sync) -> dict[str, MaskRule]:
    """Target column → the rule applied (``CLEAR`` for syncs into smart_warehouse)."""
    return sync.masks() if sync.citizen_bound else dict.fromkeys(sync.columns, MaskRule.CLEAR)
