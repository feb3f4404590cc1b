"""The hash SQL on the real databases: direct column hashes keep their values, row hashes miss no change."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from reconcile.columns import plan_columns, quote_ident
from reconcile.engine import compare_pair
from reconcile.model import PairSpec, Relation
from reconcile.scan_sql import column_hashes_sql
from tests.integration.reconcile.reconcile_fixtures import execute, execute_on_both, same_table_pair

TYPES = {
    "id": "bigint",
    "d": "date",
    "tz": "timestamp with time zone",
    "ts": "timestamp without time zone",
    "u": "uuid",
    "a": "text",
    "b": "text",
}
DDL = "CREATE TABLE re_hash.t (id bigint PRIMARY KEY, d date, tz timestamptz, ts timestamp, u uuid, a text, b text)"
ROWS = """
INSERT INTO re_hash.t VALUES
  (1, '2026-11-30', '2026-11-30 10:00+05:30', '2026-11-30 10:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'x', 'y'),
  (2, 'infinity', 'infinity', '-infinity', NULL, 'p', 'q'),
  (3, '-infinity', '-infinity', 'infinity', '00000000-0000-0000-0000-000000000000', NULL, 'r'),
  (4, '1850-03-01', '1970-01-01 00:00+00', '1999-12-31 23:59:59.999999',
   'ffffffff-ffff-ffff-ffff-ffffffffffff', 's', NULL),
  (5, NULL, NULL, NULL, NULL, NULL, NULL)
"""


@pytest.fixture
def tables(warehouse_dsn: str, citizen_dsn: str) -> Iterator[tuple[str, str]]:
    for dsn in (warehouse_dsn, citizen_dsn):
        execute(dsn, "DROP SCHEMA IF EXISTS re_hash CASCADE; CREATE SCHEMA re_hash")
    execute_on_both((warehouse_dsn, citizen_dsn), DDL)
    yield warehouse_dsn, citizen_dsn
    for dsn in (warehouse_dsn, citizen_dsn):
        execute(dsn, "DROP SCHEMA IF EXISTS re_hash CASCADE")


def test_direct_column_hashes_equal_the_one_column_row_hash(tables: tuple[str, str]) -> None:
    """Dates, timestamps and uuids hashed without a row give what ``hash_record_extended(ROW(x))`` gave.

    Kept snapshots hold column hashes, and ``reconcile changes`` compares a snapshot with ones
    written before: a column's hash must not change with the SQL that computes it. In any time
    zone of the session, and for infinite and NULL values too.
    """
    wh, _ = tables
    execute(wh, ROWS)
    planned = plan_columns({c: quote_ident(c) for c in TYPES}, ["id"], {}, TYPES, TYPES)
    cols = tuple(c for c in planned if c.name in {"d", "tz", "ts", "u"})
    assert {c.name: c.family for c in cols} == {"d": "date", "tz": "timestamptz", "ts": "timestamp", "u": "uuid"}
    rel = Relation(wh, "re_hash.t", "t", "re_hash.t")
    direct = column_hashes_sql(PairSpec("t", rel, rel, ("d",), cols), "source")
    record = " || ".join(f"int8send(hash_record_extended(ROW({c.source_expr}), 0))" for c in cols)
    for zone in ("UTC", "Asia/Kolkata", "America/St_Johns"):
        with psycopg.connect(make_conninfo(wh, options=f"-c TimeZone={zone}")) as conn:
            got = conn.execute(f"SELECT id, {direct} = {record} FROM re_hash.t ORDER BY id").fetchall()
        assert got == [(i, True) for i in range(1, 6)], zone


def _spec(wh: str, ct: str) -> PairSpec:
    spec = same_table_pair(wh, ct, "re_hash.t", TYPES)
    # The target reads its timestamps in another time zone: the same instants must hash alike.
    target = dataclasses.replace(spec.target, dsn=make_conninfo(ct, options="-c TimeZone=Asia/Kolkata"))
    return dataclasses.replace(spec, target=target)


def test_row_hashes_tell_swapped_values_apart(tables: tuple[str, str]) -> None:
    """Values swapped between two columns of a row, or between two rows of a column, are changes.

    The row hash combines its columns' hashes: each column has its own seed, and the
    combination is hashed again, so neither swap cancels out in a row hash or in a side's
    fingerprint (the XOR of its row hashes).
    """
    wh, ct = tables
    execute_on_both((wh, ct), ROWS)

    def diff() -> tuple[list[tuple[object, tuple[str, ...]]], int, list[str]]:
        steps: list[str] = []
        found = compare_pair(_spec(wh, ct), max_connections=4, unique=(True, True), on_step=steps.append).diff
        return sorted((c.key, c.columns) for c in found.changed), found.unchanged, steps

    assert diff() == ([], 5, ["snapshot", "fingerprint"])  # equal: the fingerprints end it

    # Row 2's date is infinity and row 3's -infinity: the target swaps them.
    swapped = "UPDATE re_hash.t SET d = CASE id WHEN 2 THEN '-infinity'::date ELSE 'infinity'::date END"
    execute(ct, f"{swapped} WHERE id IN (2, 3)")
    changed, unchanged, steps = diff()
    assert steps[-3:] == ["hash", "join", "fetch"]  # the fingerprints differed
    assert (changed, unchanged) == ([((2,), ("d",)), ((3,), ("d",))], 3)

    execute(
        ct,
        "UPDATE re_hash.t SET d = CASE id WHEN 2 THEN 'infinity'::date ELSE '-infinity'::date END WHERE id IN (2, 3)",
    )
    execute(ct, "UPDATE re_hash.t SET a = b, b = a WHERE id = 1")  # 'x', 'y' → 'y', 'x'
    changed, unchanged, steps = diff()
    assert steps[-3:] == ["hash", "join", "fetch"]
    assert (changed, unchanged) == ([((1,), ("a", "b"))], 4)
