"""The PostgreSQL sink on the real database: idempotent, order-safe, no resurrection."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest

from connectors.postgres.apply import ApplyResult, RowChange, apply_changes, classify_error
from smartsync.core.errors import SinkError, TransientSinkError
from smartsync.core.tables import SCHEMA, Database, Table

DOCS = SCHEMA.table(Database.WAREHOUSE, "public.document_metadata")
GOLDEN = SCHEMA.table(Database.WAREHOUSE, "public.golden_records")
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def conn(warehouse_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(warehouse_dsn) as c:
        c.execute("TRUNCATE public.document_metadata, public.golden_records")
        c.execute(
            "DELETE FROM smartsync.tombstones WHERE target_table IN ('public.document_metadata', "
            "'public.golden_records')"
        )
        c.commit()
        yield c


def _doc(doc_id: int, version: int) -> dict[str, Any]:
    return {
        "document_id": doc_id,
        "citizen_id": doc_id % 7,
        "application_id": None,
        "document_type": "id_proof",
        "file_name": f"f{doc_id}-v{version}.pdf",
        "mime_type": "application/pdf",
        "size_bytes": 1000 + version,
        "verification_status": "pending" if version % 2 else "verified",
        "uploaded_at": T0,
    }


def _history(rng: random.Random, keys: int, n: int) -> list[RowChange]:
    """A change stream over a few keys: inserts, updates and deletes with rising positions."""
    alive: set[int] = set()
    out = []
    for pos in range(1000, 1000 + n):
        k = rng.randrange(keys)
        if k in alive and rng.random() < 0.3:
            out.append(RowChange((k,), None, pos, T0 + timedelta(seconds=pos)))
            alive.discard(k)
        else:
            out.append(RowChange((k,), _doc(k, pos), pos, T0 + timedelta(seconds=pos)))
            alive.add(k)
    return out


def _expected(changes: list[RowChange]) -> dict[int, tuple[str, int]]:
    final: dict[int, RowChange] = {}
    for c in changes:
        final[c.key[0]] = c
    return {k: (c.row["file_name"], c.position) for k, c in final.items() if c.row is not None}


def _target(conn: psycopg.Connection[Any]) -> dict[int, tuple[str, int]]:
    rows = conn.execute("SELECT document_id, file_name, _source_lsn FROM public.document_metadata").fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def _apply_in_batches(
    conn: psycopg.Connection[Any], table: Table, changes: list[RowChange], rng: random.Random
) -> ApplyResult:
    total = ApplyResult()
    i = 0
    while i < len(changes):
        size = rng.randint(1, 40)
        total = total + apply_changes(conn, table, changes[i : i + size])
        conn.commit()
        i += size
    return total


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replaying_any_suffix_twice_leaves_the_target_unchanged(conn: psycopg.Connection[Any], seed: int) -> None:
    rng = random.Random(seed)
    changes = _history(rng, keys=25, n=400)
    _apply_in_batches(conn, DOCS, changes, rng)
    expected = _expected(changes)
    assert _target(conn) == expected
    for _ in range(5):
        start = rng.randrange(len(changes))
        for _ in range(2):
            again = _apply_in_batches(conn, DOCS, changes[start:], rng)
            assert again.written == 0
            assert _target(conn) == expected


def test_batches_in_any_order_converge_to_the_newest_state(conn: psycopg.Connection[Any]) -> None:
    rng = random.Random(7)
    changes = _history(rng, keys=20, n=300)
    shuffled = changes[:]
    rng.shuffle(shuffled)
    _apply_in_batches(conn, DOCS, shuffled, rng)
    assert _target(conn) == _expected(changes)


def test_an_old_insert_after_a_delete_does_not_resurrect(conn: psycopg.Connection[Any]) -> None:
    assert apply_changes(conn, DOCS, [RowChange((1,), _doc(1, 1), 10)]) == ApplyResult(inserted=1)
    assert apply_changes(conn, DOCS, [RowChange((1,), None, 20)]) == ApplyResult(deleted=1)
    conn.commit()
    assert apply_changes(conn, DOCS, [RowChange((1,), _doc(1, 1), 10)]) == ApplyResult(skipped_stale=1)
    assert _target(conn) == {}
    # A newer insert after the delete does bring it back.
    assert apply_changes(conn, DOCS, [RowChange((1,), _doc(1, 3), 30)]) == ApplyResult(inserted=1)
    conn.commit()
    assert _target(conn) == {1: ("f1-v3.pdf", 30)}
    tomb = conn.execute(
        "SELECT row_key, source_lsn FROM smartsync.tombstones WHERE target_table = 'public.document_metadata'"
    ).fetchall()
    assert tomb == [({"document_id": 1}, 20)]


def test_only_the_mapped_columns_are_written(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO public.golden_records (citizen_id, full_name, district_id, income_band, vulnerability_level) "
        "VALUES (5, 'old', 1, '3-5L', 'high')"
    )
    portal_row = {"citizen_id": 5, "full_name": "new", "district_id": 2}
    assert apply_changes(conn, GOLDEN, [RowChange((5,), portal_row, 99, T0)]) == ApplyResult(updated=1)
    conn.commit()
    row = conn.execute(
        "SELECT full_name, district_id, income_band, vulnerability_level, _source_lsn, _source_ts "
        "FROM public.golden_records WHERE citizen_id = 5"
    ).fetchone()
    assert row == ("new", 2, "3-5L", "high", 99, T0)


def test_two_calls_in_one_transaction_and_a_rollback(conn: psycopg.Connection[Any]) -> None:
    apply_changes(conn, DOCS, [RowChange((1,), _doc(1, 1), 10)])
    apply_changes(conn, DOCS, [RowChange((2,), _doc(2, 1), 11)])
    conn.rollback()
    assert _target(conn) == {}
    apply_changes(conn, DOCS, [RowChange((1,), _doc(1, 1), 10)])
    apply_changes(conn, DOCS, [RowChange((2,), _doc(2, 1), 11)])
    conn.commit()
    assert set(_target(conn)) == {1, 2}


def test_autocommit_connection_gets_one_transaction_per_call(warehouse_dsn: str, conn: psycopg.Connection[Any]) -> None:
    with psycopg.connect(warehouse_dsn, autocommit=True) as auto:
        assert apply_changes(auto, DOCS, [RowChange((3,), _doc(3, 1), 10)]).inserted == 1
    assert set(_target(conn)) == {3}


def test_a_missing_table_is_terminal_and_a_lost_connection_transient(warehouse_dsn: str) -> None:
    missing = Table(Database.WAREHOUSE, "public.no_such_table", DOCS.columns, DOCS.primary_key)
    with psycopg.connect(warehouse_dsn) as c, pytest.raises(psycopg.Error) as caught:
        apply_changes(c, missing, [RowChange((1,), _doc(1, 1), 1)])
    err = classify_error(caught.value, missing)
    assert isinstance(err, SinkError)
    assert not isinstance(err, TransientSinkError)
    assert "no_such_table" in str(err)
    assert isinstance(
        classify_error(psycopg.OperationalError("server closed the connection"), DOCS), TransientSinkError
    )


def test_values_beyond_the_column_type_are_data_errors_not_truncated(conn: psycopg.Connection[Any]) -> None:
    """Binary COPY must not wrap an integer: 2**40 for a smallint, 2**70 for a bigint are refused rows."""
    golden = {"citizen_id": 1, "full_name": "A", "district_id": 2**40}
    with pytest.raises(psycopg.DataError, match="out of range"):
        apply_changes(conn, GOLDEN, [RowChange((1,), golden, 10, T0)])
    conn.rollback()
    too_big = {**golden, "citizen_id": 2**70, "district_id": 1}
    with pytest.raises(psycopg.DataError, match="does not fit its column type"):
        apply_changes(conn, GOLDEN, [RowChange((2**70,), too_big, 10, T0)])
    conn.rollback()
    ok = apply_changes(conn, GOLDEN, [RowChange((1,), {**golden, "district_id": 7}, 10, T0)])
    conn.commit()
    assert ok.inserted == 1
    assert conn.execute("SELECT district_id FROM public.golden_records WHERE citizen_id = 1").fetchone() == (7,)
