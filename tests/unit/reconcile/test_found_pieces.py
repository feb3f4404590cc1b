"""The join's result put together: columns filled in place, in order, and safe past their room."""

from __future__ import annotations

import numpy as np

from reconcile.store import _Pieces


def test_columns_with_room_are_filled_in_place_and_keep_their_order() -> None:
    got = _Pieces({"s_only": 10, "sk": 10})
    got.add("s_only", np.array([1, 2, 3]))
    got.add("sk", np.array([7]))
    got.add("s_only", np.array([4]))
    assert got.count("s_only") == 4
    assert got.ints("s_only", "sk").tolist() == [1, 2, 3, 4, 7]


def test_one_filled_column_comes_back_without_a_copy() -> None:
    got = _Pieces({"s_only": 1_000})
    for lo in range(0, 600, 100):
        got.add("s_only", np.arange(lo, lo + 100))
    keys = got.ints("s_only", "sk")
    assert keys.tolist() == list(range(600))
    assert keys.base is not None  # a view of the column's own array, not a concatenation


def test_more_rows_than_the_room_fall_back_to_pieces() -> None:
    got = _Pieces({"tk": 3})
    got.add("tk", np.array([1, 2]))
    got.add("tk", np.array([3, 4]))  # a duplicated key makes the join return more rows than the side has
    got.add("tk", np.array([5]))
    assert got.count("tk") == 5
    assert got.ints("tk").tolist() == [1, 2, 3, 4, 5]


def test_columns_without_room_and_empty_ones() -> None:
    got = _Pieces({"t_only": 5})
    got.add("sh", np.array([[1, 2]]))
    assert got.matrix("sh", 2, np.int64).tolist() == [[1, 2]]
    assert got.ints("t_only").tolist() == []
    assert got.matrix("th", 2, np.int64).shape == (0, 2)
