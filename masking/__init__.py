"""Masking policy: pure functions applied to every value that reaches smart_citizen.

``row_masker(sync)`` is what the event and batch paths call (compile once per sync, then one
call per row); ``mask_value(rule, value)`` masks one value; ``check_policy`` and
``check_live_columns`` refuse, at start-up, a sync that could let a column through unmasked.

Each name is imported from its module when first read (``smartsync.core.lazy``): the rules
alone do not load the catalog's models.
"""

from typing import TYPE_CHECKING

from smartsync.core.lazy import lazy_exports

if TYPE_CHECKING:
    from masking.policy import RowMasker, check_live_columns, check_policy, effective_policy, mask_row, row_masker
    from masking.rules import FULL_MASKS, Masker, mask_value, masker_for

_HOMES = {
    **dict.fromkeys(
        ("RowMasker", "check_live_columns", "check_policy", "effective_policy", "mask_row", "row_masker"), "policy"
    ),
    **dict.fromkeys(("FULL_MASKS", "Masker", "mask_value", "masker_for"), "rules"),
}
__getattr__ = lazy_exports(__name__, _HOMES)

__all__ = [
    "FULL_MASKS",
    "Masker",
    "RowMasker",
    "check_live_columns",
    "check_policy",
    "effective_policy",
    "mask_row",
    "mask_value",
    "masker_for",
    "row_masker",
]
