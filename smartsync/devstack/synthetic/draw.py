"""Building blocks of the column generators: value types, time units and small vectorised draws.

A generator draws from each random stream of the chunk (``c.rng(name)``) at most once, so
the first rows of a table never depend on how many rows are generated.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:
    from smartsync.devstack.synthetic.generator import Chunk


HOUSEHOLD = 4  # citizens i..i+3 (i divisible by 4) share a household: Jan Aadhaar, surname, address

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
_EPOCH = date(1970, 1, 1)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Nullable(NamedTuple):
    """Numpy values with a null mask (True = NULL)."""

    values: npt.NDArray[Any]
    nulls: npt.NDArray[np.bool_]


# pa.Array, a numpy array, or numpy values with a null mask
Values: TypeAlias = Any
ColumnFn = Callable[["Chunk"], Values]


@dataclass(frozen=True)
class Spec:
    """How one source table is generated. Tables of the same entity share their rows' values."""

    entity: str
    columns: Mapping[str, ColumnFn]


# ── Small vectorised helpers ──────────────────────────────────────────────────────────


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...] | list[float]) -> npt.NDArray[np.intp]:
    cumulative = np.cumsum(weights, dtype=np.float64)
    return np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right")


def _weighted(rng: np.random.Generator, n: int, pairs: tuple[tuple[Any, float], ...]) -> pa.Array:
    idx = _choice(rng, n, [w for _, w in pairs])
    return pc.take(pa.array([v for v, _ in pairs]), idx)


def _take(values: tuple[str, ...] | list[str], idx: npt.NDArray[Any]) -> pa.Array:
    return pc.take(pa.array(values, pa.string()), idx)


def _text(values: pa.Array | npt.NDArray[Any]) -> pa.Array:
    return pc.cast(values if isinstance(values, pa.Array) else pa.array(values), pa.string())


def _cat(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _null_where(values: pa.Array, nulls: npt.NDArray[np.bool_]) -> pa.Array:
    return pc.if_else(pa.array(nulls), pa.scalar(None, values.type), values)


def _fill(templates: tuple[str, ...], idx: npt.NDArray[Any], fields: Mapping[str, pa.Array]) -> pa.Array:
    """``templates[idx[i]].format(**{k: fields[k][i]})`` for every row, vectorised."""
    parsed = [list(string.Formatter().parse(t)) for t in templates]
    width = max(len(p) for p in parsed)
    n = len(idx)
    parts: list[pa.Array] = []
    for k in range(width):
        literals = [p[k][0] if k < len(p) else "" for p in parsed]
        parts.append(_take(literals, idx))
        names = [p[k][1] if k < len(p) else None for p in parsed]
        slot = pa.array([""] * n, pa.string())
        for name in {x for x in names if x}:
            hit = np.isin(idx, [i for i, x in enumerate(names) if x == name])
            slot = pc.if_else(pa.array(hit), fields[name], slot)
        parts.append(slot)
    return _cat(*parts)


def _uniform_time(rng: np.random.Generator, n: int, start_us: int, end_us: int) -> I64:
    return start_us + (rng.random(n) * (end_us - start_us)).astype(np.int64)


def _previous_day(c: Chunk, stream: str) -> I64:
    return _uniform_time(c.rng(stream), c.n, c.anchor - US_PER_DAY, c.anchor - 1)


def _recent(days: float, stream: str) -> ColumnFn:
    def fn(c: Chunk) -> I64:
        return _uniform_time(c.rng(stream), c.n, c.anchor - int(days * US_PER_DAY), c.anchor - 1)

    return fn


def _after(base: str, max_hours: float, stream: str) -> ColumnFn:
    """A time up to ``max_hours`` after column ``base``, never past the anchor."""

    def fn(c: Chunk) -> I64:
        start = c.numbers(base).astype(np.int64)
        later = start + (c.rng(stream).random(c.n) * max_hours * US_PER_HOUR).astype(np.int64)
        return np.minimum(later, c.anchor - 1)

    return fn


def _row_id(c: Chunk) -> I64:
    return c.index + 1


def _random_citizen(c: Chunk) -> I64:
    return c.rng("citizen_id").integers(1, c.world.people + 1, size=c.n, dtype=np.int64)


def _random_scheme(c: Chunk) -> pa.Array:
    active = c.world.active_schemes
    return pc.take(active, c.rng("scheme_code").integers(0, len(active), size=c.n))


def _beta(stream: str, a: float, b: float) -> ColumnFn:
    def fn(c: Chunk) -> F64:
        return c.rng(stream).beta(a, b, size=c.n)

    return fn
