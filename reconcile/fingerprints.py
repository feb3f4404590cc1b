"""The fingerprint shortcut: when two sides can be told equal by row count and XOR of row hashes.

Pure rules; ``reconcile.side`` computes a side's fingerprint and ``reconcile.engine`` decides
when to try it (a probe range first, then the whole side).
"""

from __future__ import annotations

from dataclasses import dataclass

from reconcile.model import PairSpec


@dataclass(frozen=True)
class Fingerprint:
    """Row count and XOR of the row hashes of one side: equal on both sides means equal rows.

    The row hash covers the key, so this compares the sets of (key, row) of two sides whose
    keys are unique; a difference between two rows goes unseen with probability 2**-64.
    """

    rows: int
    xor: int


# Rows of the key range both sides fingerprint first: enough to catch spread-out drift at once.
PROBE_ROWS = 20_000


def fingerprint_first(spec: PairSpec, unique: tuple[bool, bool], nullable: tuple[bool, bool]) -> bool:
    """Whether two equal sides can be told equal from their fingerprints alone.

    That takes one integer key, unique and never NULL on both sides (a fingerprint cannot
    see duplicate or NULL keys, which a diff reports), and no masked columns (those are
    compared after masking, on the client).
    """
    return spec.integer_key and all(unique) and not any(nullable) and not spec.masked


def probe_range(bounds: tuple[int, int], rows: float, size: int = PROBE_ROWS) -> tuple[int, int]:
    """A key range in the middle of ``bounds`` that holds about ``size`` of the side's ``rows``."""
    lo, hi = bounds
    span = hi - lo + 1
    width = max(1, min(span, -(-span * size // max(int(rows), 1))))  # integers: int8 keys stay exact
    start = lo + (span - width) // 2
    return start, start + width - 1
