"""The pure half of the reconciler: schema diff, column plans, classification, the merge join."""

from __future__ import annotations

import dataclasses
import struct

import numpy as np
import pyarrow as pa
import pytest

from masking import row_masker
from reconcile.classify import Detail, _patterns, classify
from reconcile.columns import hash_family, plan_columns, same_family, schema_diff
from reconcile.fingerprints import fingerprint_first, probe_range
from reconcile.fix_rows import KEYS_PER_QUERY, fix_batch, fix_queries
from reconcile.model import ColumnSpec, PairSpec, Relation
from reconcile.packed import SideScan, positions_of, records_of, scan_item, text_array, unpack_tids
from reconcile.scan_sql import Part, fingerprint_sql, scan_sql
from reconcile.specs import generic_pair, sync_pair
from reconcile.store import DiffStore, EngineLimits, Found, mask_source, memory_bytes
from smartsync.core.catalog import MaskRule, load_catalog
from smartsync.core.errors import ReconcileError


def test_schema_diff_reports_missing_and_retyped_columns() -> None:
    sd = schema_diff(
        {"a": "a", "b": "b", "c": "c", "d": None},
        {"a": "integer", "b": "text", "x": "text"},
        {"a": "bigint", "c": "text", "d": "date"},
    )
    assert sd.missing_in_source == ("c",)
    assert sd.missing_in_target == ("b",)
    assert sd.retyped == (("a", "integer", "bigint"),)
    assert not sd.empty
    assert schema_diff({"a": "a"}, {"a": "text"}, {"a": "text"}).empty


def test_type_families() -> None:
    assert same_family("integer", "bigint")
    assert same_family("character varying(20)", "text")
    assert same_family("numeric(5,4)", "numeric(12,2)")
    assert not same_family("integer", "text")


def test_plan_columns_puts_keys_first_and_texts_odd_types() -> None:
    cols = plan_columns(
        {"v": '"v"', "id": '"id"', "j": '"j"', "n": '"n"', "gone": '"gone"'},
        ["id"],
        {"v": MaskRule.EMAIL},
        {"id": "bigint", "v": "text", "j": "json", "n": "integer"},
        {"id": "integer", "v": "text", "j": "json", "n": "text"},
    )
    assert [c.name for c in cols] == ["id", "v", "j", "n"]
    by = {c.name: c for c in cols}
    assert not by["id"].as_text and by["j"].as_text and by["n"].as_text
    assert by["v"].mask is MaskRule.EMAIL


def test_the_column_wise_masking_of_the_diff_equals_the_row_masker() -> None:
    sync = load_catalog().sync("profile_summary")
    masker = row_masker(sync)
    values = ["9876543210", "+91 98765 43211", None, "12345", "x"]
    scan = _scan(list(range(len(values))), [0] * len(values), {"mobile": values})
    spec = PairSpec(
        "p",
        Relation("", "", ""),
        Relation("", "", ""),
        ("citizen_id",),
        (ColumnSpec("citizen_id", "", ""), ColumnSpec("mobile", "", "", MaskRule.MOBILE)),
    )
    rows = [masker({**dict.fromkeys(sync.columns), "mobile": v})["mobile"] for v in values]
    assert mask_source(scan, spec)["mobile"].to_pylist() == rows


def _spec(masked: bool = False) -> PairSpec:
    rel = Relation("", '"t"', "t", "t")
    cols = (
        ColumnSpec("id", '"id"', '"id"'),
        ColumnSpec("v", '"v"', '"v"', MaskRule.MOBILE if masked else MaskRule.CLEAR),
    )
    return PairSpec("t", rel, rel, ("id",), cols, integer_key=True)


def _scan(keys: list[int], hashes: list[int], masked: dict[str, list[str | None]] | None = None) -> SideScan:
    return SideScan(
        np.array(keys, dtype=np.int64),
        np.array(hashes, dtype=np.int64),
        None,
        {k: pa.array(v, pa.large_string()) for k, v in (masked or {}).items()},
        len(keys),
    )


def join_scans(
    src: SideScan, tgt: SideScan, spec: PairSpec, *, keep_masked: bool = False, arrow_share: float = 0.5
) -> Found:
    """Both scans through a DuckDB store, as the engine loads them (one part per side)."""
    limits = EngineLimits(memory_limit="64MB", threads=1, arrow_share=arrow_share)
    store = DiffStore(spec, with_tid=False, per_column=False, limits=limits)
    try:
        store.append("source", src)
        store.append("target", tgt)
        return store.differing(check_duplicates=(True, True), keep_masked=keep_masked)
    finally:
        store.close()


def test_duckdb_join_finds_only_the_differing_rows() -> None:
    src = _scan([5, 1, 2, 3, 9], [50, 10, 20, 30, 90])
    tgt = _scan([3, 2, 1, 7], [31, 20, 10, 70])
    found = join_scans(src, tgt, _spec())
    assert sorted(found.source_keys.tolist()) == [3, 5, 9]
    assert sorted(found.target_keys.tolist()) == [3, 7]
    assert found.matched_differing == 1


def test_parts_kept_as_arrow_or_in_tables_join_alike() -> None:
    src = _scan([5, 1, 2, 3, 9], [50, 10, 20, 30, 90], {})
    tgt = _scan([3, 2, 1, 7], [31, 20, 10, 70], {})
    in_arrow, in_tables = join_scans(src, tgt, _spec()), join_scans(src, tgt, _spec(), arrow_share=0.0)
    for found in (in_arrow, in_tables):
        assert sorted(found.source_keys.tolist()) == [3, 5, 9] and sorted(found.target_keys.tolist()) == [3, 7]
    store = DiffStore(_spec(), with_tid=False, per_column=False, limits=EngineLimits(memory_limit="64MB", threads=1))
    try:
        store.append("source", src)
        assert store.held_bytes > 0 and store.relation("source") == "source_parts"
        assert store.relation("target") == "target_table"  # nothing appended: the empty table
        with pytest.raises(RuntimeError, match="after it was read"):
            store.append("source", src)
    finally:
        store.close()
    assert memory_bytes("512MB") == 512_000_000 and memory_bytes("1.5GiB") == 3 * 2**29
    with pytest.raises(ReconcileError, match="not a size"):
        memory_bytes("lots")


def test_duckdb_join_with_empty_sides() -> None:
    assert join_scans(_scan([], []), _scan([1], [1]), _spec()).target_keys.tolist() == [1]
    assert join_scans(_scan([1], [1]), _scan([], []), _spec()).source_keys.tolist() == [1]
    assert join_scans(_scan([], []), _scan([], []), _spec()).source_keys.tolist() == []


def test_duckdb_join_refuses_duplicate_keys() -> None:
    with pytest.raises(ReconcileError, match="duplicate keys"):
        join_scans(_scan([1, 1], [1, 2]), _scan([1], [1]), _spec())


def test_masked_columns_compare_after_masking() -> None:
    src = _scan([1, 2, 3, 4], [1, 2, 3, 4], {"v": ["9876543210", None, "9876543212", "9876543213"]})
    tgt = _scan([1, 2, 3, 4], [1, 2, 3, 4], {"v": ["******3210", None, "9876543212", None]})
    found = join_scans(src, tgt, _spec(masked=True))
    assert sorted(found.source_keys.tolist()) == [3, 4]
    assert mask_source(src, _spec(masked=True))["v"].to_pylist() == ["******3210", None, "******3212", "******3213"]


def test_no_clear_masked_value_enters_the_store() -> None:
    spec = _spec(masked=True)
    store = DiffStore(spec, with_tid=False, per_column=False, limits=EngineLimits(memory_limit="64MB", threads=1))
    try:
        store.append("source", _scan([1, 2], [1, 2], {"v": ["9876543210", "9876543211"]}))
        kept = store.db.execute(f"SELECT m0 FROM {store.relation('source')} ORDER BY k").fetchall()
    finally:
        store.close()
    assert kept == [("******3210",), ("******3211",)]


def test_per_column_hashes_travel_through_the_store() -> None:
    spec = _spec()
    src = SideScan(np.array([1, 2]), np.array([[1, 10], [2, 20]]), None, {}, 2)
    tgt = SideScan(np.array([1, 2]), np.array([[1, 10], [2, 21]]), None, {}, 2)
    store = DiffStore(spec, with_tid=False, per_column=True, limits=EngineLimits(memory_limit="64MB", threads=1))
    try:
        store.append("source", src)
        store.append("target", tgt)
        found = store.differing(check_duplicates=(True, True), keep_masked=False)
    finally:
        store.close()
    assert found.source_keys.tolist() == [2] and found.target_keys.tolist() == [2]
    assert found.source_hashes is not None and found.source_hashes.tolist() == [[2, 20]]
    assert found.target_hashes is not None and found.target_hashes.tolist() == [[2, 21]]


def test_packed_records_and_text_parsing() -> None:
    records = [(7, -1, 3, 2), (-(2**63), 2**62, 2**32 - 1, 65535)]
    data = b"".join(struct.pack(">qqIH", *r) for r in records)
    rec = records_of(data, scan_item(with_tid=True))
    assert rec["k"].tolist() == [7, -(2**63)] and rec["h"].tolist() == [-1, 2**62]
    assert unpack_tids(rec).tolist() == [3 << 16 | 2, (2**32 - 1) << 16 | 65535]
    assert len(records_of(None, scan_item(with_tid=True))) == 0
    wide = records_of(struct.pack(">qqq", 1, 2, 3), scan_item(with_tid=False, columns=2))
    assert wide["h"].tolist() == [[2, 3]]
    texts = text_array("abcé".encode() + b"xy", struct.pack(">iiii", 3, -1, 2, 2))
    assert texts.to_pylist() == ["abc", None, "é", "xy"]


def test_rows_read_again_are_put_back_in_request_order() -> None:
    rel = Relation("", "", "t")
    got = np.array([30, 10, 20], dtype=np.int64)
    assert positions_of(got, np.array([10, 30], dtype=np.int64), rel).tolist() == [1, 0]
    with pytest.raises(ReconcileError, match="did not find every row"):
        positions_of(got, np.array([10, 40], dtype=np.int64), rel)


def test_scan_sql_hashes_clear_columns_and_ships_masked_ones_as_text() -> None:
    query = scan_sql(_spec(masked=True), "source", with_tid=True, part=Part(blocks=(0, 10)))
    # The masked column travels as text and stays out of the row hash.
    assert 'int8send(hashint8extended(hash_record_extended(ROW("id"), 1), 0))' in query
    assert 'textsend(("v")::text)' in query
    assert "ctid >= '(0,0)'::tid" in query and "ctid < '(10,0)'::tid" in query
    assert "tidsend(_tid)" in query


def test_scan_sql_shares_split_by_key_and_count_null_keys_once() -> None:
    query = scan_sql(
        _spec(), "target", with_tid=False, part=Part(share=(1, 2)), key_filter="'{1,2}'::int8[]", per_column=True
    )
    assert 'coalesce(abs(mod(("id")::int8, 2)), 0) = 1' in query
    assert "(\"id\")::int8 = ANY('{1,2}'::int8[])" in query
    # One hash per clear column: the key and v.
    assert query.count("hash_record_extended(ROW(") == 2


def test_sync_pair_maps_filters_and_masks() -> None:
    sync = load_catalog().sync("scheme_master")
    types = {
        "scheme_code": "text",
        "scheme_name": "text",
        "department": "text",
        "category": "text",
        "description": "text",
        "min_age": "smallint",
        "max_age": "smallint",
        "benefit_amount": "numeric(12,2)",
        "status": "text",
        "updated_at": "timestamp with time zone",
    }
    planned = sync_pair(sync, source_dsn="s", target_dsn="t", source_types=types, target_types=types)
    assert planned.spec.source.where == ("status = 'active'",)
    assert not planned.spec.integer_key
    assert planned.spec.columns[0].name == "scheme_code"


def test_generic_refuses_key_type_mismatch_and_missing_key() -> None:
    with pytest.raises(ReconcileError, match="type mismatch"):
        generic_pair(
            source_dsn="s",
            target_dsn="t",
            source_table="a",
            target_table="b",
            key=["id"],
            source_types={"id": "integer"},
            target_types={"id": "text"},
        )
    with pytest.raises(ReconcileError, match="missing"):
        generic_pair(
            source_dsn="s",
            target_dsn="t",
            source_table="a",
            target_table="b",
            key=["nope"],
            source_types={"id": "integer"},
            target_types={"id": "integer"},
        )


def _detail(rows: list[tuple[int, tuple[object, ...], tuple[int, ...]]]) -> Detail:
    return Detail(
        np.array([r[0] for r in rows], dtype=np.int64),
        [r[1] for r in rows],
        np.array([r[2] for r in rows], dtype=np.int64).reshape(len(rows), 2),
    )


def test_classify_names_changed_columns_and_keeps_colliding_keys_apart() -> None:
    # Scan key 9 is shared by two different real keys (a 64-bit hash collision): not a match.
    source = _detail(
        [(3, (3,), (10, 21)), (2, (2,), (10, 20)), (1, (1,), (10, 20)), (9, ("a", 1), (1, 1)), (5, (5,), (7, 7))]
    )
    target = _detail(
        [(4, (4,), (0, 0)), (3, (3,), (11, 20)), (1, (1,), (10, 20)), (9, ("b", 2), (1, 1)), (5, (5,), (7, 7))]
    )
    masked_flags = np.array([[False], [False], [True], [False], [False]])
    got = classify(source, target, ["x", "y"], ["mobile"], masked_flags)
    assert got.source_only == [(2,), ("a", 1)]
    assert got.target_only == [(4,), ("b", 2)]
    assert [(c.key, c.columns) for c in got.changed] == [((1,), ("mobile",)), ((3,), ("x", "y"))]
    assert got.unchanged == 1  # key 5: its row hash differed, none of its columns does
    assert sorted(got.to_write.tolist()) == [0, 1, 2, 3]


def test_classify_with_nothing_on_one_side() -> None:
    empty = _detail([])
    got = classify(_detail([(1, (1,), (1, 1))]), empty, ["x", "y"])
    assert (got.source_only, got.target_only, got.changed, got.to_write.tolist()) == ([(1,)], [], [], [0])
    got = classify(empty, _detail([(1, (1,), (1, 1))]), ["x", "y"])
    assert (got.source_only, got.target_only, got.changed) == ([], [(1,)], [])


def test_masked_values_of_differing_rows_are_kept_for_the_fix() -> None:
    src = _scan([1, 2, 3], [1, 2, 30], {"v": ["9876543210", "9876543211", "9876543212"]})
    tgt = _scan([1, 3], [1, 3], {"v": ["9876543210", "******3212"]})
    found = join_scans(src, tgt, _spec(masked=True), keep_masked=True)
    # Source-only key 2 first, then the differing matched rows: key 1 (raw value in the portal), key 3 (hash).
    assert found.source_keys.tolist()[0] == 2 and sorted(found.source_keys.tolist()[1:]) == [1, 3]
    at = {k: i for i, k in enumerate(found.source_keys.tolist())}
    assert [found.masked["v"].to_pylist()[at[k]] for k in (2, 1, 3)] == ["******3211", "******3210", "******3212"]
    assert [bool(found.masked_flags[at[k], 0]) for k in (2, 1, 3)] == [False, True, False]

    # The fix reads its rows again from the source snapshot and masks them as the diff did.
    fetched = [(1, 1, "9876543210"), (2, 2, "9876543211"), (3, 3, "9876543212"), (4, 4, None)]
    rows = fix_batch(_spec(masked=True), fetched, wanted=np.array([2, 3, 4]), new=np.array([2, 4]))
    assert [(r.key, r.row, r.new) for r in rows] == [
        ((2,), {"id": 2, "v": "******3211"}, True),
        ((3,), {"id": 3, "v": "******3212"}, False),
        ((4,), {"id": 4, "v": None}, True),
    ]
    # A listed read keeps every row it gets.
    assert len(fix_batch(_spec(masked=True), fetched, wanted=None, new=np.array([], dtype=np.int64))) == 4


def test_fix_reads_whole_side_or_key_chunks() -> None:
    spec = _spec(masked=True)
    (whole,) = fix_queries(spec, np.array([1, 2]), None, whole_side=True)
    assert "ANY" not in whole and "IS NULL" in whole
    listed = fix_queries(spec, np.arange(KEYS_PER_QUERY + 1, dtype=np.int64), None, whole_side=False)
    assert len(listed) == 2 and all("= ANY('{" in q for q in listed)


def test_probe_range_sits_in_the_middle_and_holds_about_the_asked_rows() -> None:
    assert probe_range((1, 1_000_000), 1_000_000, 20_000) == (490_001, 510_000)
    assert probe_range((1, 100), 100, 20_000) == (1, 100)  # small sides: all of it
    lo, hi = probe_range((-(2**63), 2**63 - 1), 1e9, 1000)  # sparse keys over the whole int8 range
    assert isinstance(lo, int) and isinstance(hi, int)
    assert -(2**63) <= lo <= hi <= 2**63 - 1 and hi - lo + 1 == -(-(2**64) // 10**6)
    assert probe_range((5, 5), 0, 1000) == (5, 5)


def test_fingerprints_are_trusted_only_where_they_see_everything_a_diff_reports() -> None:
    assert fingerprint_first(_spec(), (True, True), (False, False))
    assert not fingerprint_first(_spec(), (True, False), (False, False))  # duplicates possible
    assert not fingerprint_first(_spec(), (True, True), (False, True))  # NULL keys possible
    assert not fingerprint_first(_spec(masked=True), (True, True), (False, False))  # compared after masking
    assert not fingerprint_first(dataclasses.replace(_spec(), integer_key=False), (True, True), (False, False))
    query = fingerprint_sql(_spec(), "target", key_range=(10, 20))
    row_hash = 'hashint8extended(hash_record_extended(ROW("id"), 1) # hash_record_extended(ROW("v"), 2), 0)'
    assert f"bit_xor({row_hash})" in query
    assert '"id" BETWEEN 10 AND 20' in query


def test_patterns_of_wide_flag_rows() -> None:
    flags = np.zeros((4, 70), dtype=bool)
    flags[1, 65] = flags[3, 65] = True
    flags[2, 0] = True
    patterns, which = _patterns(flags)
    assert which.tolist()[1] == which.tolist()[3] != which.tolist()[0]
    assert patterns[which[2]].tolist() == flags[2].tolist()
    narrow, which = _patterns(flags[:, :3])
    assert len(narrow) == 2 and which.tolist() == [0, 0, 1, 0]


def test_columns_hash_by_family_only_when_both_sides_share_it() -> None:
    assert hash_family("integer", "bigint", as_text=False) == "integer"
    assert hash_family("character varying(20)", "text", as_text=False) == "text"
    assert hash_family("numeric(5,4)", "numeric(12,2)", as_text=False) == "numeric"
    assert hash_family("date", "date", as_text=False) == "date"
    assert hash_family("timestamp with time zone", "timestamp with time zone", as_text=False) == "timestamptz"
    assert hash_family("date", "timestamp without time zone", as_text=False) is None
    assert hash_family("boolean", "boolean", as_text=False) is None  # hashed as a one-column row
    assert hash_family("integer", "text", as_text=True) == "text"  # compared on its text form
    cols = plan_columns(
        {"n": '"n"', "d": '"d"', "b": '"b"'},
        [],
        {},
        {"n": "numeric", "d": "date", "b": "boolean"},
        {"n": "numeric(8,2)", "d": "date", "b": "boolean"},
    )
    query = scan_sql(
        PairSpec("t", Relation("", '"t"', "t"), Relation("", '"t"', "t"), ("n",), cols),
        "source",
        with_tid=False,
        per_column=True,
    )
    assert 'coalesce(hash_numeric_extended(("n"), 0), ' in query
    assert "hashint4extended((\"d\") - date '2000-01-01', 0)" in query
    assert 'hash_record_extended(ROW("b"), 0)' in query
