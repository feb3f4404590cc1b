"""Kafka messages of a direction's topics into target row changes: pure functions.

A message of a sync's topic is decoded once: the Debezium envelope (or callback message), the
source position (``source.lsn``; ``source.ts_us`` for callbacks) and commit time, every mapped
column converted from Debezium's encoding to a Python value of the declared column type, mapped
to target column names and masked by the sync's policy. The result is one of:

- ``TargetChange``: a ``RowChange`` for the sync's target table (mirror and append syncs);
- ``Evaluation``: an input of a top-N sync's per-group state (``dataflows/top_n.py``);
- ``DeadLetter``: the reason and the original message, for the dead-letter topic;
- nothing: a tombstone (null value), or a change the sync does not carry.

Nothing here touches Kafka, PostgreSQL or Bytewax.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from connectors.debezium.envelope import (
    TOAST_PLACEHOLDER,
    Converter,
    DecodeError,
    Envelope,
    Origin,
    commit_time,
    converter_for,
    fast_envelope_decoder,
    fast_parse,
    integer_value,
    parse_envelope,
    source_position,
    text_value,
    toast_error,
    type_error,
)
from connectors.kafka.dead_letters import DeadLetter
from connectors.postgres.apply import RowChange
from connectors.postgres.writer import TargetChange
from dataflows.top_n import Evaluation, group_key
from masking import row_masker
from smartsync.core.catalog import Catalog, DerivedValue, Direction, EventMode, Sync, TopN, Trigger
from smartsync.core.errors import SmartSyncError
from smartsync.core.tables import SCHEMA, Table

# The application-event vocabulary of append syncs (decision.application_events.event_type).
EVENT_SUBMITTED = "submitted"
EVENT_STATUS_CHANGED = "status_changed"
EVENT_WITHDRAWN = "withdrawn"
STATUS_WITHDRAWN = "withdrawn"

# How ``SyncDecoder`` checks a column: text and integers inline (most columns), the rest by converter.
_TEXT, _INT, _OTHER = 0, 1, 2


Decoded = TargetChange | Evaluation | DeadLetter


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


# Exceptions whose text is fixed by the runtime (positions, limits), never a value of the message.
_SAFE_TEXT = (UnicodeError, OverflowError, RecursionError, MemoryError)


def unexpected_reason(exc: BaseException) -> str:
    """The dead-letter reason of an exception nobody foresaw while decoding one event.

    Only the exception's type, plus its text when the runtime writes it without message values:
    a reason is stored and shown, and must not carry personal data.
    """
    name = type(exc).__name__
    if isinstance(exc, _SAFE_TEXT):
        return f"unexpected {name} while decoding: {str(exc)[:300]}"
    return f"unexpected {name} while decoding (text withheld: it may quote the message)"


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
                kind = _TEXT if convert is text_value else _INT if convert is integer_value else _OTHER
                self._mapped.append((tcol, field, kind, convert))
            else:
                self._derived.append((tcol, DerivedValue(str(col.expr))))
        self._key = self.target.primary_key
        self._key_getter = operator.itemgetter(*self._key)  # one value for a single key, else a tuple
        self._mask = row_masker(sync) if sync.citizen_bound else None
        self._position_field = "ts_us" if self.callback else "lsn"
        self._top_n: TopN | None = sync.top_n if sync.event_mode is EventMode.TOP_N else None
        # Debezium events take the fast parse; callbacks (few, and checked for their sync) the careful one.
        self._fast = (
            None
            if self.callback or not fast
            else fast_envelope_decoder(
                [field for _, field, _, _ in self._mapped],
                optional=["status"] if sync.event_mode is EventMode.APPEND else (),  # read by event_type()
            )
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
                            raise type_error(field, "a string", v)
                        if v == TOAST_PLACEHOLDER:
                            raise toast_error(field)
                    elif kind == _INT:
                        if type(v) is not int:
                            raise type_error(field, "an integer", v)
                    else:
                        if v == TOAST_PLACEHOLDER:
                            raise toast_error(field)
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
        except Exception as exc:  # noqa: BLE001 — one poison event must never stop the direction
            return [DeadLetter(unexpected_reason(exc), origin, self.sync.name)]

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
        self,
        row: dict[str, Any],
        key: tuple[Any, ...],
        *,
        deleted: bool,
        position: int,
        source_ts: datetime | None,
        origin: Origin,
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
