"""Pure parts of the PostgreSQL sink: batch dedup, written columns, staging rows."""

from __future__ import annotations

import pytest

from connectors.postgres.apply import ApplyResult, RowChange, newest_per_key, staging_rows, written_columns
from smartsync.core.tables import SCHEMA, Database

GOLDEN = SCHEMA.table(Database.WAREHOUSE, "public.golden_records")
EVENTS = SCHEMA.table(Database.WAREHOUSE, "decision.application_events")


def _row(cid: int, name: str) -> dict[str, object]:
    return {"citizen_id": cid, "full_name": name, "district_id": 1}


def test_newest_per_key_keeps_highest_position_whatever_the_order() -> None:
    changes = [
        RowChange((1,), _row(1, "b"), 20),
        RowChange((1,), _row(1, "a"), 10),
        RowChange((2,), None, 15),
        RowChange((2,), _row(2, "c"), 5),
    ]
    got = {c.key: c for c in newest_per_key(changes)}
    assert got[(1,)].position == 20
    assert got[(2,)].row is None


def test_newest_per_key_on_equal_positions_the_later_change_wins() -> None:
    got = newest_per_key([RowChange((1,), _row(1, "a"), 7), RowChange((1,), _row(1, "b"), 7)])
    assert got[0].row == _row(1, "b")


def test_written_columns_is_key_then_the_rows_columns_in_table_order() -> None:
    cols = written_columns(GOLDEN, [RowChange((1,), {"full_name": "x", "citizen_id": 1, "district_id": 2}, 1)])
    assert cols == ("citizen_id", "full_name", "district_id")


def test_written_columns_of_a_delete_only_batch_is_the_key() -> None:
    assert written_columns(EVENTS, [RowChange((1, 5), None, 5)]) == ("application_id", "source_lsn")


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row(1, "a"), {"citizen_id": 2, "full_name": "b"}], "different column sets"),
        ([{**_row(1, "a"), "nope": 1}], "no column"),
        ([{**_row(1, "a"), "_source_lsn": 1}], "sync columns"),
        ([{"full_name": "a", "district_id": 1}], "lack key"),
    ],
)
def test_written_columns_refuses_bad_batches(rows: list[dict[str, object]], message: str) -> None:
    changes = [RowChange((i,), r, i) for i, r in enumerate(rows)]
    with pytest.raises(ValueError, match=message):
        written_columns(GOLDEN, changes)


def test_staging_rows_mark_upserts_and_deletes() -> None:
    changes = [RowChange((1,), _row(1, "a"), 10), RowChange((2,), None, 11)]
    cols = written_columns(GOLDEN, changes)
    rows = list(staging_rows(GOLDEN, cols, changes))
    assert rows == [("u", 1, "a", 1, 10, None), ("d", 2, None, None, 11, None)]


@pytest.mark.parametrize(
    ("row", "staged"),
    [
        ({"citizen_id": 1}, ("u", 1, 10, None)),  # a key-only row
        ({"citizen_id": 1, "full_name": "a"}, ("u", 1, "a", 10, None)),  # one data column
        ({"citizen_id": 1, "full_name": "a", "district_id": 2}, ("u", 1, "a", 2, 10, None)),
    ],
)
def test_staging_rows_of_any_width(row: dict[str, object], staged: tuple[object, ...]) -> None:
    changes = [RowChange((1,), row, 10), RowChange((2,), None, 11)]
    cols = written_columns(GOLDEN, changes)
    assert list(staging_rows(GOLDEN, cols, changes)) == [staged, ("d", 2, *(None,) * (len(cols) - 1), 11, None)]


def test_apply_results_add_up() -> None:
    total = ApplyResult(1, 2, 3, 4) + ApplyResult(1, 1, 1, 1)
    assert total == ApplyResult(2, 3, 4, 5)
    assert total.written == 9
