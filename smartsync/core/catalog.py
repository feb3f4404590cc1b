"""The sync catalog: every sync of the seeds, declared once and validated at load time.

Dataflows, batch jobs, the scheduler, the stack (publications, topics), metrics and reports
all read ``load_catalog()``. A table name, topic or partition count written anywhere else
is a bug. The catalog is checked against the table declarations in ``smartsync.core.tables``:
unknown tables or columns, keys that are not the target's primary key, partition counts
below one, a lossy mask on a key, a citizen-bound column without a masking classification,
and cycles of syncs that would echo a change back to where it came from are all refused
with a message naming the sync and the field.
"""

from __future__ import annotations

import functools
from enum import StrEnum
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartsync.core.errors import CatalogError
from smartsync.core.tables import SCHEMA, SYNC_COLUMNS, Database, Schema

_SYNC_COLUMN_NAMES = frozenset(c.name for c in SYNC_COLUMNS)


class Direction(StrEnum):
    WAREHOUSE_TO_CITIZEN = "warehouse_to_citizen"
    CITIZEN_TO_WAREHOUSE = "citizen_to_warehouse"

    @property
    def source_database(self) -> Database:
        return Database.WAREHOUSE if self is Direction.WAREHOUSE_TO_CITIZEN else Database.CITIZEN

    @property
    def target_database(self) -> Database:
        return Database.CITIZEN if self is Direction.WAREHOUSE_TO_CITIZEN else Database.WAREHOUSE


class Pattern(StrEnum):
    BATCH = "batch"
    EVENT = "event"
    HYBRID = "hybrid"  # event path primary, scheduled batch as the consistency backstop


class Trigger(StrEnum):
    CDC = "cdc"  # Debezium change events of the source table
    CALLBACK = "callback"  # the forecast / ML services post to the callback API


class EventMode(StrEnum):
    MIRROR = "mirror"  # the target row mirrors the source row: upsert, delete
    APPEND = "append"  # one target row per source change, keyed on the source position
    TOP_N = "top_n"  # keep each group's top N rows by a score


class BatchMode(StrEnum):
    FULL = "full"  # diff everything, apply upserts and deletes
    INCREMENTAL = "incremental"  # rows changed since the stored watermark (minus a lookback)
    APPEND = "append"  # new source rows since the watermark, never deletes
    AGGREGATE = "aggregate"  # a day's raw rows grouped into the target


class MaskRule(StrEnum):
    """How a value is masked on its way into smart_citizen (see ``masking/``)."""

    CLEAR = "clear"  # explicitly safe: scores, scheme codes, district IDs, aggregated levels
    CONFIDENTIAL = "confidential"  # income bands → "CONFIDENTIAL"
    AADHAAR = "aadhaar"  # full Aadhaar → "***MASKED***"
    JAN_AADHAAR = "jan_aadhaar"  # → "****-****-1234"
    MOBILE = "mobile"  # → "******5678"
    EMAIL = "email"  # → "u***@example.com"

    @property
    def lossy(self) -> bool:
        return self is not MaskRule.CLEAR


class DerivedValue(StrEnum):
    """Target values an event sync computes from the change itself, not from a column."""

    SOURCE_LSN = "source_lsn"
    COMMIT_TS = "commit_ts"
    EVENT_TYPE = "event_type"


def _frozen() -> ConfigDict:
    return ConfigDict(frozen=True, extra="forbid")


class Col(BaseModel):
    """Where one target column comes from and how it is masked."""

    model_config = _frozen()

    source: str | None = None  # a source column
    expr: str | None = None  # a DerivedValue (event syncs) or an SQL aggregate (aggregate syncs)
    mask: MaskRule | None = None  # required for every column that reaches smart_citizen

    @model_validator(mode="after")
    def _one_origin(self) -> Self:
        if (self.source is None) == (self.expr is None):
            msg = "give exactly one of source= or expr="
            raise ValueError(msg)
        return self


class Topic(BaseModel):
    model_config = _frozen()

    name: str
    partitions: int = Field(description="Kafka partitions: the unit of parallelism")
    # Columns that key (and so partition) the messages; a citizen's changes stay ordered.
    key_columns: tuple[str, ...]

    @field_validator("partitions")
    @classmethod
    def _at_least_one(cls, value: int) -> int:
        if value < 1:
            msg = f"partition count must be at least 1, got {value}"
            raise ValueError(msg)
        return value


class TopN(BaseModel):
    model_config = _frozen()

    group_by: tuple[str, ...]
    rank_by: str
    n: int = Field(ge=1)
    status_column: str
    included_statuses: tuple[str, ...]


class Schedule(BaseModel):
    """A batch run of a sync at a UTC cron schedule."""

    model_config = _frozen()

    job: str  # job name used by the CLI, the job-run table and metrics
    cron: str  # five-field cron, UTC
    mode: BatchMode
    expected_minutes: int  # the seeds' duration estimate; alerts compare against it
    watermark_column: str | None = None  # source column for incremental / append / aggregate
    lookback_hours: int = 0  # incremental window floor: rows updated in the last N hours
    description: str


class Sync(BaseModel):
    model_config = _frozen()

    name: str
    title: str
    direction: Direction
    source: str  # "schema.table" in the direction's source database
    target: str  # "schema.table" in the direction's target database
    key: tuple[str, ...]  # target key: the target's primary key
    columns: dict[str, Col]  # target column → origin
    # Source columns deliberately not sent. Together with the mapped columns they must
    # cover the source table, so a column added later is refused, never passed on.
    dropped: tuple[str, ...] = ()
    pattern: Pattern
    trigger: Trigger | None = None
    event_mode: EventMode | None = None
    topic: Topic | None = None
    latency_target_s: float | None = None
    volume_per_day: int
    top_n: TopN | None = None
    # Rows of the source the sync carries; the rest are outside it (e.g. withdrawn schemes).
    source_filter: str | None = None
    schedules: tuple[Schedule, ...] = ()

    @property
    def source_database(self) -> Database:
        return self.direction.source_database

    @property
    def target_database(self) -> Database:
        return self.direction.target_database

    @property
    def citizen_bound(self) -> bool:
        return self.target_database is Database.CITIZEN

    @property
    def has_event_path(self) -> bool:
        return self.pattern in (Pattern.EVENT, Pattern.HYBRID)

    @property
    def has_batch_path(self) -> bool:
        return self.pattern in (Pattern.BATCH, Pattern.HYBRID)

    def masks(self) -> dict[str, MaskRule]:
        """Target column → mask rule (``CLEAR`` where nothing is masked)."""
        return {name: col.mask or MaskRule.CLEAR for name, col in self.columns.items()}


class MaintenanceWindow(BaseModel):
    model_config = _frozen()

    description: str
    weekday: int  # 0 = Monday … 6 = Sunday
    nth_in_month: int  # 1 = first such weekday of the month
    start_hour_utc: int
    end_hour_utc: int


class Catalog(BaseModel):
    model_config = _frozen()

    syncs: tuple[Sync, ...]
    reconciliation: Schedule  # the weekly disaster-recovery reconciliation
    maintenance: MaintenanceWindow
    dead_letter_topics: dict[Direction, Topic]
    topic_prefixes: dict[Database, str]

    def sync(self, name: str) -> Sync:
        for sync in self.syncs:
            if sync.name == name:
                return sync
        known = ", ".join(s.name for s in self.syncs)
        msg = f"unknown sync {name!r}; the catalog has: {known}"
        raise CatalogError(msg)

    def by_direction(self, direction: Direction) -> tuple[Sync, ...]:
        return tuple(s for s in self.syncs if s.direction is direction)

    def event_syncs(self, direction: Direction | None = None) -> tuple[Sync, ...]:
        return tuple(s for s in self.syncs if s.has_event_path and (direction is None or s.direction is direction))

    def topics(self) -> tuple[Topic, ...]:
        """Every topic the system reads or writes, with its partition count."""
        found = [s.topic for s in self.syncs if s.topic is not None]
        return (*found, *self.dead_letter_topics.values())

    def captured_tables(self, database: Database) -> tuple[str, ...]:
        """Source tables Debezium captures in one database (the publication's tables)."""
        return tuple(s.source for s in self.syncs if s.trigger is Trigger.CDC and s.source_database == database)

    def jobs(self) -> tuple[tuple[Sync | None, Schedule], ...]:
        """Every scheduled batch job: (its sync, its schedule); the weekly reconciliation has no sync."""
        return (*((s, sch) for s in self.syncs for sch in s.schedules), (None, self.reconciliation))

    @model_validator(mode="after")
    def _validate(self) -> Self:
        problems = validate_catalog(self, SCHEMA)
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _check_sync(sync: Sync, schema: Schema) -> list[str]:  # noqa: C901, PLR0912 — one flat list of rules
    problems: list[str] = []
    where = f"sync {sync.name!r}"
    if not schema.has(sync.source_database, sync.source):
        return [f"{where}: field 'source': unknown table {sync.source!r} in {sync.source_database}"]
    if not schema.has(sync.target_database, sync.target):
        return [f"{where}: field 'target': unknown table {sync.target!r} in {sync.target_database}"]
    source = schema.table(sync.source_database, sync.source)
    target = schema.table(sync.target_database, sync.target)

    if sync.key != target.primary_key:
        problems.append(
            f"{where}: field 'key': {list(sync.key)} is not the primary key {list(target.primary_key)} of {sync.target}"
        )
    for tcol, col in sync.columns.items():
        if tcol not in target.column_names:
            problems.append(f"{where}: field 'columns': unknown column {tcol!r} in target {sync.target}")
        if col.source is not None and col.source not in source.column_names:
            problems.append(f"{where}: field 'columns.{tcol}': unknown source column {col.source!r} in {sync.source}")
        if (
            col.expr is not None
            and sync.event_mode is EventMode.APPEND
            and col.expr not in DerivedValue.__members__.values()
        ):
            problems.append(f"{where}: field 'columns.{tcol}': unknown derived value {col.expr!r}")
        if sync.citizen_bound and col.mask is None:
            problems.append(
                f"{where}: field 'columns.{tcol}': no masking classification for a column that reaches "
                f"smart_citizen (give mask=MaskRule.CLEAR if it is safe)"
            )
        if tcol in sync.key and col.mask is not None and col.mask.lossy:
            problems.append(f"{where}: field 'columns.{tcol}': key column cannot use the lossy mask {col.mask.value!r}")
    for name in sync.key:
        if name not in sync.columns:
            problems.append(f"{where}: field 'key': key column {name!r} is not mapped in 'columns'")
    for name in sync.dropped:
        if name not in source.column_names:
            problems.append(f"{where}: field 'dropped': unknown source column {name!r} in {sync.source}")
    if sync.citizen_bound:
        covered = {c.source for c in sync.columns.values() if c.source} | set(sync.dropped)
        for name in source.column_names:
            if name not in covered and name not in _SYNC_COLUMN_NAMES:
                problems.append(
                    f"{where}: field 'columns': source column {sync.source}.{name} is neither mapped nor dropped"
                )
    if sync.has_event_path:
        if sync.trigger is None or sync.event_mode is None or sync.topic is None or sync.latency_target_s is None:
            problems.append(
                f"{where}: fields 'trigger', 'event_mode', 'topic', 'latency_target_s' are required for {sync.pattern} syncs"
            )
        if sync.topic is not None:
            keyed = source.column_names if sync.trigger is Trigger.CDC else tuple(sync.columns)
            for name in sync.topic.key_columns:
                if name not in keyed:
                    problems.append(f"{where}: field 'topic.key_columns': unknown column {name!r}")
    elif sync.topic is not None or sync.trigger is not None:
        problems.append(f"{where}: field 'topic': a batch sync has no topic or trigger")
    if sync.has_batch_path and not sync.schedules:
        problems.append(f"{where}: field 'schedules': a {sync.pattern} sync needs at least one schedule")
    if sync.pattern is Pattern.EVENT and sync.schedules:
        problems.append(f"{where}: field 'schedules': an event sync has no schedule (make it hybrid)")
    for sch in sync.schedules:
        if sch.mode is not BatchMode.FULL and sch.watermark_column not in source.column_names:
            problems.append(
                f"{where}: field 'schedules.{sch.job}.watermark_column': "
                f"{sch.watermark_column!r} is not a column of {sync.source}"
            )
    if sync.event_mode is EventMode.TOP_N:
        if sync.top_n is None:
            problems.append(f"{where}: field 'top_n' is required for event_mode top_n")
        else:
            for name in (*sync.top_n.group_by, sync.top_n.rank_by, sync.top_n.status_column):
                if name not in source.column_names:
                    problems.append(f"{where}: field 'top_n': unknown source column {name!r}")
    return problems


def _find_cycle(syncs: tuple[Sync, ...]) -> list[str] | None:
    """A path of syncs that leads a change back to the table it came from, if any."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for s in syncs:
        edges.setdefault(f"{s.source_database}.{s.source}", []).append((f"{s.target_database}.{s.target}", s.name))

    def walk(node: str, path: list[str], seen: set[str]) -> list[str] | None:
        for nxt, name in edges.get(node, []):
            if nxt == path[0]:
                return [*path[1:], name]
            if nxt not in seen:
                seen.add(nxt)
                found = walk(nxt, [*path, name], seen)
                if found:
                    return found
        return None

    for start in edges:
        found = walk(start, [start], {start})
        if found:
            return found
    return None


def validate_catalog(catalog: Catalog, schema: Schema) -> list[str]:
    """Every problem of a catalog, each naming the sync and the field."""
    problems: list[str] = []
    names = [s.name for s in catalog.syncs]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"sync {dup!r}: field 'name': declared more than once")
    targets: dict[tuple[Database, str], str] = {}
    for sync in catalog.syncs:
        problems.extend(_check_sync(sync, schema))
        other = targets.setdefault((sync.target_database, sync.target), sync.name)
        if other != sync.name:
            problems.append(f"sync {sync.name!r}: field 'target': {sync.target} is already written by sync {other!r}")
    topic_names = [t.name for t in catalog.topics()]
    for dup in sorted({n for n in topic_names if topic_names.count(n) > 1}):
        problems.append(f"topic {dup!r}: used by more than one sync")
    jobs = [sch.job for _, sch in catalog.jobs()]
    for dup in sorted({j for j in jobs if jobs.count(j) > 1}):
        problems.append(f"job {dup!r}: field 'schedules.job': declared more than once")
    cycle = _find_cycle(catalog.syncs)
    if cycle:
        problems.append(f"syncs {' → '.join(cycle)}: form a cycle that would echo a change back to its source")
    return problems


# ── The catalog of the seeds ────────────────────────────────────────────────────────────

M = MaskRule


def _same(*names: str, mask: MaskRule | None = None) -> dict[str, Col]:
    return {n: Col(source=n, mask=mask) for n in names}


def _w2c_topic(source: str, partitions: int, *key: str) -> Topic:
    return Topic(name=f"warehouse.{source}", partitions=partitions, key_columns=key)


def _c2w_topic(source: str, partitions: int, *key: str) -> Topic:
    return Topic(name=f"citizen.{source}", partitions=partitions, key_columns=key)


W2C = Direction.WAREHOUSE_TO_CITIZEN
C2W = Direction.CITIZEN_TO_WAREHOUSE

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
