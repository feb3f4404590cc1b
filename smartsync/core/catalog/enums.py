"""The catalog's vocabulary: directions, patterns, triggers, modes and masking rules."""

from __future__ import annotations

from enum import StrEnum

from smartsync.core.tables import Database


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
