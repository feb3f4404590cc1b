"""The Kafka message of an accepted callback: pure functions over the catalog and a payload.

The format is the one the warehouse → citizen dataflow decodes (agreed with it, see
docs/callbacks.md): the key is the compact JSON of the topic's key columns, e.g.
``{"citizen_id":123}``, so librdkafka's ``murmur2_random`` puts a citizen on the same
partition as Java clients (and Debezium) would; the value is a Debezium-shaped envelope
``{"op":"c","before":null,"after":{...},"source":{"connector":"callback","sync":...,"ts_us":...}}``
whose ``after`` holds the target's column names with JSON values: uuid as string, numeric
as a decimal string at the column's scale, timestamps as ISO-8601 in UTC.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from pydantic import BaseModel

from smartsync.core.catalog import Sync, Topic
from smartsync.core.errors import ConfigurationError
from smartsync.core.tables import SCHEMA

_NUMERIC = re.compile(r"^numeric\((\d+),\s*(\d+)\)$")
JsonScalar = str | int | float | bool | None


@dataclass(frozen=True)
class OutgoingMessage:
    """One callback as it goes to Kafka."""

    topic: str
    key: bytes
    value: bytes


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def accepted_datetime(accepted_us: int) -> datetime:
    # Integer arithmetic: a float of today's epoch microseconds loses the last digit.
    return _EPOCH + timedelta(microseconds=accepted_us)


def _timestamptz(value: Any) -> str:
    if not isinstance(value, datetime) or value.tzinfo is None:
        msg = f"a timestamptz needs an aware datetime, got {value!r}"
        raise ValueError(msg)
    return value.astimezone(UTC).isoformat()


def _date(value: Any) -> str:
    if not isinstance(value, date):
        msg = f"a date needs a date, got {value!r}"
        raise ValueError(msg)
    return value.isoformat()


_ENCODERS: dict[str, Callable[[Any], JsonScalar]] = {
    "smallint": int,
    "integer": int,
    "bigint": int,
    "text": str,
    "uuid": lambda value: str(UUID(str(value))),
    "timestamptz": _timestamptz,
    "date": _date,
}


def json_value(value: Any, sql_type: str) -> JsonScalar:
    """A Python value as the envelope carries it for a column of ``sql_type``."""
    if value is None:
        return None
    numeric = _NUMERIC.match(sql_type)
    if numeric:
        scale = int(numeric.group(2))
        # Fixed point at the column's scale, never an exponent: "18000.00", not "1.8E+4".
        return format(Decimal(value).quantize(Decimal(1).scaleb(-scale)), "f")
    encoder = _ENCODERS.get(sql_type)
    if encoder is None:
        msg = f"the callback envelope has no encoding for column type {sql_type!r}"
        raise ConfigurationError(msg, hint="add it to connectors/callbacks/encoding.py")
    return encoder(value)


def source_row(sync: Sync, payload: BaseModel, accepted_us: int) -> dict[str, Any]:
    """The payload as a source row: omitted ``DEFAULT now()`` timestamps become the acceptance time."""
    table = SCHEMA.table(sync.source_database, sync.source)
    row = payload.model_dump()
    for column in table.columns:
        if row.get(column.name) is None and column.default == "now()":
            row[column.name] = accepted_datetime(accepted_us)
    return row


def after_image(sync: Sync, row: dict[str, Any]) -> dict[str, JsonScalar]:
    """Target column → JSON value, mapped as the catalog says."""
    target = SCHEMA.table(sync.target_database, sync.target)
    after: dict[str, JsonScalar] = {}
    for tcol, col in sync.columns.items():
        if col.source is None:
            msg = f"sync {sync.name!r}: column {tcol!r} has no source column"
            raise ConfigurationError(msg, hint="a callback sync maps every target column from a payload field")
        after[tcol] = json_value(row[col.source], target.column(tcol).sql_type)
    return after


def topic_of(sync: Sync) -> Topic:
    if sync.topic is None:
        msg = f"sync {sync.name!r} has no topic"
        raise ConfigurationError(msg, hint="declare topic= for the sync in smartsync/core/catalog.py")
    return sync.topic


def encode_key(sync: Sync, after: dict[str, JsonScalar]) -> bytes:
    """Compact JSON of the topic's key columns, e.g. ``b'{"citizen_id":123}'``."""
    columns = topic_of(sync).key_columns
    return json.dumps({name: after[name] for name in columns}, separators=(",", ":")).encode()


def encode_value(sync: Sync, after: dict[str, JsonScalar], accepted_us: int) -> bytes:
    envelope = {
        "op": "c",
        "before": None,
        "after": after,
        "source": {"connector": "callback", "sync": sync.name, "ts_us": accepted_us},
    }
    return orjson.dumps(envelope)


def encode(sync: Sync, payload: BaseModel, accepted_us: int) -> OutgoingMessage:
    """The message for one accepted callback of ``sync``."""
    after = after_image(sync, source_row(sync, payload, accepted_us))
    return OutgoingMessage(topic_of(sync).name, encode_key(sync, after), encode_value(sync, after, accepted_us))
