"""The catalog of the seeds: every sync of SmartSync, declared once, and ``load_catalog``."""

from __future__ import annotations

import functools
from typing import Any

from pydantic import ValidationError

from smartsync.core.catalog.enums import BatchMode, DerivedValue, Direction, EventMode, MaskRule, Pattern, Trigger
from smartsync.core.catalog.models import Catalog, Col, MaintenanceWindow, Schedule, Sync, Topic, TopN
from smartsync.core.errors import CatalogError
from smartsync.core.tables import Database

M = MaskRule


def _same(*names: str, mask: MaskRule | None = None) -> dict[str, Col]:
    return {n: Col(source=n, mask=mask) for n in names}


def _w2c_topic(source: str, partitions: int, *key: str) -> Topic:
    return Topic(name=f"warehouse.{source}", partitions=partitions, key_columns=key)


def _c2w_topic(source: str, partitions: int, *key: str) -> Topic:
    return Topic(name=f"citizen.{source}", partitions=partitions, key_columns=key)


W2C = Direction.WAREHOUSE_TO_CITIZEN
C2W = Direction.CITIZEN_TO_WAREHOUSE

# Every event-only sync also has a daily fixing reconcile (a full diff and fix of the pair), so a change
# the event path lost never lives longer than a day. They run in India's low-traffic night
# (21:00-22:00 UTC = 02:30-03:30 IST), apart from the 00:00-02:30 UTC batch jobs and the window.
_SYNCS: tuple[Sync, ...] = (
    # ── smart_warehouse → smart_citizen ──
    Sync(
        name="scheme_master",
        title="Scheme Master",
        direction=W2C,
        source="eligibility.scheme_master",
        target="public.schemes",
        key=("scheme_code",),
        columns=_same(
            "scheme_code",
            "scheme_name",
            "department",
            "category",
            "description",
            "min_age",
            "max_age",
            "benefit_amount",
            mask=M.CLEAR,
        ),
        dropped=("status", "updated_at"),
        source_filter="status = 'active'",
        pattern=Pattern.BATCH,
        volume_per_day=200,
        schedules=(
            Schedule(
                job="scheme_master_daily",
                cron="0 0 * * *",
                mode=BatchMode.FULL,
                expected_minutes=5,
                description="Full refresh of active schemes; withdrawn ones are removed",
            ),
        ),
    ),
    Sync(
        name="profile_summary",
        title="Profile Summary",
        direction=W2C,
        source="public.profile_360",
        target="public.profile_summary",
        key=("citizen_id",),
        columns={
            **_same(
                "citizen_id",
                "full_name",
                "district_id",
                "vulnerability_level",
                "eligible_scheme_count",
                "active_application_count",
                "last_benefit_date",
                "updated_at",
                mask=M.CLEAR,
            ),
            "jan_aadhaar": Col(source="jan_aadhaar", mask=M.JAN_AADHAAR),
            "mobile": Col(source="mobile", mask=M.MOBILE),
            "email": Col(source="email", mask=M.EMAIL),
            "income_band": Col(source="income_band", mask=M.CONFIDENTIAL),
        },
        dropped=("risk_score",),
        pattern=Pattern.HYBRID,
        trigger=Trigger.CDC,
        event_mode=EventMode.MIRROR,
        topic=_w2c_topic("public.profile_360", 10, "citizen_id"),
        latency_target_s=5,
        volume_per_day=100_000,
        schedules=(
            Schedule(
                job="profile_summary_full",
                cron="30 0 * * *",
                mode=BatchMode.FULL,
                expected_minutes=30,
                description="Daily full reconcile: catches any missed change event",
            ),
            Schedule(
                job="profile_summary_hourly",
                cron="0 * * * *",
                mode=BatchMode.INCREMENTAL,
                expected_minutes=10,
                watermark_column="updated_at",
                description="Hourly incremental since the last run",
            ),
        ),
    ),
    Sync(
        name="golden_records",
        title="Golden Records",
        direction=W2C,
        source="public.golden_records",
        target="public.profile_data",
        key=("citizen_id",),
        columns={
            **_same(
                "citizen_id",
                "full_name",
                "date_of_birth",
                "gender",
                "district_id",
                "address",
                "vulnerability_level",
                "verification_status",
                "updated_at",
                mask=M.CLEAR,
            ),
            "jan_aadhaar": Col(source="jan_aadhaar", mask=M.JAN_AADHAAR),
            "aadhaar": Col(source="aadhaar", mask=M.AADHAAR),
            "mobile": Col(source="mobile", mask=M.MOBILE),
            "email": Col(source="email", mask=M.EMAIL),
            "income_band": Col(source="income_band", mask=M.CONFIDENTIAL),
        },
        pattern=Pattern.HYBRID,
        trigger=Trigger.CDC,
        event_mode=EventMode.MIRROR,
        topic=_w2c_topic("public.golden_records", 10, "citizen_id"),
        latency_target_s=5,
        volume_per_day=100_000,
        schedules=(
            Schedule(
                job="golden_records_daily",
                cron="0 1 * * *",
                mode=BatchMode.INCREMENTAL,
                expected_minutes=45,
                watermark_column="updated_at",
                lookback_hours=24,
                description="Rows updated in the last 24 hours",
            ),
        ),
    ),
    Sync(
        name="eligibility_hints",
        title="Eligibility Hints",
        direction=W2C,
        source="eligibility.eligibility_snapshots",
        target="public.eligibility_hints",
        key=("citizen_id", "scheme_code"),
        columns=_same("citizen_id", "scheme_code", "eligibility_score", "status", "evaluated_at", mask=M.CLEAR),
        dropped=("updated_at",),
        pattern=Pattern.EVENT,
        trigger=Trigger.CDC,
        event_mode=EventMode.TOP_N,
        top_n=TopN(
            group_by=("citizen_id",),
            rank_by="eligibility_score",
            n=5,
            status_column="status",
            included_statuses=("eligible",),
        ),
        topic=_w2c_topic("eligibility.eligibility_snapshots", 10, "citizen_id"),
        latency_target_s=5,
        volume_per_day=50_000,
        schedules=(
            Schedule(
                job="eligibility_hints_daily",
                cron="0 21 * * *",
                mode=BatchMode.FULL,
                expected_minutes=10,
                description="Daily fixing reconcile of the top 5 per citizen: repairs what a lost event left",
            ),
        ),
    ),
    Sync(
        name="benefit_forecasts",
        title="Forecast Data",
        direction=W2C,
        source="forecast.benefit_forecasts",
        target="public.benefit_forecasts",
        key=("forecast_id",),
        columns=_same(
            "forecast_id",
            "citizen_id",
            "scheme_code",
            "forecast_amount",
            "forecast_period",
            "confidence",
            "generated_at",
            mask=M.CLEAR,
        ),
        pattern=Pattern.EVENT,
        trigger=Trigger.CALLBACK,
        event_mode=EventMode.MIRROR,
        topic=Topic(name="callbacks.benefit_forecasts", partitions=10, key_columns=("citizen_id",)),
        latency_target_s=2,
        volume_per_day=50_000,
        schedules=(
            Schedule(
                job="benefit_forecasts_daily",
                cron="10 21 * * *",
                mode=BatchMode.FULL,
                expected_minutes=10,
                description="Daily fixing reconcile: forecasts the callback path lost are upserted, never deleted",
            ),
        ),
    ),
    Sync(
        name="application_decisions",
        title="Decision Updates",
        direction=W2C,
        source="decision.applications",
        target="public.application_decisions",
        key=("application_id",),
        columns=_same(
            "application_id",
            "citizen_id",
            "scheme_code",
            "status",
            "decision",
            "decision_reason",
            "risk_score",
            "decided_at",
            "updated_at",
            mask=M.CLEAR,
        ),
        pattern=Pattern.EVENT,
        trigger=Trigger.CDC,
        event_mode=EventMode.MIRROR,
        topic=_w2c_topic("decision.applications", 5, "application_id"),
        latency_target_s=5,
        volume_per_day=10_000,
        schedules=(
            Schedule(
                job="application_decisions_daily",
                cron="20 21 * * *",
                mode=BatchMode.FULL,
                expected_minutes=10,
                description="Daily fixing reconcile: repairs decisions a lost event left stale",
            ),
        ),
    ),
    Sync(
        name="ml_alerts",
        title="ML Alerts",
        direction=W2C,
        source="public.ml_alerts",
        target="public.ml_alerts",
        key=("alert_id",),
        columns=_same(
            "alert_id",
            "citizen_id",
            "source_model",
            "alert_type",
            "severity",
            "message",
            "created_at",
            mask=M.CLEAR,
        ),
        pattern=Pattern.EVENT,
        trigger=Trigger.CALLBACK,
        event_mode=EventMode.MIRROR,
        topic=Topic(name="callbacks.ml_alerts", partitions=5, key_columns=("citizen_id",)),
        latency_target_s=5,
        volume_per_day=20_000,
        schedules=(
            Schedule(
                job="ml_alerts_daily",
                cron="30 21 * * *",
                mode=BatchMode.FULL,
                expected_minutes=10,
                description="Daily fixing reconcile: alerts the callback path lost are upserted, never deleted",
            ),
        ),
    ),
    # ── smart_citizen → smart_warehouse ──
    Sync(
        name="profile_updates",
        title="Profile Updates",
        direction=C2W,
        source="public.citizens",
        target="public.golden_records",
        key=("citizen_id",),
        columns=_same(
            "citizen_id",
            "jan_aadhaar",
            "aadhaar",
            "full_name",
            "date_of_birth",
            "gender",
            "district_id",
            "address",
            "mobile",
            "email",
            "verification_status",
        ),
        dropped=("updated_at",),
        pattern=Pattern.EVENT,
        trigger=Trigger.CDC,
        event_mode=EventMode.MIRROR,
        topic=_c2w_topic("public.citizens", 10, "citizen_id"),
        latency_target_s=5,
        volume_per_day=20_000,
        schedules=(
            Schedule(
                job="profile_updates_daily",
                cron="40 21 * * *",
                mode=BatchMode.FULL,
                expected_minutes=10,
                description="Daily fixing reconcile of portal profile changes (the golden record is never deleted)",
            ),
        ),
    ),
    Sync(
        name="application_submissions",
        title="Application Submissions",
        direction=C2W,
        source="public.service_applications",
        target="decision.application_events",
        key=("application_id", "source_lsn"),
        columns={
            **_same("application_id", "citizen_id", "scheme_code", "status"),
            "source_lsn": Col(expr=DerivedValue.SOURCE_LSN.value),
            "event_type": Col(expr=DerivedValue.EVENT_TYPE.value),
            "occurred_at": Col(expr=DerivedValue.COMMIT_TS.value),
        },
        dropped=("submitted_at", "updated_at"),
        pattern=Pattern.EVENT,
        trigger=Trigger.CDC,
        event_mode=EventMode.APPEND,
        topic=_c2w_topic("public.service_applications", 5, "application_id"),
        latency_target_s=5,
        volume_per_day=5_000,
        schedules=(
            Schedule(
                job="application_submissions_daily",
                cron="50 21 * * *",
                mode=BatchMode.FULL,
                expected_minutes=10,
                description="Daily fixing reconcile: missing application events are appended, never duplicated",
            ),
        ),
    ),
    Sync(
        name="document_metadata",
        title="Document Metadata",
        direction=C2W,
        source="public.documents",
        target="public.document_metadata",
        key=("document_id",),
        columns=_same(
            "document_id",
            "citizen_id",
            "application_id",
            "document_type",
            "file_name",
            "mime_type",
            "size_bytes",
            "verification_status",
            "uploaded_at",
        ),
        dropped=("updated_at",),
        pattern=Pattern.EVENT,
        trigger=Trigger.CDC,
        event_mode=EventMode.MIRROR,
        topic=_c2w_topic("public.documents", 5, "document_id"),
        latency_target_s=5,
        volume_per_day=15_000,
        schedules=(
            Schedule(
                job="document_metadata_daily",
                cron="0 22 * * *",
                mode=BatchMode.FULL,
                expected_minutes=10,
                description="Daily fixing reconcile: repairs document metadata a lost event left",
            ),
        ),
    ),
    Sync(
        name="user_behavior",
        title="User Behavior",
        direction=C2W,
        source="public.user_behavior_events",
        target="analytics.user_behavior",
        key=("citizen_id", "activity_date", "feature"),
        columns={
            "citizen_id": Col(source="citizen_id"),
            "feature": Col(source="feature"),
            "activity_date": Col(expr="CAST(occurred_at AT TIME ZONE 'UTC' AS DATE)"),
            "event_count": Col(expr="COUNT(*)"),
            "session_count": Col(expr="COUNT(DISTINCT session_id)"),
            "total_duration_ms": Col(expr="SUM(duration_ms)"),
            "last_seen_at": Col(expr="MAX(occurred_at)"),
        },
        pattern=Pattern.BATCH,
        volume_per_day=500_000,
        schedules=(
            Schedule(
                job="user_behavior_daily",
                cron="0 2 * * *",
                mode=BatchMode.AGGREGATE,
                expected_minutes=15,
                watermark_column="occurred_at",
                description="Aggregate the previous UTC day's raw events per citizen and feature",
            ),
        ),
    ),
    Sync(
        name="feedback",
        title="Feedback",
        direction=C2W,
        source="public.feedback",
        target="analytics.feedback_analytics",
        key=("feedback_id",),
        columns=_same("feedback_id", "citizen_id", "scheme_code", "channel", "rating", "comment", "submitted_at"),
        pattern=Pattern.BATCH,
        volume_per_day=1_000,
        schedules=(
            Schedule(
                job="feedback_daily",
                cron="30 2 * * *",
                mode=BatchMode.APPEND,
                expected_minutes=5,
                watermark_column="submitted_at",
                description="All new feedback since the last run",
            ),
        ),
    ),
)

_RECONCILIATION = Schedule(
    job="weekly_reconciliation",
    cron="0 3 * * 0",
    mode=BatchMode.FULL,
    expected_minutes=60,
    description="Disaster-recovery reconciliation: counts, integrity checks and a full diff of every pair",
)

_MAINTENANCE = MaintenanceWindow(
    description="Database maintenance, index rebuilds, CDC connector updates: batch jobs pause",
    weekday=6,
    nth_in_month=1,
    start_hour_utc=2,
    end_hour_utc=4,
)


def build_catalog(syncs: tuple[Sync | dict[str, Any], ...] = _SYNCS) -> Catalog:
    """Validate a catalog; raise ``CatalogError`` naming every sync and field at fault."""
    try:
        return Catalog(
            syncs=syncs,  # dicts are validated into Syncs
            reconciliation=_RECONCILIATION,
            maintenance=_MAINTENANCE,
            dead_letter_topics={
                W2C: Topic(name="smartsync.dlq.warehouse_to_citizen", partitions=1, key_columns=()),
                C2W: Topic(name="smartsync.dlq.citizen_to_warehouse", partitions=1, key_columns=()),
            },
            topic_prefixes={Database.WAREHOUSE: "warehouse", Database.CITIZEN: "citizen"},
        )
    except ValidationError as exc:
        reasons = "; ".join(_describe(err, syncs) for err in exc.errors(include_url=False))
        msg = f"invalid sync catalog: {reasons}"
        raise CatalogError(msg) from None


def _describe(err: Any, syncs: tuple[Sync | dict[str, Any], ...]) -> str:
    """One pydantic error as "sync 'name': field 'a.b': reason"."""
    reason = str(err["msg"]).removeprefix("Value error, ")
    loc = list(err["loc"])
    if len(loc) >= 2 and loc[0] == "syncs" and isinstance(loc[1], int) and loc[1] < len(syncs):
        raw = syncs[loc[1]]
        name = raw.name if isinstance(raw, Sync) else raw.get("name", f"#{loc[1]}")
        field = ".".join(str(part) for part in loc[2:])
        return f"sync {name!r}: field {field!r}: {reason}" if field else f"sync {name!r}: {reason}"
    return reason


@functools.cache
def load_catalog() -> Catalog:
    """The catalog of the seeds, validated once per process."""
    return build_catalog()
