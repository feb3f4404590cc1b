"""Leak detection: finds personal data in a value or a Kafka message that masking should have hidden.

Pure functions, no I/O; the scanners that read smart_citizen and Kafka topics with them are in
``smartsync.monitoring.leak_scan``. What counts as a leak:

- ``aadhaar``: 12 digits (optionally grouped 4-4-4 by spaces or hyphens), first digit 2-9, passing Verhoeff;
- ``mobile``: a 10-digit Indian mobile (first digit 6-9), optionally ``+91``/``91``/``0``-prefixed or grouped 5-5;
- ``jan_aadhaar``: any 10-digit run in a Jan-Aadhaar-like column (the synthetic IDs are 10 digits);
- ``email``: an address whose local part is not the masked ``x***`` shape;
- ``unmasked``: in a column the catalog masks, a value that is not in its rule's masked shape at all.

Hits never carry the raw value: they show it as its masking rule would.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from masking.rules import MASKERS
from smartsync.core.catalog import Catalog, MaskRule

# ── Patterns (authoritative; the database scan prefilters with the same shapes in SQL) ──

_AADHAAR = re.compile(r"(?<![0-9])([2-9][0-9]{3})[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:(?:\+|00)?91[ -]?|0)?([6-9][0-9]{4})[ -]?([0-9]{5})(?![0-9])")
_TEN_DIGITS = re.compile(r"(?<![0-9])[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{2}(?![0-9])")
# A '*' cannot be part of the local part here, so masked addresses (u***@x.org) never match.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

# The only values a masked column may hold, per rule.
SHAPES: dict[MaskRule, re.Pattern[str]] = {
    MaskRule.CONFIDENTIAL: re.compile(r"CONFIDENTIAL"),
    MaskRule.AADHAAR: re.compile(r"\*\*\*MASKED\*\*\*"),
    MaskRule.JAN_AADHAAR: re.compile(r"\*\*\*\*-\*\*\*\*-(?:[0-9]{4}|\*\*\*\*)"),
    MaskRule.MOBILE: re.compile(r"\*{6}(?:[0-9]{4}|\*{4})"),
    MaskRule.EMAIL: re.compile(r"[!-?A-~]\*\*\*@[a-z0-9.-]+\.[a-z0-9-]+|\*\*\*@\*\*\*"),
}

# ── Verhoeff (the Aadhaar check digit) ───────────────────────────────────────────────────

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_valid(digits: str) -> bool:
    """Whether an ASCII digit string ends in a correct Verhoeff check digit."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][ord(ch) - 48]]
    return c == 0


def verhoeff_digit(digits: str) -> str:
    """The Verhoeff check digit to append to an ASCII digit string."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][ord(ch) - 48]]
    return str(_INV[c])


# ── Finding personal data in one text ───────────────────────────────────────────────────


@dataclass(frozen=True)
class Hit:
    kind: str  # aadhaar | jan_aadhaar | mobile | email | unmasked
    shown: str  # the value as its masking rule shows it: never the raw value


def _jan_like(column: str, rule: MaskRule | None) -> bool:
    name = column.lower().replace("-", "_")
    return rule is MaskRule.JAN_AADHAAR or "jan_aadhaar" in name or "janaadhaar" in name


def find_in_text(text: str, *, column: str = "", rule: MaskRule | None = None) -> list[Hit]:
    """Personal data in one value. ``rule`` is the column's masking rule, if the catalog gives one."""
    hits: list[Hit] = []
    if rule is not None and rule is not MaskRule.CLEAR and SHAPES[rule].fullmatch(text) is None:
        hits.append(Hit("unmasked", str(MASKERS[rule](text))))
    for m in _AADHAAR.finditer(text):
        digits = "".join(m.groups())
        if verhoeff_valid(digits):
            hits.append(Hit("aadhaar", "********" + digits[8:]))
    if _jan_like(column, rule):  # a 10-digit run here is a Jan Aadhaar ID, whatever its first digit
        for m in _TEN_DIGITS.finditer(text):
            hits.append(Hit("jan_aadhaar", str(MASKERS[MaskRule.JAN_AADHAAR](m.group()))))
    else:
        for m in _MOBILE.finditer(text):
            hits.append(Hit("mobile", str(MASKERS[MaskRule.MOBILE]("".join(m.groups())))))
    if "@" in text:
        for m in _EMAIL.finditer(text):
            hits.append(Hit("email", str(MASKERS[MaskRule.EMAIL](m.group()))))
    return hits


# ── What a scan of smart_citizen checks ──────────────────────────────────────────────────


def citizen_targets(catalog: Catalog) -> dict[str, dict[str, MaskRule]]:
    """The smart_citizen tables SmartSync writes, each with its column → rule."""
    return {s.target: s.masks() for s in catalog.syncs if s.citizen_bound}


# ── Finding personal data in one Kafka message ──────────────────────────────────────────

# Envelope fields that are positions and clocks, not personal data.
_KAFKA_SKIP = frozenset({"source", "ts_ms", "ts_us", "ts_ns", "transaction"})
_SENSITIVE_FIELDS = frozenset({"aadhaar", "jan_aadhaar", "mobile", "email"})


def _leaves(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) for every string leaf, and for numbers under a personal-data field name."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _KAFKA_SKIP:
                continue
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value
    elif isinstance(value, int) and not isinstance(value, bool) and path.rpartition(".")[2] in _SENSITIVE_FIELDS:
        yield path, str(value)


def find_in_message(key: bytes | None, value: bytes | None) -> list[tuple[str, Hit]]:
    """(field path, hit) for one Kafka message; JSON is walked field by field, anything else read as text."""
    found: list[tuple[str, Hit]] = []
    for part, raw in (("key", key), ("value", value)):
        if not raw:
            continue
        try:
            leaves = list(_leaves(orjson.loads(raw)))
        except orjson.JSONDecodeError:
            leaves = [("", raw.decode("utf-8", errors="replace"))]
        for path, text in leaves:
            column = path.rpartition(".")[2].partition("[")[0]
            found.extend((f"{part}.{path}" if path else part, hit) for hit in find_in_text(text, column=column))
    return found
