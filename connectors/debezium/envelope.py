"""Debezium's change-event envelope: parsing, source position, commit time, value encodings.

A Kafka message of a Debezium topic (JsonConverter, with or without schemas) is parsed into an
``Envelope`` (op, before, after, source). ``fast_envelope_decoder`` builds a msgspec decoder that
reads only the fields a sync needs; ``parse_envelope`` is the careful path that names a fault.
The converters turn Debezium's JSON encoding of a column (our connector config) into a Python
value of the declared SQL type. What a sync makes of an envelope (mapping, masking, top N) is
the event path's logic: ``dataflows/decode.py``.

Nothing here touches Kafka, PostgreSQL or Bytewax.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import orjson

from smartsync.core.errors import SmartSyncError

TOAST_PLACEHOLDER = "__debezium_unavailable_value"
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class Origin:
    """Where a message came from, with its original bytes (for dead letters)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class DecodeError(SmartSyncError):
    """A message that cannot become a row change; its message is the dead letter's reason."""


# ── value conversion ─────────────────────────────────────────────────────────────────────


def value_shape(value: object) -> str:
    """A value's type and length, never the value: reasons are stored and shown, values may be personal data."""
    if value is None:
        return "null"
    kind = type(value).__name__
    if isinstance(value, str | bytes | list | dict):
        return f"{kind} of length {len(value)}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{kind} of {len(str(abs(value)))} digits"
    return kind


def type_error(column: str, expected: str, value: object) -> DecodeError:
    return DecodeError(f"type error: column {column!r}: expected {expected}, got {value_shape(value)}")


def integer_value(column: str, value: object) -> int:
    if type(value) is int:
        return value
    raise type_error(column, "an integer", value)


def _numeric(column: str, value: object) -> Decimal:
    if type(value) is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise type_error(column, "a decimal string", value) from None
        if number.is_finite():
            return number
    elif type(value) is int:
        return Decimal(value)
    raise type_error(column, "a decimal string", value)


def text_value(column: str, value: object) -> str:
    if type(value) is str:
        return value
    raise type_error(column, "a string", value)


def _date(column: str, value: object) -> date:
    if type(value) is int:
        try:
            return _EPOCH_DATE + timedelta(days=value)
        except OverflowError:
            raise type_error(column, "days since 1970-01-01", value) from None
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise type_error(column, "days since 1970-01-01", value)


def _timestamptz(column: str, value: object) -> datetime:
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise type_error(column, "an ISO-8601 timestamp with a time zone", value)


def _uuid(column: str, value: object) -> uuid.UUID:
    if type(value) is str:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise type_error(column, "a UUID string", value)


Converter = Callable[[str, object], Any]


def converter_for(sql_type: str) -> Converter:
    """The converter from Debezium's JSON encoding (our connector config) to a Python value."""
    base = sql_type.split("(", 1)[0].strip().lower()
    found = {
        "bigint": integer_value,
        "integer": integer_value,
        "smallint": integer_value,
        "numeric": _numeric,
        "text": text_value,
        "date": _date,
        "timestamptz": _timestamptz,
        "uuid": _uuid,
    }.get(base)
    if found is None:
        msg = f"no Debezium converter for SQL type {sql_type!r}"
        raise ValueError(msg)
    return found


def toast_error(column: str) -> DecodeError:
    return DecodeError(f"unavailable TOAST value in column {column!r} (the source table needs REPLICA IDENTITY FULL)")


def convert_value(column: str, value: object, convert: Converter) -> Any:
    if value is None:
        return None
    if value == TOAST_PLACEHOLDER:
        raise toast_error(column)
    return convert(column, value)


# ── envelope ───────────────────────────────────────────────────────────────────────────


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class Envelope:
    op: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    source: Mapping[str, Any]


_OPS = frozenset({"c", "u", "d", "r"})


def parse_envelope(value: bytes) -> Envelope:
    """The JSON envelope of a change event (JsonConverter without schemas)."""
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        msg = f"undecodable JSON: {exc}"
        raise DecodeError(msg) from None
    if not isinstance(doc, dict):
        msg = f"undecodable envelope: expected a JSON object, got {type(doc).__name__}"
        raise DecodeError(msg)
    if "payload" in doc and "op" not in doc and isinstance(doc["payload"], dict):
        doc = doc["payload"]  # a converter with schemas.enable=true wraps the envelope
    op = doc.get("op")
    if op is None:
        msg = "missing field 'op'"
        raise DecodeError(msg)
    if op not in _OPS:
        msg = f"unsupported op {op!r} (only c, u, d, r are synced)"
        raise DecodeError(msg)
    source = doc.get("source")
    if not isinstance(source, dict):
        msg = "missing field 'source'"
        raise DecodeError(msg)
    before, after = doc.get("before"), doc.get("after")
    if op == "d":
        if not isinstance(before, dict):
            msg = "missing field 'before' of a delete"
            raise DecodeError(msg)
    elif not isinstance(after, dict):
        msg = f"missing field 'after' of op {op!r}"
        raise DecodeError(msg)
    return Envelope(
        op, before if isinstance(before, dict) else None, after if isinstance(after, dict) else None, source
    )


class _FastSource(msgspec.Struct):
    """The fields of Debezium's ``source`` block the event path reads."""

    lsn: Any = None
    ts_us: Any = None
    ts_ms: Any = None


def fast_envelope_decoder(fields: Iterable[str], optional: Iterable[str] = ()) -> msgspec.json.Decoder[Any]:
    """A decoder of envelopes that materialises only ``op``, the source position and ``fields``.

    A Debezium message carries every column and a dozen source fields; parsing just the ones a
    sync reads is ~2x cheaper than a full JSON parse. Values stay as JSON gives them (``Any``):
    the sync's own checks still run on every value. ``fields`` are required in an image (a
    message without one is left to ``parse_envelope``, which names the fault); ``optional``
    ones default to None as ``dict.get`` would.
    """
    required = list(dict.fromkeys(fields))
    extra = [f for f in dict.fromkeys(optional) if f not in required]
    image = msgspec.defstruct("Image", [(f, Any) for f in required] + [(f, Any, None) for f in extra])
    envelope = msgspec.defstruct(
        "FastEnvelope",
        [("op", str), ("source", _FastSource), ("before", image | None, None), ("after", image | None, None)],
    )
    return msgspec.json.Decoder(envelope)


def fast_parse(decoder: msgspec.json.Decoder[Any], value: bytes) -> Envelope | None:
    """``parse_envelope`` for well-formed messages; None when the careful path must look at it."""
    try:
        doc = decoder.decode(value)
    # DecodeError (also ValidationError): not JSON, a field missing or of the wrong shape; msgspec raises
    # UnicodeDecodeError for invalid UTF-8 inside a string and RecursionError for deep nesting: the careful
    # path names each fault.
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError):
        return None
    op = doc.op
    if op not in _OPS:
        return None
    before, after = doc.before, doc.after
    if (before is None) if op == "d" else (after is None):
        return None
    source = doc.source
    return Envelope(
        op,
        None if before is None else msgspec.structs.asdict(before),
        None if after is None else msgspec.structs.asdict(after),
        {"lsn": source.lsn, "ts_us": source.ts_us, "ts_ms": source.ts_ms},
    )


def source_position(source: Mapping[str, Any], field: str) -> int:
    pos = source.get(field)
    if pos is None:
        msg = f"missing field 'source.{field}'"
        raise DecodeError(msg)
    if type(pos) is not int:
        msg = f"source.{field}"
        raise type_error(msg, "an integer", pos)
    return pos


def commit_time(source: Mapping[str, Any]) -> datetime | None:
    """The source commit time: ``source.ts_us`` (microseconds), else ``source.ts_ms``."""
    # timedelta(days, seconds, microseconds) positionally: keyword parsing is a third of the cost.
    ts_us = source.get("ts_us")
    if type(ts_us) is int:
        try:
            return _EPOCH + timedelta(0, 0, ts_us)
        except OverflowError:
            msg = "source.ts_us out of range (beyond the years 1-9999)"
            raise DecodeError(msg) from None
    ts_ms = source.get("ts_ms")
    if type(ts_ms) is int:
        try:
            return _EPOCH + timedelta(0, 0, ts_ms * 1000)
        except OverflowError:
            msg = "source.ts_ms out of range (beyond the years 1-9999)"
            raise DecodeError(msg) from None
    return None
