"""The rows a fix writes, built one by one when they are read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from reconcile.model import Key, PairSpec


class FixRows(Mapping[Key, dict[str, Any]]):
    """Real key → the row a fix writes (target column names): each row is built when it is read.

    Holds the clear columns (``spec.hashed`` order) of the differing source rows as read, and
    their masked columns as masked for the comparison: masking happens once, and the row
    dicts are made while the fix writes earlier batches (``reconcile.apply``).
    """

    def __init__(
        self,
        spec: PairSpec,
        keys: Sequence[Key],
        values: Sequence[tuple[Any, ...]],
        masked: Mapping[str, Any],
        rows: np.ndarray,
    ) -> None:
        import pyarrow as pa  # noqa: PLC0415

        self._names = [c.name for c in spec.hashed] + [c.name for c in spec.masked]
        self._values = values
        self._at = {keys[i]: n for n, i in enumerate(rows.tolist())}
        self._rows = rows.tolist()
        picked = pa.array(rows, pa.int64())
        self._masked = [masked[c.name].take(picked).to_pylist() for c in spec.masked]

    def __getitem__(self, key: Key) -> dict[str, Any]:
        n = self._at[key]
        extra = tuple(col[n] for col in self._masked)
        return dict(zip(self._names, (*self._values[self._rows[n]], *extra), strict=True))

    def __iter__(self) -> Iterator[Key]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)
