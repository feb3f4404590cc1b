"""The event path's writer into PostgreSQL: every batch is applied and committed before it returns.

``BatchWriter`` knows nothing of Bytewax (``connectors/postgres/sink.py`` adapts it): it groups
a batch by sync, applies each group with ``connectors.postgres.apply.apply_changes`` in one
transaction and commits. It never holds rows across calls, so a killed worker loses nothing
that recovery will not replay.

- A transient error (PostgreSQL down, connection lost, deadlock) is retried with backoff
  until it succeeds; the worker stalls meanwhile, so Kafka input waits and nothing is lost.
  The apply is idempotent, so a retry after an unknown commit outcome duplicates nothing.
- A row the target refuses (constraint violation, bad value) is isolated by bisection and
  sent to the dead-letter topic; the rest of the batch is written.
- A terminal error (missing table or column) stops the flow with one clear message.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from connectors import metrics
from connectors.debezium.envelope import Origin
from connectors.kafka.dead_letters import DeadLetter, DeadLetterProducer
from connectors.postgres.apply import ApplyResult, RowChange, apply_changes, classify_error, is_data_error
from connectors.postgres.source_identity import CheckOutage
from smartsync.core.catalog import Catalog, Direction
from smartsync.core.errors import SinkError, TransientSinkError
from smartsync.core.redact import db_error
from smartsync.core.tables import SCHEMA, Table

log = logging.getLogger(__name__)


@dataclass(slots=True)  # created per event: not frozen, a frozen __init__ costs ~3x; never mutated
class TargetChange:
    """A row change of a sync's target table, with the message it came from (for a dead letter)."""

    sync: str
    change: RowChange
    origin: Origin


SinkItem = TargetChange | DeadLetter
LATENCY_SAMPLES_PER_BATCH = 256


class BatchWriter:
    """Writes batches of target changes and dead letters for one direction; one connection per writer."""

    def __init__(
        self,
        catalog: Catalog,
        direction: Direction,
        dsn: str,
        dead_letters: DeadLetterProducer | Callable[[Sequence[DeadLetter]], None],
        *,
        max_backoff_s: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
        source_check: Callable[[], None] | None = None,
        source_check_every_s: float = 30.0,
    ) -> None:
        self.flow = direction.value
        # Raises a terminal SinkError when the source became a new incarnation (connectors/postgres/source_identity.py).
        self._source_check = source_check
        self._source_check_every_s = source_check_every_s
        self._source_checked = time.monotonic()
        self._source_outage = CheckOutage()
        self._source_setting = f"SMARTSYNC_FLOW_SOURCE_{direction.source_database.name}_DSN"
        self._dsn = dsn
        self._send_dead = dead_letters.send if isinstance(dead_letters, DeadLetterProducer) else dead_letters
        self._max_backoff_s = max_backoff_s
        self._sleep = sleep
        self._conn: psycopg.Connection[Any] | None = None
        syncs = catalog.event_syncs(direction)
        self._order = {s.name: i for i, s in enumerate(syncs)}
        self._tables: dict[str, Table] = {s.name: SCHEMA.table(s.target_database, s.target) for s in syncs}
        labels = {s.name: (self.flow, s.target) for s in syncs}
        self._m_out = {n: metrics.EVENTS_OUT.labels(*lab) for n, lab in labels.items()}
        self._m_skipped = {n: metrics.EVENTS_SKIPPED.labels(*lab) for n, lab in labels.items()}
        self._m_errors = {n: metrics.EVENT_ERRORS.labels(*lab) for n, lab in labels.items()}
        self._m_dead = {n: metrics.DEAD_LETTERS.labels(*lab) for n, lab in labels.items()}
        self._m_latency = {n: metrics.END_TO_END_LATENCY.labels(*lab) for n, lab in labels.items()}
        self._m_batch = metrics.SINK_BATCH_ROWS.labels(self.flow)
        self._m_sink = metrics.SINK_LATENCY.labels(self.flow)
        self._m_retries = metrics.SINK_RETRIES.labels(self.flow)
        self._m_up = metrics.SINK_UP.labels(self.flow)
        self._m_up.set(1)
        # Exported at 0 from the start, so the first failure is an increase the alert sees.
        self._m_source_check_failures = metrics.SOURCE_CHECK_FAILURES.labels(self.flow)

    # ── public ──

    def write(self, items: Sequence[SinkItem]) -> None:
        if self._source_check is not None and time.monotonic() - self._source_checked >= self._source_check_every_s:
            self._source_checked = time.monotonic()
            self._check_source(self._source_check)
        groups: dict[str, list[TargetChange]] = {}
        dead: list[DeadLetter] = []
        for item in items:
            if isinstance(item, TargetChange):
                groups.setdefault(item.sync, []).append(item)
            else:
                dead.append(item)
        if dead:
            self._dead_letters(dead)
        if groups:
            ordered = sorted(groups.items(), key=lambda kv: self._order.get(kv[0], len(self._order)))
            self._retrying(lambda: self._write_groups(ordered))

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # ── internals ──

    def _check_source(self, check: Callable[[], None]) -> None:
        """Run the source identity check; one that cannot run is counted and warned of once per outage, never fatal."""
        try:
            check()
        except psycopg.Error as exc:  # a new incarnation is a SinkError and stops the flow; this is "no verdict"
            self._m_source_check_failures.inc()
            if self._source_outage.failed():
                log.warning(
                    "%s: the source identity check cannot run (%s); the flow keeps writing, but a restored source "
                    "would go unnoticed: check %s (its role, password and `smartsync db roles`) and the source",
                    self.flow,
                    db_error(exc),
                    self._source_setting,
                )
            else:
                log.debug("%s: the source identity check still cannot run (%s)", self.flow, db_error(exc))
            return
        failures = self._source_outage.succeeded()
        if failures:
            log.warning("%s: the source identity check runs again after %d failed check(s)", self.flow, failures)

    def _connection(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(
                self._dsn,
                autocommit=False,
                application_name=f"smartsync-{self.flow}",
                # A held lock or a hung server must not stall the flow forever: time out and retry.
                options="-c statement_timeout=60000 -c lock_timeout=30000",
                keepalives=1,
                keepalives_idle=10,
                keepalives_interval=5,
                keepalives_count=3,
            )
        return self._conn

    def _discard_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except psycopg.Error:
                log.debug("closing a broken connection failed", exc_info=True)

    def _retrying(self, action: Callable[[], None]) -> None:
        """Run ``action`` until it succeeds; back off on transient errors, raise terminal ones."""
        backoff = 0.2
        attempt = 0
        while True:
            try:
                action()
            except TransientSinkError as exc:
                attempt += 1
                self._m_retries.inc()
                self._m_up.set(0)
                delay = min(self._max_backoff_s, backoff) * (0.75 + random.random() / 2)  # noqa: S311 — jitter
                if attempt == 1 or attempt % 10 == 0:
                    log.warning("%s: %s; retry %d in %.1fs", self.flow, exc.message, attempt, delay)
                self._sleep(delay)
                backoff *= 2
            else:
                if attempt:
                    log.warning("%s: the sink recovered after %d retries", self.flow, attempt)
                self._m_up.set(1)
                return

    def _dead_letters(self, dead: list[DeadLetter]) -> None:
        try:
            self._retrying(lambda: self._send_dead(dead))
        except SinkError:  # refused for good: stopping is the only way not to lose them
            metrics.DEAD_LETTERS_UNDELIVERABLE.labels(self.flow).inc()
            raise
        for letter in dead:
            if letter.sync in self._m_dead:
                self._m_errors[letter.sync].inc()
                self._m_dead[letter.sync].inc()
        log.warning("%s: %d dead letter(s), first: %s", self.flow, len(dead), dead[0].reason)

    def _apply(self, groups: Sequence[tuple[str, Sequence[TargetChange]]]) -> dict[str, ApplyResult]:
        """Apply the groups in one transaction and commit; psycopg errors are classified."""
        current = groups[0][0]
        try:
            conn = self._connection()
            results = {}
            for name, items in groups:
                current = name
                results[name] = apply_changes(conn, self._tables[name], [i.change for i in items])
            conn.commit()
        except psycopg.Error as exc:
            self._rollback()
            if is_data_error(exc):
                raise
            raise classify_error(exc, self._tables[current]) from exc
        except ValueError as exc:  # rows that do not fit the table: a bug in a mapping, not data
            self._rollback()
            msg = f"cannot write {self._tables[current].qualified_name}: {exc}"
            raise SinkError(msg, hint="check the sync's column mapping in smartsync/core/catalog.py") from exc
        return results

    def _rollback(self) -> None:
        conn = self._conn
        if conn is None:
            return
        if conn.broken or conn.closed:
            self._discard_connection()
            return
        try:
            conn.rollback()
        except psycopg.Error:
            self._discard_connection()

    def _write_groups(self, groups: Sequence[tuple[str, Sequence[TargetChange]]]) -> None:
        started = time.perf_counter()
        try:
            results = self._apply(groups)
        except psycopg.Error as exc:  # data errors only: find the rows at fault
            log.warning("%s: a batch was refused (%s); isolating the rows at fault", self.flow, _first_line(exc))
            for name, items in groups:
                self._isolate(name, list(items))
            return
        committed = time.time()
        self._m_sink.observe(time.perf_counter() - started)
        self._m_batch.observe(sum(len(items) for _, items in groups))
        for name, items in groups:
            self._record(name, items, results[name], committed)

    def _record(self, name: str, items: Sequence[TargetChange], result: ApplyResult, committed: float) -> None:
        self._m_out[name].inc(result.written)
        self._m_skipped[name].inc(result.skipped_stale)
        observe = self._m_latency[name].observe
        # Every change of a small batch; an even sample of a big one (a backlog being drained).
        step = max(1, len(items) // LATENCY_SAMPLES_PER_BATCH)
        for item in items[::step]:
            ts = item.change.source_ts
            if ts is not None:
                observe(max(0.0, committed - ts.timestamp()))

    def _isolate(self, name: str, items: list[TargetChange]) -> None:
        """Bisect a refused group: write what the target accepts, dead-letter single refused changes."""
        try:
            result = self._apply([(name, items)])[name]
        except psycopg.Error as exc:
            if len(items) == 1:
                table = self._tables[name]
                reason = f"refused by {table.database}.{table.qualified_name}: {_first_line(exc)}"
                self._dead_letters([DeadLetter(reason, items[0].origin, name)])
                return
            half = len(items) // 2
            self._isolate(name, items[:half])
            self._isolate(name, items[half:])
            return
        self._record(name, items, result, time.time())


def _first_line(exc: BaseException) -> str:
    # SQLSTATE, table and constraint only: PostgreSQL's DETAIL quotes the failing row's values.
    return db_error(exc)
