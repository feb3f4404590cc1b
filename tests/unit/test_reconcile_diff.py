"""The pure half of the reconciler: schema diff, column plans, classification, the merge join."""

from __future__ import annotations

import struct
from datetime import date
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest

from masking import row_masker
from reconcile.diff import changed_columns, classify_digests, plan_columns, same_family, schema_diff
from reconcile.engine import _INT8_ITEM, SideScan, _array_values, _masked_source, _text_array, join_scans, scan_sql
from reconcile.model import ChangedRow, ColumnSpec, PairSpec, Relation
from reconcile.pairs import generic, sync_pair
from smartsync.catalog import MaskRule, load_catalog
from smartsync.errors import ReconcileError


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


def test_changed_columns_and_nulls() -> None:
    src = {"a": 1, "b": None, "c": Decimal("1.50"), "d": date(2026, 1, 1), "e": ""}
    tgt = {"a": 1, "b": None, "c": Decimal("1.5"), "d": date(2026, 1, 2), "e": None}
    assert changed_columns(src, tgt, ["a", "b", "c", "d", "e"]) == ("d", "e")


def test_the_column_wise_masking_of_the_diff_equals_the_row_masker() -> None:
    sync = load_catalog().sync("profile_summary")
    masker = row_masker(sync)
    values = ["9876543210", "+91 98765 43211", None, "12345", "x"]
    scan = _scan(list(range(len(values))), [0] * len(values), {"mobile": values})
    spec = PairSpec("p", Relation("", "", ""), Relation("", "", ""), ("citizen_id",),
                    (ColumnSpec("citizen_id", "", ""), ColumnSpec("mobile", "", "", MaskRule.MOBILE)))
    rows = [masker({**dict.fromkeys(sync.columns), "mobile": v})["mobile"] for v in values]
    assert _masked_source(scan, spec)["mobile"].to_pylist() == rows


def _spec(masked: bool = False) -> PairSpec:
    rel = Relation("", '"t"', "t", "t")
    cols = (
        ColumnSpec("id", '"id"', '"id"'),
        ColumnSpec("v", '"v"', '"v"', MaskRule.MOBILE if masked else MaskRule.CLEAR),
    )
    return PairSpec("t", rel, rel, ("id",), cols, integer_key=True)


def _scan(keys: list[int], hashes: list[int], masked: dict[str, list[str | None]] | None = None) -> SideScan:
    return SideScan(
        np.array(keys, dtype=np.int64), np.array(hashes, dtype=np.int64), None,
        {k: pa.array(v, pa.large_string()) for k, v in (masked or {}).items()}, len(keys),
    )


def test_merge_join_finds_only_the_differing_rows() -> None:
    src = _scan([5, 1, 2, 3, 9], [50, 10, 20, 30, 90])
    tgt = _scan([3, 2, 1, 7], [31, 20, 10, 70])
    found = join_scans(src, tgt, _spec())
    assert sorted(src.keys[found.source].tolist()) == [3, 5, 9]
    assert sorted(tgt.keys[found.target].tolist()) == [3, 7]
    assert found.matched_differing == 1


def test_merge_join_with_empty_sides() -> None:
    assert join_scans(_scan([], []), _scan([1], [1]), _spec()).target.tolist() == [0]
    assert join_scans(_scan([1], [1]), _scan([], []), _spec()).source.tolist() == [0]


def test_merge_join_refuses_duplicate_keys() -> None:
    with pytest.raises(ReconcileError, match="duplicate keys"):
        join_scans(_scan([1, 1], [1, 2]), _scan([1], [1]), _spec())


def test_masked_columns_compare_after_masking() -> None:
    src = _scan([1, 2, 3, 4], [1, 2, 3, 4], {"v": ["9876543210", None, "9876543212", "9876543213"]})
    tgt = _scan([1, 2, 3, 4], [1, 2, 3, 4], {"v": ["******3210", None, "9876543212", None]})
    found = join_scans(src, tgt, _spec(masked=True))
    assert sorted(src.keys[found.source].tolist()) == [3, 4]
    assert _masked_source(src, _spec(masked=True))["v"].to_pylist() == ["******3210", None, "******3212", "******3213"]


def test_binary_array_and_text_parsing() -> None:
    values = [7, -1, 2**62]
    header = struct.pack(">iiiii", 1, 0, 20, len(values), 1)
    body = b"".join(struct.pack(">iq", 8, v) for v in values)
    assert _array_values(header + body, _INT8_ITEM)["v"].tolist() == values
    assert len(_array_values(None, _INT8_ITEM)) == 0
    texts = _text_array("abcé".encode() + b"xy", struct.pack(">iiii", 3, -1, 2, 2))
    assert texts.to_pylist() == ["abc", None, "é", "xy"]


def test_scan_sql_hashes_clear_columns_and_ships_masked_ones_as_text() -> None:
    query = scan_sql(_spec(masked=True), "source", with_tid=True, tid_range=(0, 10))
    assert "hash_record_extended(ROW(\"id\"), 0)" in query
    assert "textsend((\"v\")::text)" in query
    assert "ctid >= '(0,0)'::tid" in query and "ctid < '(10,0)'::tid" in query


def test_sync_pair_maps_filters_and_masks() -> None:
    sync = load_catalog().sync("scheme_master")
    types = {"scheme_code": "text", "scheme_name": "text", "department": "text", "category": "text",
             "description": "text", "min_age": "smallint", "max_age": "smallint", "benefit_amount": "numeric(12,2)",
             "status": "text", "updated_at": "timestamp with time zone"}
    planned = sync_pair(sync, source_dsn="s", target_dsn="t", source_types=types, target_types=types)
    assert planned.spec.source.where == ("status = 'active'",)
    assert not planned.spec.integer_key
    assert planned.spec.columns[0].name == "scheme_code"


def test_generic_refuses_key_type_mismatch_and_missing_key() -> None:
    with pytest.raises(ReconcileError, match="type mismatch"):
        generic(source_dsn="s", target_dsn="t", source_table="a", target_table="b", key=["id"],
                source_types={"id": "integer"}, target_types={"id": "text"})
    with pytest.raises(ReconcileError, match="missing"):
        generic(source_dsn="s", target_dsn="t", source_table="a", target_table="b", key=["nope"],
                source_types={"id": "integer"}, target_types={"id": "integer"})


def test_classify_digests_names_changed_columns_and_keeps_colliding_keys_apart() -> None:
    source = {1: ((1,), (10, 20)), 2: ((2,), (10, 20)), 3: ((3,), (10, 21)), 9: (("a", 1), (1, 1))}
    target = {1: ((1,), (10, 20)), 3: ((3,), (11, 20)), 4: ((4,), (0, 0)), 9: (("b", 2), (1, 1))}
    s_only, t_only, changed, unchanged, by_key = classify_digests(source, target, ["x", "y"], {1: ("mobile",)})
    assert s_only == [(2,), ("a", 1)]
    assert t_only == [(4,), ("b", 2)]
    assert changed == [ChangedRow((1,), ("mobile",)), ChangedRow((3,), ("x", "y"))]
    assert unchanged == 0
    assert by_key[("a", 1)] == 9
