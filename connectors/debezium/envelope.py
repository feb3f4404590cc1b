"""Debezium envelopes (and callback messages) into target row changes: pure functions.

A Kafka message of a sync's topic is decoded once: the JSON envelope, the source position
(``source.lsn``; ``source.ts_us`` for callbacks) and commit time, every mapped column
converted from Debezium's encoding to a Python value of the declared column type, mapped to
target column names and masked by the sync's policy. The result is one of:

- ``TargetChange``: a ``RowChange`` for the sync's target table (mirror and append syncs);
- ``Evaluation``: an input of a top-N sync's per-group state (see ``top_n_step``);
- ``DeadLetter``: the reason and the original message, for the dead-letter topic;
- nothing: a tombstone (null value), or a change the sync does not carry.

Nothing here touches Kafka, PostgreSQL or Bytewax.
"""

from __future__ import annotations

import operator
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec
import orjson

from connectors.postgres.apply import RowChange
from masking import row_masker
from smartsync.core.catalog import Catalog, DerivedValue, Direction, EventMode, Sync, TopN, Trigger
from smartsync.core.errors import SmartSyncError
from smartsync.core.tables import SCHEMA, Table

TOAST_PLACEHOLDER = "__debezium_unavailable_value"
_EPOCH_DATE = date(1970, 1, 1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The application-event vocabulary of append syncs (decision.application_events.event_type).
EVENT_SUBMITTED = "submitted"
EVENT_STATUS_CHANGED = "status_changed"
EVENT_WITHDRAWN = "withdrawn"
STATUS_WITHDRAWN = "withdrawn"


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class Origin:
    """Where a message came from, with its original bytes (for dead letters)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class TargetChange:
    sync: str
    change: RowChange
    origin: Origin


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class Evaluation:
    """One scored item of a top-N group (e.g. one scheme of one citizen); ``row`` None = deleted."""

    sync: str
    group: str  # the stateful key: the group-by values
    key: tuple[Any, ...]  # the target key of the item
    rank: Decimal | None
    status: str | None
    row: dict[str, Any] | None  # the target row, masked
    position: int
    source_ts: datetime | None
    origin: Origin


@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    origin: Origin
    sync: str | None = None


Decoded = TargetChange | Evaluation | DeadLetter


class DecodeError(SmartSyncError):
    """A message that cannot become a row change; its message is the dead letter's reason."""


# ── value conversion ─────────────────────────────────────────────────────────────────────


def _type_error(column: str, expected: str, value: object) -> DecodeError:
    shown = repr(value)
    if len(shown) > 60:
        shown = shown[:57] + "..."
    return DecodeError(f"type error: column {column!r}: expected {expected}, got {shown}")


def _integer(column: str, value: object) -> int:
    if type(value) is int:
        return value
    raise _type_error(column, "an integer", value)


def _numeric(column: str, value: object) -> Decimal:
    if type(value) is str:
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise _type_error(column, "a decimal string", value) from None
        if number.is_finite():
            return number
    elif type(value) is int:
        return Decimal(value)
    raise _type_error(column, "a decimal string", value)


def _text(column: str, value: object) -> str:
    if type(value) is str:
        return value
    raise _type_error(column, "a string", value)


def _date(column: str, value: object) -> date:
    if type(value) is int:
        try:
            return _EPOCH_DATE + timedelta(days=value)
        except OverflowError:
            raise _type_error(column, "days since 1970-01-01", value) from None
    if type(value) is str:
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise _type_error(column, "days since 1970-01-01", value)


def _timestamptz(column: str, value: object) -> datetime:
    if type(value) is str:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise _type_error(column, "an ISO-8601 timestamp with a time zone", value)


def _uuid(column: str, value: object) -> uuid.UUID:
    if type(value) is str:
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise _type_error(column, "a UUID string", value)


Converter = Callable[[str, object], Any]


def converter_for(sql_type: str) -> Converter:
    """The converter from Debezium's JSON encoding (our connector config) to a Python value."""
    base = sql_type.split("(", 1)[0].strip().lower()
    found = {
        "bigint": _integer,
        "integer": _integer,
        "smallint": _integer,
        "numeric": _numeric,
        "text": _text,
        "date": _date,
        "timestamptz": _timestamptz,
        "uuid": _uuid,
    }.get(base)
    if found is None:
        msg = f"no Debezium converter for SQL type {sql_type!r}"
        raise ValueError(msg)
    return found


def _toast_error(column: str) -> DecodeError:
    return DecodeError(f"unavailable TOAST value in column {column!r} (the source table needs REPLICA IDENTITY FULL)")


def convert_value(column: str, value: object, convert: Converter) -> Any:
    if value is None:
        return None
    if value == TOAST_PLACEHOLDER:
        raise _toast_error(column)
    return convert(column, value)


# How ``SyncDecoder`` checks a column: text and integers inline (most columns), the rest by converter.
_TEXT, _INT, _OTHER = 0, 1, 2


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
    return Envelope(op, before if isinstance(before, dict) else None, after if isinstance(after, dict) else None, source)


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
        "FastEnvelope", [("op", str), ("source", _FastSource), ("before", image | None, None), ("after", image | None, None)]
    )
    return msgspec.json.Decoder(envelope)


def fast_parse(decoder: msgspec.json.Decoder[Any], value: bytes) -> Envelope | None:
    """``parse_envelope`` for well-formed messages; None when the careful path must look at it."""
    try:
        doc = decoder.decode(value)
    except msgspec.DecodeError:  # also a ValidationError: not JSON, a field missing or of the wrong shape
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
        raise _type_error(msg, "an integer", pos)
    return pos


def commit_time(source: Mapping[str, Any]) -> datetime | None:
    """The source commit time: ``source.ts_us`` (microseconds), else ``source.ts_ms``."""
    # timedelta(days, seconds, microseconds) positionally: keyword parsing is a third of the cost.
    ts_us = source.get("ts_us")
    if type(ts_us) is int:
        return _EPOCH + timedelta(0, 0, ts_us)
    ts_ms = source.get("ts_ms")
    if type(ts_ms) is int:
        return _EPOCH + timedelta(0, 0, ts_ms * 1000)
    return None


# ── per-sync decoders ─────────────────────────────────────────────────────────────────


def event_type(op: str, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str | None:
    """An application event of a change: submitted, withdrawn, status_changed; None when there is none."""
    if op in ("c", "r"):
        return EVENT_SUBMITTED
    if op != "u" or after is None:
        return None  # a deleted application leaves its history alone
    old = before.get("status") if before is not None else None
    new = after.get("status")
    if before is not None and old == new:
        return None  # the status did not change: not an application event
    return EVENT_WITHDRAWN if new == STATUS_WITHDRAWN else EVENT_STATUS_CHANGED


class SyncDecoder:
    """A sync's compiled decoding: column converters, mapping, masking and event-mode semantics."""

    def __init__(self, sync: Sync, *, fast: bool = True) -> None:
        if not sync.has_event_path or sync.topic is None or sync.event_mode is None:
            msg = f"sync {sync.name!r} has no event path"
            raise ValueError(msg)
        self.sync = sync
        self.target: Table = SCHEMA.table(sync.target_database, sync.target)
        self.callback = sync.trigger is Trigger.CALLBACK
        # Callback messages carry target column names; Debezium events the source's.
        types_of: Table = self.target if self.callback else SCHEMA.table(sync.source_database, sync.source)
        self._mapped: list[tuple[str, str, int, Converter]] = []  # (target column, message field, kind, converter)
        self._derived: list[tuple[str, DerivedValue]] = []
        for tcol, col in sync.columns.items():
            if col.source is not None:
                field = tcol if self.callback else col.source
                convert = converter_for(types_of.column(field).sql_type)
                kind = _TEXT if convert is _text else _INT if convert is _integer else _OTHER
                self._mapped.append((tcol, field, kind, convert))
            else:
                self._derived.append((tcol, DerivedValue(str(col.expr))))
        self._key = self.target.primary_key
        self._key_getter = operator.itemgetter(*self._key)  # one value for a single key, else a tuple
        self._mask = row_masker(sync) if sync.citizen_bound else None
        self._position_field = "ts_us" if self.callback else "lsn"
        self._top_n: TopN | None = sync.top_n if sync.event_mode is EventMode.TOP_N else None
        # Debezium events take the fast parse; callbacks (few, and checked for their sync) the careful one.
        self._fast = None if self.callback or not fast else fast_envelope_decoder(
            [field for _, field, _, _ in self._mapped],
            optional=["status"] if sync.event_mode is EventMode.APPEND else (),  # read by event_type()
        )

    def _parse(self, value: bytes) -> Envelope:
        if self._fast is not None:
            env = fast_parse(self._fast, value)
            if env is not None:
                return env
        return parse_envelope(value)

    def _row(self, values: Mapping[str, Any]) -> dict[str, Any]:
        # The hot loop of the event path: text and integer columns are checked inline.
        row: dict[str, Any] = {}
        field = ""
        try:
            for tcol, field, kind, convert in self._mapped:
                v = values[field]
                if v is not None:
                    if kind == _TEXT:
                        if type(v) is not str:
                            raise _type_error(field, "a string", v)
                        if v == TOAST_PLACEHOLDER:
                            raise _toast_error(field)
                    elif kind == _INT:
                        if type(v) is not int:
                            raise _type_error(field, "an integer", v)
                    else:
                        if v == TOAST_PLACEHOLDER:
                            raise _toast_error(field)
                        v = convert(field, v)
                row[tcol] = v
        except KeyError:
            msg = f"missing field {field!r}"
            raise DecodeError(msg) from None
        return row

    def _unchanged(self, env: Envelope) -> bool:
        """An update that changed none of the mapped columns (e.g. only a dropped one)."""
        if env.op != "u" or env.before is None or env.after is None:
            return False
        before, after = env.before, env.after
        return all(before.get(field) == after.get(field) for _, field, _, _ in self._mapped)

    def decode(self, origin: Origin) -> list[Decoded]:
        """Decode one message of the sync's topic; a bad one becomes a ``DeadLetter``."""
        if origin.value is None:
            return []  # the tombstone after a delete: the delete itself carried the change
        try:
            return self._decode(origin)
        except DecodeError as exc:
            return [DeadLetter(exc.message, origin, self.sync.name)]
        except SmartSyncError as exc:  # e.g. the masking policy refusing a row
            return [DeadLetter(f"{type(exc).__name__}: {exc.message}", origin, self.sync.name)]

    def _decode(self, origin: Origin) -> list[Decoded]:
        assert origin.value is not None  # noqa: S101 — checked by decode()
        env = self._parse(origin.value)
        if self.callback:
            claimed = env.source.get("sync")
            if claimed is not None and claimed != self.sync.name:
                msg = f"callback for sync {claimed!r} on the topic of sync {self.sync.name!r}"
                raise DecodeError(msg)
            if env.op != "c":
                msg = f"unsupported callback op {env.op!r} (only 'c')"
                raise DecodeError(msg)
        position = source_position(env.source, self._position_field)
        source_ts = commit_time(env.source)
        if self.sync.event_mode is EventMode.MIRROR and self._unchanged(env):
            return []
        if self.sync.event_mode is EventMode.APPEND:
            kind = event_type(env.op, env.before, env.after)
            if kind is None:
                return []
            assert env.after is not None  # noqa: S101 — event_type() only names changes with an after-image
            row = self._row(env.after)
            for tcol, derived in self._derived:
                row[tcol] = self._derive(derived, position, source_ts, kind)
            row = self._masked(row)
            return [TargetChange(self.sync.name, RowChange(self._key_of(row), row, position, source_ts), origin)]
        deleted = env.op == "d"
        image = env.before if deleted else env.after
        assert image is not None  # noqa: S101 — parse_envelope() checked it
        row = self._masked(self._row(image))
        key = self._key_of(row)
        if self._top_n is not None:
            return [self._evaluation(row, key, deleted=deleted, position=position, source_ts=source_ts, origin=origin)]
        return [TargetChange(self.sync.name, RowChange(key, None if deleted else row, position, source_ts), origin)]

    def _derive(self, derived: DerivedValue, position: int, source_ts: datetime | None, kind: str) -> Any:
        if derived is DerivedValue.SOURCE_LSN:
            return position
        if derived is DerivedValue.COMMIT_TS:
            if source_ts is None:
                msg = "missing field 'source.ts_us' (the commit time)"
                raise DecodeError(msg)
            return source_ts
        return kind

    def _masked(self, row: dict[str, Any]) -> dict[str, Any]:
        return self._mask(row) if self._mask is not None else row

    def _key_of(self, row: Mapping[str, Any]) -> tuple[Any, ...]:
        got = self._key_getter(row)
        key: tuple[Any, ...] = (got,) if len(self._key) == 1 else got
        if None in key:
            msg = f"null in key {list(self._key)}"
            raise DecodeError(msg)
        return key

    def _evaluation(
        self, row: dict[str, Any], key: tuple[Any, ...], *, deleted: bool, position: int,
        source_ts: datetime | None, origin: Origin,
    ) -> Evaluation:
        spec = self._top_n
        assert spec is not None  # noqa: S101
        group = group_key(row, spec)
        if deleted:
            return Evaluation(self.sync.name, group, key, None, None, None, position, source_ts, origin)
        rank = row.get(spec.rank_by)
        status = row.get(spec.status_column)
        if rank is None:
            msg = f"null in rank column {spec.rank_by!r}"
            raise DecodeError(msg)
        return Evaluation(self.sync.name, group, key, Decimal(rank), status, row, position, source_ts, origin)


def group_key(row: Mapping[str, Any], spec: TopN) -> str:
    """The stateful key of a top-N group: its group-by values as a string."""
    values = [row[c] for c in spec.group_by]
    return str(values[0]) if len(values) == 1 else orjson.dumps(values, default=str).decode()


class Router:
    """Every event sync of one direction, found by topic name."""

    def __init__(self, catalog: Catalog, direction: Direction, syncs: Iterable[Sync] | None = None) -> None:
        chosen = tuple(syncs) if syncs is not None else catalog.event_syncs(direction)
        self.decoders = {s.topic.name: SyncDecoder(s) for s in chosen if s.topic is not None}

    @property
    def topics(self) -> list[str]:
        return sorted(self.decoders)

    def decode(self, origin: Origin) -> list[Decoded]:
        decoder = self.decoders.get(origin.topic)
        if decoder is None:
            return [DeadLetter(f"no sync reads topic {origin.topic!r}", origin)]
        return decoder.decode(origin)


# ── top N ─────────────────────────────────────────────────────────────────────────────


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class Scored:
    """What a top-N state keeps of one item: enough to rank it and to write its row again."""

    key: tuple[Any, ...]
    rank: Decimal | None
    status: str | None
    row: dict[str, Any] | None
    position: int


TopState = dict[tuple[Any, ...], Scored]


def top_items(state: Mapping[tuple[Any, ...], Scored], spec: TopN) -> list[tuple[Any, ...]]:
    """Keys of the group's top N: included statuses only, highest rank first, ties by key."""
    ranked = [s for s in state.values() if s.row is not None and s.status in spec.included_statuses]
    ranked.sort(key=lambda s: (-(s.rank or 0), s.key))
    return [s.key for s in ranked[: spec.n]]


def top_n_step(state: TopState | None, ev: Evaluation, spec: TopN) -> tuple[TopState, list[RowChange]]:
    """Apply one evaluation to a group's state; return the new state and the changes of the top-N table.

    An item entering the top N is upserted, one leaving it (pushed out, deleted, or no longer
    of an included status) is deleted, one that stays but changed is upserted again. Every
    change carries the evaluation's position, so the writes of one group are ordered even
    when an item re-enters after it was deleted. A stale or repeated evaluation changes nothing.
    """
    state = {} if state is None else state
    known = state.get(ev.key)
    if known is not None and known.position >= ev.position:
        return state, []
    before = top_items(state, spec)
    state[ev.key] = Scored(ev.key, ev.rank, ev.status if ev.row is not None else None, ev.row, ev.position)
    after = top_items(state, spec)
    after_set = set(after)
    changes = [RowChange(key, None, ev.position, ev.source_ts) for key in before if key not in after_set]
    before_set = set(before)
    for key in after:
        if key not in before_set or key == ev.key:
            row = state[key].row
            assert row is not None  # noqa: S101 — top_items() only picks items with a row
            changes.append(RowChange(key, row, ev.position, ev.source_ts))
    return state, changes
