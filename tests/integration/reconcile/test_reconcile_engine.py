"""The diff and the fix on the real databases: planted drift is found exactly and repaired."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from unittest.mock import ANY

import psycopg
import pytest

from connectors.postgres.apply import RowChange
from masking import mask_value
from reconcile import engine
from reconcile.apply import apply_plan, plan_changes, summary
from reconcile.compare import compare, compare_and_fix
from reconcile.engine import compare_pair
from reconcile.model import KeyArray, PairSpec
from reconcile.side import Side
from smartsync.core.catalog import MaskRule, load_catalog
from smartsync.core.errors import ConfigurationError, ReconcileError
from smartsync.core.settings import load_settings
from smartsync.core.tables import SCHEMA, Database
from tests.integration.reconcile.reconcile_fixtures import (
    GOLDEN,
    PROFILE_360,
    SCHEMES,
    execute,
    execute_on_both,
    reset,
    rows,
    same_table_pair,
    scalar,
)

W, C = Database.WAREHOUSE, Database.CITIZEN


@pytest.fixture
def dbs(warehouse_dsn: str, citizen_dsn: str) -> tuple[str, str]:
    reset(warehouse_dsn, W)
    reset(citizen_dsn, C)
    return warehouse_dsn, citizen_dsn


def _diff(name: str) -> Any:
    sync = load_catalog().sync(name)
    return compare(sync, load_settings()).diff


def _fix(name: str) -> dict[str, int]:
    sync = load_catalog().sync(name)
    fixed = compare_and_fix(sync, load_settings())
    assert fixed.applied is not None
    return summary(fixed.applied)


def test_profile_summary_drift_is_found_masked_and_repaired(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, PROFILE_360, {"lo": 1, "hi": 3000})
    first = _diff("profile_summary")
    assert (len(first.source_only), len(first.target_only), len(first.changed)) == (3000, 0, 0)
    assert _fix("profile_summary")["inserted"] == 3000
    # The target holds masked values only.
    mobile, email, band, jan = rows(
        ct, "SELECT mobile, email, income_band, jan_aadhaar FROM public.profile_summary WHERE citizen_id = 7"
    )[0]
    src = rows(wh, "SELECT mobile, email, income_band, jan_aadhaar FROM public.profile_360 WHERE citizen_id = 7")[0]
    assert mobile == mask_value(MaskRule.MOBILE, src[0]) and mobile != src[0]
    assert email == mask_value(MaskRule.EMAIL, src[1])
    assert band == "CONFIDENTIAL"
    assert jan == mask_value(MaskRule.JAN_AADHAAR, src[3])
    assert _diff("profile_summary").differing == 0

    # Plant drift: deletes, inserts, updates (a NULL appearing and disappearing, a raw unmasked value).
    execute(ct, "DELETE FROM public.profile_summary WHERE citizen_id IN (11, 12, 13)")
    execute(
        ct,
        "INSERT INTO public.profile_summary (citizen_id, full_name, district_id) VALUES (900001, 'ghost', 1), "
        "(900002, 'ghost', 2)",
    )
    execute(ct, "UPDATE public.profile_summary SET full_name = 'changed' WHERE citizen_id = 21")
    execute(ct, "UPDATE public.profile_summary SET last_benefit_date = NULL WHERE citizen_id = 22")  # value → NULL
    execute(ct, "UPDATE public.profile_summary SET email = 'x***@example.org' WHERE citizen_id = 24")  # NULL → value
    execute(
        ct,
        "UPDATE public.profile_summary SET mobile = (SELECT mobile FROM public.profile_summary WHERE citizen_id = "
        "26) WHERE citizen_id = 23",
    )
    # A leak: the raw source value in a masked column differs from the masked one.
    raw = scalar(wh, "SELECT mobile FROM public.profile_360 WHERE citizen_id = 27")
    execute(ct, "UPDATE public.profile_summary SET mobile = %s WHERE citizen_id = 27", (raw,))
    execute(wh, "UPDATE public.profile_360 SET eligible_scheme_count = 99 WHERE citizen_id = 28")

    diff = _diff("profile_summary")
    assert diff.source_only == ((11,), (12,), (13,))
    assert diff.target_only == ((900001,), (900002,))
    changed = {c.key[0]: c.columns for c in diff.changed}
    assert changed[21] == ("full_name",)
    assert changed[22] == ("last_benefit_date",)
    assert changed[24] == ("email",)
    assert changed[27] == ("mobile",)
    assert "eligible_scheme_count" in changed[28]
    assert "updated_at" in changed[28]  # the source's trigger touched it
    assert 23 in changed or scalar(wh, "SELECT mobile FROM public.profile_360 WHERE citizen_id = 23") is None
    assert diff.unchanged == 3000 - 3 - len(diff.changed)

    fixed = _fix("profile_summary")
    assert fixed["deleted"] == 2 and fixed["inserted"] == 3
    assert _diff("profile_summary").differing == 0
    assert scalar(ct, "SELECT mobile FROM public.profile_summary WHERE citizen_id = 27") == mask_value(
        MaskRule.MOBILE, raw
    )
    # Deletes are remembered, so a replayed older insert cannot bring the ghost back.
    assert scalar(ct, "SELECT count(*) FROM smartsync.tombstones WHERE target_table = 'public.profile_summary'") == 2


def test_row_changed_between_diff_and_apply_is_not_overwritten(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, GOLDEN, {"lo": 1, "hi": 200})
    settings = load_settings()
    sync = load_catalog().sync("golden_records")
    outcome = compare(sync, settings, keep_rows=True)
    apply_plan(settings.dsn(C), SCHEMA.table(C, sync.target), plan_changes(outcome, deletes=True), what="citizen")
    execute(ct, "UPDATE public.profile_data SET full_name = 'drifted' WHERE citizen_id IN (5, 6)")

    outcome = compare(sync, settings, keep_rows=True)
    assert {c.key for c in outcome.diff.changed} == {(5,), (6,)}
    # Meanwhile the event path writes citizen 5's newer version (a position after the snapshot).
    execute(wh, "UPDATE public.golden_records SET full_name = 'renamed' WHERE citizen_id = 5")
    newer = scalar(wh, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
    touched = scalar(wh, "SELECT updated_at FROM public.golden_records WHERE citizen_id = 5")
    execute(
        ct,
        "UPDATE public.profile_data SET full_name = 'renamed', updated_at = %s, _source_lsn = %s WHERE citizen_id = 5",
        (touched, int(newer)),
    )
    result = apply_plan(
        settings.dsn(C), SCHEMA.table(C, sync.target), plan_changes(outcome, deletes=True), what="citizen"
    )
    assert (result.updated, result.skipped_stale) == (1, 1)
    assert scalar(ct, "SELECT full_name FROM public.profile_data WHERE citizen_id = 5") == "renamed"
    assert scalar(ct, "SELECT full_name FROM public.profile_data WHERE citizen_id = 6") == "Golden 6"
    assert _diff("golden_records").differing == 0


def test_a_transaction_open_during_the_snapshot_is_not_masked_by_the_fix(dbs: tuple[str, str]) -> None:
    """A change written before the snapshot but committed after it must win over the fix once delivered."""
    wh, ct = dbs
    execute(wh, GOLDEN, {"lo": 1, "hi": 50})
    settings = load_settings()
    sync = load_catalog().sync("golden_records")
    table = SCHEMA.table(C, sync.target)
    apply_plan(settings.dsn(C), table, plan_changes(compare(sync, settings, keep_rows=True), deletes=True), what="c")
    execute(ct, "UPDATE public.profile_data SET full_name = 'drifted' WHERE citizen_id = 5")
    with psycopg.connect(wh) as open_txn:  # a transaction that writes now and commits after the snapshot
        open_txn.execute("UPDATE public.golden_records SET full_name = 'renamed' WHERE citizen_id = 5")
        # Above the change's own WAL position (what the event path orders it by). Another
        # transaction's commit writes the WAL out: the current position is then past the change.
        change_lsn = int(open_txn.execute("SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn").fetchone()[0])
        execute(wh, "CREATE TEMP TABLE _flush AS SELECT 1")  # catalog rows: a WAL-writing commit
        assert scalar(wh, "SELECT pg_current_wal_lsn() - '0/0'::pg_lsn") >= change_lsn
        outcome = compare(sync, settings, keep_rows=True)
        assert {c.key for c in outcome.diff.changed} == {(5,)}  # the snapshot sees the old name
        apply_plan(settings.dsn(C), table, plan_changes(outcome, deletes=True), what="citizen")
        open_txn.commit()
    # The event path delivers the committed change with its position, through the same sink.
    assert outcome.fix_rows is not None
    fixed_row = next(r.row for r in outcome.fix_rows if r.key == (5,))  # read again from the diff's snapshot
    delivered = RowChange((5,), {**fixed_row, "full_name": "renamed"}, change_lsn, None)
    result = apply_plan(settings.dsn(C), table, [delivered], what="citizen")
    assert (result.updated, result.skipped_stale) == (1, 0)
    assert scalar(ct, "SELECT full_name FROM public.profile_data WHERE citizen_id = 5") == "renamed"


def test_scheme_master_refresh_keeps_active_schemes_only(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, SCHEMES, {"n": 40})
    fixed = _fix("scheme_master")
    assert fixed["inserted"] == 36  # every tenth scheme is withdrawn
    execute(wh, "UPDATE eligibility.scheme_master SET status = 'withdrawn' WHERE scheme_code = 'S001'")
    execute(wh, "UPDATE eligibility.scheme_master SET benefit_amount = NULL WHERE scheme_code = 'S002'")
    diff = _diff("scheme_master")
    assert diff.target_only == (("S001",),)
    assert [(c.key, c.columns) for c in diff.changed] == [(("S002",), ("benefit_amount",))]
    _fix("scheme_master")
    assert scalar(ct, "SELECT count(*) FROM public.schemes") == 35
    assert scalar(ct, "SELECT benefit_amount FROM public.schemes WHERE scheme_code = 'S002'") is None
    assert _diff("scheme_master").differing == 0


def test_nulls_compare_correctly(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, SCHEMES, {"n": 9})
    _fix("scheme_master")
    execute(ct, "UPDATE public.schemes SET description = NULL WHERE scheme_code = 'S001'")
    execute(ct, "UPDATE public.schemes SET description = '' WHERE scheme_code = 'S004'")  # NULL in source, '' here
    diff = _diff("scheme_master")
    assert sorted(c.key for c in diff.changed) == [("S001",), ("S004",)]
    assert all(c.columns == ("description",) for c in diff.changed)


@pytest.fixture
def scratch(warehouse_dsn: str, citizen_dsn: str) -> Iterator[tuple[str, str]]:
    for dsn in (warehouse_dsn, citizen_dsn):
        execute(dsn, "DROP SCHEMA IF EXISTS re_test CASCADE; CREATE SCHEMA re_test")
    yield warehouse_dsn, citizen_dsn
    for dsn in (warehouse_dsn, citizen_dsn):
        execute(dsn, "DROP SCHEMA IF EXISTS re_test CASCADE")


def _spec(wh: str, ct: str, *, where: tuple[str, ...] = ()) -> PairSpec:
    types = {"id": "bigint", "name": "text", "amount": "numeric(8,2)", "seen": "timestamp with time zone"}
    spec = same_table_pair(wh, ct, "re_test.t", types)
    return dataclasses.replace(spec, source=dataclasses.replace(spec.source, where=where))


def test_fix_rows_stream_from_the_diff_snapshot_in_bounded_batches(scratch: tuple[str, str]) -> None:
    """A fix reads the rows it writes from the source snapshot the diff saw, one bounded batch at a time.

    They used to be read with the diff and held until written: every clear value of a first load.
    """
    wh, ct = scratch
    ddl = "CREATE TABLE re_test.t (id bigint PRIMARY KEY, name text, amount numeric(8,2), seen timestamptz)"
    fill = "INSERT INTO re_test.t SELECT g, 'n' || g, g, timestamptz '2026-01-01' FROM generate_series(1, {n}) g"
    execute(wh, ddl)
    execute(wh, fill.format(n=5000))
    execute(ct, ddl)
    execute(ct, fill.format(n=4000))
    execute(ct, "UPDATE re_test.t SET name = 'old' WHERE id <= 10")
    execute_on_both((wh, ct), "VACUUM ANALYZE re_test.t")
    outcome = compare_pair(_spec(wh, ct), max_connections=4, keep_rows=True)
    with outcome:
        assert outcome.fix_rows is not None and len(outcome.fix_rows) == 1010
        # A change committed after the diff is not what this fix writes: it is stamped with the
        # snapshot's position, so its rows must be the snapshot's.
        execute(wh, "UPDATE re_test.t SET name = 'later' WHERE id IN (5, 4500)")
        outcome.fix_rows.batch_rows = 100
        batches = list(outcome.fix_rows.batches())  # a listed read: 1010 keys of 5000 rows
        assert len(batches) == 11 and all(len(b) <= 100 for b in batches)
        got = {r.key: r for b in batches for r in b}
        assert set(got) == {(k,) for k in [*range(1, 11), *range(4001, 5001)]}
        assert got[(4500,)].new and not got[(5,)].new
        assert (got[(5,)].row["name"], got[(4500,)].row["name"]) == ("n5", "n4500")
    with pytest.raises(RuntimeError, match="closed"):
        list(outcome.fix_rows)

    execute(ct, "TRUNCATE re_test.t")  # a first load: the whole side is read, a batch at a time
    outcome = compare_pair(_spec(wh, ct), max_connections=4, keep_rows=True)
    with outcome:
        # Its source-only keys stay one array in the diff: as key tuples, 10M rows took ~800 MB more.
        assert isinstance(outcome.diff.source_only, KeyArray) and len(outcome.diff.source_only) == 5000
        assert outcome.fix_rows is not None and len(outcome.fix_rows) == 5000
        outcome.fix_rows.batch_rows = 1000
        batches = list(outcome.fix_rows.batches())
        assert len(batches) == 5 and all(len(b) == 1000 and all(r.new for r in b) for b in batches)
        assert {r.key for b in batches for r in b} == {(k,) for k in range(1, 5001)}


def test_a_filtered_side_split_by_key_finds_what_one_scan_finds(scratch: tuple[str, str]) -> None:
    wh, ct = scratch
    # No primary key: the key column may be NULL, and such rows are counted once, not per share.
    ddl = "CREATE TABLE re_test.t (id bigint, name text, amount numeric(8,2), seen timestamptz)"
    fill = (
        "INSERT INTO re_test.t SELECT CASE WHEN g % 5000 = 0 THEN NULL ELSE g END, 'n' || g, g * 1.5, "
        "timestamptz '2026-01-01' + g * interval '1 minute' FROM generate_series(1, 20000) g"
    )
    execute_on_both((wh, ct), ddl, fill, "VACUUM ANALYZE re_test.t")
    execute(wh, "UPDATE re_test.t SET name = 'renamed' WHERE id % 1000 = 7")  # updated rows move to the table's end
    execute(ct, "UPDATE re_test.t SET amount = NULL WHERE id % 1000 = 8")
    execute(ct, "DELETE FROM re_test.t WHERE id % 1000 = 9")
    execute(wh, "INSERT INTO re_test.t VALUES (-3, 'negative key', 1, now())")  # mod() of a negative key
    window = ("id IS NULL OR id < 0 OR id % 10 IN (7, 8, 9)",)
    results: dict[bool, list[Any]] = {False: [], True: []}
    for connections in (2, 4):  # one scan per side, then two shares per side
        for restrict in (False, True):  # restricted: the target's rows of the window's keys only
            outcome = compare_pair(
                _spec(wh, ct, where=window), max_connections=connections, restrict_target=restrict, keep_rows=True
            )
            diff = outcome.diff
            results[restrict].append((diff.source_only, diff.target_only, diff.changed, diff.unchanged))
            assert diff.source_only == ((-3,), *((k,) for k in range(9, 20000, 1000)))
            assert [c.key for c in diff.changed] == [
                (k,) for k in sorted([*range(7, 20000, 1000), *range(8, 20000, 1000)])
            ]
            assert {c.columns for c in diff.changed} == {("name",), ("amount",)}
            assert diff.source_null_keys == 4
            with outcome:
                assert outcome.fix_rows is not None
                fixed = {r.key: r.row for r in outcome.fix_rows}
            assert fixed[(7,)] == {"id": 7, "name": "renamed", "amount": Decimal("10.50"), "seen": ANY}
            assert fixed[(-3,)]["name"] == "negative key"
    assert all(r == found[0] for found in results.values() for r in found)
    assert results[True][0][1] == ()  # no target-only rows outside the window's keys


def test_equal_sides_are_told_equal_by_their_fingerprints(
    scratch: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    wh, ct = scratch
    ddl = "CREATE TABLE re_test.t (id bigint PRIMARY KEY, name text, amount numeric(8,2), seen timestamptz)"
    fill = (
        "INSERT INTO re_test.t SELECT g, 'n' || g, g * 1.5, timestamptz '2026-01-01' + g * interval '1 minute' "
        "FROM generate_series(1, 20000) g"
    )
    execute_on_both((wh, ct), ddl, fill, "ANALYZE re_test.t")
    calls: list[tuple[str, Any]] = []
    fingerprint = Side.fingerprint

    def spy(self: Side, key_range: tuple[int, int] | None = None) -> Any:
        calls.append((self.side, key_range))
        return fingerprint(self, key_range)

    monkeypatch.setattr(Side, "fingerprint", spy)
    monkeypatch.setattr(engine, "PROBE_ROWS", 1000)  # ids 9501-10500

    def diff() -> tuple[Any, list[str]]:
        steps: list[str] = []
        calls.clear()
        out = compare_pair(_spec(wh, ct), max_connections=4, unique=(True, True), on_step=steps.append)
        return out.diff, steps

    same, steps = diff()
    assert steps == ["snapshot", "fingerprint"]  # no row hashes travelled
    assert (same.unchanged, same.differing, same.source_rows, same.target_rows) == (20000, 0, 20000, 20000)

    execute(ct, "UPDATE re_test.t SET amount = 1.50 WHERE id = 1")  # the same value: still equal
    assert diff()[0].differing == 0
    execute(ct, "UPDATE re_test.t SET name = 'far from the probe' WHERE id = 2")
    found, steps = diff()
    assert steps == ["snapshot", "fingerprint", "hash", "join", "fetch"]
    assert [(c.key, c.columns) for c in found.changed] == [((2,), ("name",))]
    assert [r for _, r in calls].count(None) == 2  # both whole sides were fingerprinted, then scanned

    execute(ct, "DELETE FROM re_test.t WHERE id = 10000")  # in the middle: the probe sees it
    found, _ = diff()
    assert found.source_only == ((10000,),)
    assert None not in [r for _, r in calls]  # no whole-side fingerprint was taken


def test_a_store_that_cannot_open_fails_the_diff_and_leaves_no_snapshot_open(
    scratch: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store opens on its own thread while the sides are scanned: its failure is the diff's, cleanly."""
    wh, ct = scratch
    ddl = "CREATE TABLE re_test.t (id bigint PRIMARY KEY, name text, amount numeric(8,2), seen timestamptz)"
    fill = "INSERT INTO re_test.t SELECT g, 'n' || g, g, timestamptz '2026-11-30' FROM generate_series(1, 50000) g"
    execute_on_both((wh, ct), ddl, fill)
    execute(ct, "UPDATE re_test.t SET name = 'changed' WHERE id = 7")  # the fingerprints differ: a scan runs
    monkeypatch.setenv("SMARTSYNC_BATCH_MEMORY_LIMIT", "lots of it")
    with pytest.raises(ConfigurationError, match="SMARTSYNC_BATCH_MEMORY_LIMIT"):
        compare_pair(_spec(wh, ct), max_connections=4, unique=(True, True))
    # Every connection of the diff is closed (a backend may take a moment to go).
    still_open = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%re_test.t%' AND pid <> pg_backend_pid()"
    deadline = time.monotonic() + 10
    while any(scalar(dsn, still_open) for dsn in (wh, ct)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [scalar(dsn, still_open) for dsn in (wh, ct)] == [0, 0]
    monkeypatch.setenv("SMARTSYNC_BATCH_MEMORY_LIMIT", "64MB")
    found = compare_pair(_spec(wh, ct), max_connections=4, unique=(True, True)).diff
    assert [c.key for c in found.changed] == [(7,)]


def test_a_side_whose_scan_fails_fails_the_diff_after_the_other_side_stops(scratch: tuple[str, str]) -> None:
    """One side's query error ends the diff with it; the store closes only once the other side's scan is done."""
    wh, ct = scratch
    ddl = "CREATE TABLE re_test.t (id bigint PRIMARY KEY, name text, amount numeric(8,2), seen timestamptz)"
    fill = "INSERT INTO re_test.t SELECT g, 'n' || g, g, timestamptz '2026-11-30' FROM generate_series(1, 300000) g"
    execute_on_both((wh, ct), ddl, fill, "ANALYZE re_test.t")
    execute(ct, "UPDATE re_test.t SET name = 'changed' WHERE id = 7")
    spec = _spec(wh, ct)
    # The source's first rows fail to read (division by zero) while the target's 300,000 are still being hashed.
    failing = tuple(
        dataclasses.replace(c, source_expr='CASE WHEN "id" = 3 THEN (1 / 0)::text ELSE "name" END')
        if c.name == "name"
        else c
        for c in spec.columns
    )
    with pytest.raises(ReconcileError, match=r"reading source re_test\.t failed: .*22012"):
        compare_pair(dataclasses.replace(spec, columns=failing), max_connections=4, unique=(True, True))
    found = compare_pair(spec, max_connections=4, unique=(True, True)).diff
    assert [c.key for c in found.changed] == [(7,)]
