"""The sync catalog: the seeds' syncs, and refusal of invalid catalogs naming sync and field."""

from __future__ import annotations

from typing import Any

import pytest

from smartsync.core.catalog import BatchMode, Direction, MaskRule, Pattern, Trigger, build_catalog, load_catalog
from smartsync.core.catalog.declared import _SYNCS
from smartsync.core.errors import CatalogError
from smartsync.core.tables import SCHEMA, Database


def _raw() -> list[dict[str, Any]]:
    return [s.model_dump() for s in _SYNCS]


def _refused(raw: list[dict[str, Any]]) -> str:
    with pytest.raises(CatalogError) as info:
        build_catalog(tuple(raw))
    return str(info.value)


def test_every_sync_of_the_seeds_is_declared() -> None:
    catalog = load_catalog()
    pairs = {(s.source, s.target, s.pattern) for s in catalog.syncs}
    assert ("eligibility.scheme_master", "public.schemes", Pattern.BATCH) in pairs
    assert ("public.profile_360", "public.profile_summary", Pattern.HYBRID) in pairs
    assert ("public.golden_records", "public.profile_data", Pattern.HYBRID) in pairs
    assert ("eligibility.eligibility_snapshots", "public.eligibility_hints", Pattern.EVENT) in pairs
    assert ("forecast.benefit_forecasts", "public.benefit_forecasts", Pattern.EVENT) in pairs
    assert ("decision.applications", "public.application_decisions", Pattern.EVENT) in pairs
    assert ("public.ml_alerts", "public.ml_alerts", Pattern.EVENT) in pairs
    assert ("public.citizens", "public.golden_records", Pattern.EVENT) in pairs
    assert ("public.service_applications", "decision.application_events", Pattern.EVENT) in pairs
    assert ("public.documents", "public.document_metadata", Pattern.EVENT) in pairs
    assert ("public.user_behavior_events", "analytics.user_behavior", Pattern.BATCH) in pairs
    assert ("public.feedback", "analytics.feedback_analytics", Pattern.BATCH) in pairs
    assert len(catalog.syncs) == 12


def test_partition_counts_follow_the_seeds() -> None:
    catalog = load_catalog()
    partitions = {s.name: s.topic.partitions for s in catalog.syncs if s.topic}
    assert partitions["eligibility_hints"] == 10
    assert partitions["profile_updates"] == 10
    assert partitions["application_decisions"] == 5
    assert partitions["document_metadata"] == 5


def test_schedules_are_the_seeds_utc_schedules() -> None:
    crons = {sch.job: (sch.cron, sch.mode) for _, sch in load_catalog().jobs()}
    assert crons["scheme_master_daily"] == ("0 0 * * *", BatchMode.FULL)
    assert crons["profile_summary_full"] == ("30 0 * * *", BatchMode.FULL)
    assert crons["profile_summary_hourly"] == ("0 * * * *", BatchMode.INCREMENTAL)
    assert crons["golden_records_daily"] == ("0 1 * * *", BatchMode.INCREMENTAL)
    assert crons["user_behavior_daily"] == ("0 2 * * *", BatchMode.AGGREGATE)
    assert crons["feedback_daily"] == ("30 2 * * *", BatchMode.APPEND)
    assert crons["weekly_reconciliation"] == ("0 3 * * 0", BatchMode.FULL)


def test_the_seeds_masking_rules_are_in_the_catalog() -> None:
    catalog = load_catalog()
    golden = catalog.sync("golden_records").masks()
    assert golden["income_band"] is MaskRule.CONFIDENTIAL
    assert golden["aadhaar"] is MaskRule.AADHAAR
    assert golden["jan_aadhaar"] is MaskRule.JAN_AADHAAR
    assert golden["mobile"] is MaskRule.MOBILE
    assert golden["email"] is MaskRule.EMAIL
    hints = catalog.sync("eligibility_hints").masks()
    assert hints["eligibility_score"] is MaskRule.CLEAR
    assert hints["scheme_code"] is MaskRule.CLEAR


def test_every_portal_column_is_classified() -> None:
    for sync in load_catalog().by_direction(Direction.WAREHOUSE_TO_CITIZEN):
        assert all(col.mask is not None for col in sync.columns.values()), sync.name


def test_captured_tables_are_the_cdc_sources() -> None:
    catalog = load_catalog()
    assert set(catalog.captured_tables(Database.CITIZEN)) == {
        "public.citizens",
        "public.service_applications",
        "public.documents",
    }
    assert "eligibility.eligibility_snapshots" in catalog.captured_tables(Database.WAREHOUSE)
    for sync in catalog.syncs:
        if sync.trigger is Trigger.CDC:
            assert SCHEMA.table(sync.source_database, sync.source).captured, sync.name


def test_unknown_table_is_refused() -> None:
    raw = _raw()
    raw[0]["source"] = "eligibility.no_such_table"
    assert "sync 'scheme_master': field 'source': unknown table 'eligibility.no_such_table'" in _refused(raw)


def test_unknown_column_is_refused() -> None:
    raw = _raw()
    raw[0]["columns"]["scheme_name"]["source"] = "no_such_column"
    assert "sync 'scheme_master': field 'columns.scheme_name': unknown source column 'no_such_column'" in _refused(raw)


def test_partition_count_below_one_is_refused() -> None:
    raw = _raw()
    hints = next(r for r in raw if r["name"] == "eligibility_hints")
    hints["topic"]["partitions"] = 0
    assert "sync 'eligibility_hints': field 'topic.partitions': partition count must be at least 1" in _refused(raw)


def test_a_cycle_of_syncs_is_refused() -> None:
    raw = _raw()
    updates = next(r for r in raw if r["name"] == "profile_updates")
    echo = {
        **updates,
        "name": "echo",
        "direction": Direction.WAREHOUSE_TO_CITIZEN,
        "source": "public.golden_records",
        "target": "public.citizens",
        "topic": {**updates["topic"], "name": "echo.topic"},
        "columns": {
            c: {"source": c, "mask": MaskRule.CLEAR}
            for c in SCHEMA.table(Database.CITIZEN, "public.citizens").column_names
            if c != "updated_at"
        },
        "dropped": ("income_band", "vulnerability_level", "updated_at"),
    }
    raw.append(echo)
    message = _refused(raw)
    assert "form a cycle" in message
    assert "echo" in message and "profile_updates" in message


def test_an_unclassified_portal_column_is_refused() -> None:
    raw = _raw()
    golden = next(r for r in raw if r["name"] == "golden_records")
    golden["columns"]["mobile"]["mask"] = None
    assert "sync 'golden_records': field 'columns.mobile': no masking classification" in _refused(raw)


def test_a_source_column_neither_mapped_nor_dropped_is_refused() -> None:
    raw = _raw()
    summary = next(r for r in raw if r["name"] == "profile_summary")
    summary["dropped"] = ()
    assert "source column public.profile_360.risk_score is neither mapped nor dropped" in _refused(raw)


def test_a_lossy_mask_on_a_key_is_refused() -> None:
    raw = _raw()
    golden = next(r for r in raw if r["name"] == "golden_records")
    golden["columns"]["citizen_id"]["mask"] = MaskRule.MOBILE
    assert "field 'columns.citizen_id': key column cannot use the lossy mask 'mobile'" in _refused(raw)


def test_a_key_that_is_not_the_primary_key_is_refused() -> None:
    raw = _raw()
    decisions = next(r for r in raw if r["name"] == "application_decisions")
    decisions["key"] = ("citizen_id",)
    assert "sync 'application_decisions': field 'key'" in _refused(raw)


def test_two_syncs_writing_one_target_are_refused() -> None:
    raw = _raw()
    raw.append({**raw[0], "name": "scheme_master_again", "schedules": ({**raw[0]["schedules"][0], "job": "again"},)})
    assert "public.schemes is already written by sync 'scheme_master'" in _refused(raw)


def test_unknown_sync_lookup_names_the_known_ones() -> None:
    with pytest.raises(CatalogError, match="unknown sync 'nope'; the catalog has: scheme_master"):
        load_catalog().sync("nope")
