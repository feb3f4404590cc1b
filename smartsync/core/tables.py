"""Every table of both databases, declared once as data.

The DDL (``smartsync db migrate``), the catalog's validation, the synthetic data generator
and the reconciler's schema diff all read these declarations, so a column is added in one
place. Target tables of a sync carry ``_source_lsn``/``_source_ts``: the source position and
commit time of the change that last wrote the row, which makes every sink order-safe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Database(StrEnum):
    WAREHOUSE = "smart_warehouse"
    CITIZEN = "smart_citizen"


@dataclass(frozen=True)
class Column:
    name: str
    sql_type: str
    nullable: bool = True
    default: str | None = None


@dataclass(frozen=True)
class Table:
    database: Database
    qualified_name: str  # "schema.table"
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...]
    indexes: tuple[tuple[str, ...], ...] = ()
    # Debezium captures this table: full before-images for updates and deletes.
    captured: bool = False
    # Maintained by a trigger so application writes keep incremental batches right.
    touch_updated_at: bool = False
    comment: str = ""

    @property
    def schema(self) -> str:
        return self.qualified_name.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.qualified_name.split(".", 1)[1]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        msg = f"table {self.database}.{self.qualified_name} has no column {name!r}"
        raise KeyError(msg)


# Columns every sync target carries: where the row's current version came from.
SYNC_COLUMNS: tuple[Column, ...] = (
    Column("_source_lsn", "bigint"),
    Column("_source_ts", "timestamptz"),
    Column("_synced_at", "timestamptz", nullable=False, default="now()"),
)


def _c(name: str, sql_type: str, *, null: bool = True, default: str | None = None) -> Column:
    return Column(name, sql_type, nullable=null, default=default)


_NOW = "now()"
_UPDATED_AT = _c("updated_at", "timestamptz", null=False, default=_NOW)

W = Database.WAREHOUSE
C = Database.CITIZEN

_IDENTITY = (
    _c("jan_aadhaar", "text"),
    _c("aadhaar", "text"),
    _c("full_name", "text", null=False),
    _c("date_of_birth", "date"),
    _c("gender", "text"),
    _c("district_id", "smallint", null=False),
    _c("address", "text"),
    _c("mobile", "text"),
    _c("email", "text"),
)

TABLES: tuple[Table, ...] = (
    # ── smart_warehouse ──────────────────────────────────────────────────────────────
    Table(
        W,
        "public.golden_records",
        (
            _c("citizen_id", "bigint", null=False),
            *_IDENTITY,
            _c("income_band", "text"),
            _c("vulnerability_level", "text"),
            _c("verification_status", "text", null=False, default="'pending'"),
            _UPDATED_AT,
            *SYNC_COLUMNS,
        ),
        ("citizen_id",),
        indexes=(("updated_at",),),
        captured=True,
        touch_updated_at=True,
        comment="One golden record per citizen; profile updates from the portal flow in here.",
    ),
    Table(
        W,
        "public.profile_360",
        (
            _c("citizen_id", "bigint", null=False),
            _c("full_name", "text", null=False),
            _c("district_id", "smallint", null=False),
            _c("jan_aadhaar", "text"),
            _c("mobile", "text"),
            _c("email", "text"),
            _c("income_band", "text"),
            _c("vulnerability_level", "text"),
            _c("eligible_scheme_count", "integer", null=False, default="0"),
            _c("active_application_count", "integer", null=False, default="0"),
            _c("last_benefit_date", "date"),
            _c("risk_score", "numeric(5,4)"),
            _UPDATED_AT,
        ),
        ("citizen_id",),
        indexes=(("updated_at",),),
        captured=True,
        touch_updated_at=True,
    ),
    Table(
        W,
        "eligibility.scheme_master",
        (
            _c("scheme_code", "text", null=False),
            _c("scheme_name", "text", null=False),
            _c("department", "text", null=False),
            _c("category", "text", null=False),
            _c("description", "text"),
            _c("min_age", "smallint"),
            _c("max_age", "smallint"),
            _c("benefit_amount", "numeric(12,2)"),
            _c("status", "text", null=False, default="'active'"),
            _UPDATED_AT,
        ),
        ("scheme_code",),
        touch_updated_at=True,
    ),
    Table(
        W,
        "eligibility.eligibility_snapshots",
        (
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("eligibility_score", "numeric(5,4)", null=False),
            _c("status", "text", null=False),
            _c("evaluated_at", "timestamptz", null=False, default=_NOW),
            _UPDATED_AT,
        ),
        ("citizen_id", "scheme_code"),
        indexes=(("updated_at",),),
        captured=True,
        touch_updated_at=True,
        comment="The current evaluation of each citizen for each scheme.",
    ),
    Table(
        W,
        "forecast.benefit_forecasts",
        (
            _c("forecast_id", "uuid", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("forecast_amount", "numeric(12,2)", null=False),
            _c("forecast_period", "text", null=False),
            _c("confidence", "numeric(4,3)", null=False),
            _c("generated_at", "timestamptz", null=False, default=_NOW),
        ),
        ("forecast_id",),
        indexes=(("citizen_id",),),
        comment="Written by the forecast service, which also posts each forecast to the callback API.",
    ),
    Table(
        W,
        "decision.applications",
        (
            _c("application_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("status", "text", null=False),
            _c("decision", "text"),
            _c("decision_reason", "text"),
            _c("risk_score", "numeric(5,4)"),
            _c("decided_at", "timestamptz"),
            _UPDATED_AT,
        ),
        ("application_id",),
        indexes=(("citizen_id",), ("updated_at",)),
        captured=True,
        touch_updated_at=True,
    ),
    Table(
        W,
        "decision.application_events",
        (
            _c("application_id", "bigint", null=False),
            _c("source_lsn", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("event_type", "text", null=False),
            _c("status", "text", null=False),
            _c("occurred_at", "timestamptz", null=False),
            *SYNC_COLUMNS,
        ),
        ("application_id", "source_lsn"),
        comment="One row per submission, status change or withdrawal; keyed on the source position.",
    ),
    Table(
        W,
        "public.ml_alerts",
        (
            _c("alert_id", "uuid", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("source_model", "text", null=False),
            _c("alert_type", "text", null=False),
            _c("severity", "text", null=False),
            _c("message", "text", null=False),
            _c("created_at", "timestamptz", null=False, default=_NOW),
        ),
        ("alert_id",),
        indexes=(("citizen_id",),),
    ),
    Table(
        W,
        "public.document_metadata",
        (
            _c("document_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("application_id", "bigint"),
            _c("document_type", "text", null=False),
            _c("file_name", "text", null=False),
            _c("mime_type", "text", null=False),
            _c("size_bytes", "bigint", null=False),
            _c("verification_status", "text", null=False),
            _c("uploaded_at", "timestamptz", null=False),
            *SYNC_COLUMNS,
        ),
        ("document_id",),
        indexes=(("citizen_id",),),
    ),
    Table(
        W,
        "analytics.user_behavior",
        (
            _c("citizen_id", "bigint", null=False),
            _c("activity_date", "date", null=False),
            _c("feature", "text", null=False),
            _c("event_count", "integer", null=False),
            _c("session_count", "integer", null=False),
            _c("total_duration_ms", "bigint", null=False),
            _c("last_seen_at", "timestamptz", null=False),
            *SYNC_COLUMNS,
        ),
        ("citizen_id", "activity_date", "feature"),
        comment="Daily per-citizen, per-feature aggregates of the portal's raw behaviour events.",
    ),
    Table(
        W,
        "analytics.feedback_analytics",
        (
            _c("feedback_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text"),
            _c("channel", "text", null=False),
            _c("rating", "smallint", null=False),
            _c("comment", "text"),
            _c("submitted_at", "timestamptz", null=False),
            _c("sentiment", "text"),
            *SYNC_COLUMNS,
        ),
        ("feedback_id",),
    ),
    # ── smart_citizen ────────────────────────────────────────────────────────────────
    Table(
        C,
        "public.schemes",
        (
            _c("scheme_code", "text", null=False),
            _c("scheme_name", "text", null=False),
            _c("department", "text", null=False),
            _c("category", "text", null=False),
            _c("description", "text"),
            _c("min_age", "smallint"),
            _c("max_age", "smallint"),
            _c("benefit_amount", "numeric(12,2)"),
            *SYNC_COLUMNS,
        ),
        ("scheme_code",),
    ),
    Table(
        C,
        "public.profile_summary",
        (
            _c("citizen_id", "bigint", null=False),
            _c("full_name", "text", null=False),
            _c("district_id", "smallint", null=False),
            _c("jan_aadhaar", "text"),
            _c("mobile", "text"),
            _c("email", "text"),
            _c("income_band", "text"),
            _c("vulnerability_level", "text"),
            _c("eligible_scheme_count", "integer", null=False, default="0"),
            _c("active_application_count", "integer", null=False, default="0"),
            _c("last_benefit_date", "date"),
            _c("updated_at", "timestamptz"),
            *SYNC_COLUMNS,
        ),
        ("citizen_id",),
    ),
    Table(
        C,
        "public.profile_data",
        (
            _c("citizen_id", "bigint", null=False),
            *_IDENTITY,
            _c("income_band", "text"),
            _c("vulnerability_level", "text"),
            _c("verification_status", "text"),
            _c("updated_at", "timestamptz"),
            *SYNC_COLUMNS,
        ),
        ("citizen_id",),
    ),
    Table(
        C,
        "public.eligibility_hints",
        (
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("eligibility_score", "numeric(5,4)", null=False),
            _c("status", "text", null=False),
            _c("evaluated_at", "timestamptz", null=False),
            *SYNC_COLUMNS,
        ),
        ("citizen_id", "scheme_code"),
        comment="Each citizen's top five eligible schemes by score.",
    ),
    Table(
        C,
        "public.benefit_forecasts",
        (
            _c("forecast_id", "uuid", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("forecast_amount", "numeric(12,2)", null=False),
            _c("forecast_period", "text", null=False),
            _c("confidence", "numeric(4,3)", null=False),
            _c("generated_at", "timestamptz", null=False),
            *SYNC_COLUMNS,
        ),
        ("forecast_id",),
        indexes=(("citizen_id",),),
    ),
    Table(
        C,
        "public.application_decisions",
        (
            _c("application_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("status", "text", null=False),
            _c("decision", "text"),
            _c("decision_reason", "text"),
            _c("risk_score", "numeric(5,4)"),
            _c("decided_at", "timestamptz"),
            _c("updated_at", "timestamptz"),
            *SYNC_COLUMNS,
        ),
        ("application_id",),
        indexes=(("citizen_id",),),
    ),
    Table(
        C,
        "public.ml_alerts",
        (
            _c("alert_id", "uuid", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("source_model", "text", null=False),
            _c("alert_type", "text", null=False),
            _c("severity", "text", null=False),
            _c("message", "text", null=False),
            _c("created_at", "timestamptz", null=False),
            *SYNC_COLUMNS,
        ),
        ("alert_id",),
        indexes=(("citizen_id",),),
    ),
    Table(
        C,
        "public.citizens",
        (
            _c("citizen_id", "bigint", null=False),
            *_IDENTITY,
            _c("verification_status", "text", null=False, default="'pending'"),
            _UPDATED_AT,
        ),
        ("citizen_id",),
        indexes=(("updated_at",),),
        captured=True,
        touch_updated_at=True,
        comment="Citizens' own profiles as they keep them in the portal.",
    ),
    Table(
        C,
        "public.service_applications",
        (
            _c("application_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text", null=False),
            _c("status", "text", null=False),
            _c("submitted_at", "timestamptz", null=False, default=_NOW),
            _UPDATED_AT,
        ),
        ("application_id",),
        indexes=(("citizen_id",),),
        captured=True,
        touch_updated_at=True,
    ),
    Table(
        C,
        "public.documents",
        (
            _c("document_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("application_id", "bigint"),
            _c("document_type", "text", null=False),
            _c("file_name", "text", null=False),
            _c("mime_type", "text", null=False),
            _c("size_bytes", "bigint", null=False),
            _c("verification_status", "text", null=False, default="'pending'"),
            _c("uploaded_at", "timestamptz", null=False, default=_NOW),
            _UPDATED_AT,
        ),
        ("document_id",),
        indexes=(("citizen_id",),),
        captured=True,
        touch_updated_at=True,
    ),
    Table(
        C,
        "public.feedback",
        (
            _c("feedback_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("scheme_code", "text"),
            _c("channel", "text", null=False),
            _c("rating", "smallint", null=False),
            _c("comment", "text"),
            _c("submitted_at", "timestamptz", null=False, default=_NOW),
        ),
        ("feedback_id",),
        indexes=(("submitted_at",),),
    ),
    Table(
        C,
        "public.user_behavior_events",
        (
            _c("event_id", "bigint", null=False),
            _c("citizen_id", "bigint", null=False),
            _c("session_id", "uuid", null=False),
            _c("feature", "text", null=False),
            _c("action", "text", null=False),
            _c("duration_ms", "integer", null=False),
            _c("occurred_at", "timestamptz", null=False),
        ),
        ("event_id",),
        indexes=(("occurred_at",),),
        comment="Raw clicks and page views; aggregated daily into analytics.user_behavior.",
    ),
)


@dataclass(frozen=True)
class Schema:
    """All tables, looked up by database and qualified name."""

    tables: tuple[Table, ...] = TABLES
    _index: dict[tuple[Database, str], Table] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", {(t.database, t.qualified_name): t for t in self.tables})

    def table(self, database: Database, qualified_name: str) -> Table:
        found = self._index.get((database, qualified_name))
        if found is None:
            msg = f"unknown table {qualified_name!r} in {database}"
            raise KeyError(msg)
        return found

    def has(self, database: Database, qualified_name: str) -> bool:
        return (database, qualified_name) in self._index

    def in_database(self, database: Database) -> tuple[Table, ...]:
        return tuple(t for t in self.tables if t.database == database)


SCHEMA = Schema()
