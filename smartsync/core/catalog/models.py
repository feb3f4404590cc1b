"""The catalog's models: a sync, its columns, topic, schedules, and the catalog that holds them all.

Every model is frozen and refuses unknown fields; ``Catalog`` validates itself against the
table declarations when it is built (see ``validation``).
"""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from smartsync.core.catalog.enums import BatchMode, Direction, EventMode, MaskRule, Pattern, Trigger
from smartsync.core.catalog.validation import validate_catalog
from smartsync.core.errors import CatalogError
from smartsync.core.tables import SCHEMA, Database


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
