"""The dataflows' PostgreSQL sink (Bytewax): one ``BatchWriter`` per worker.

Every ``write_batch`` is applied and committed before it returns (``connectors/postgres/writer.py``),
so a worker killed by SIGTERM, whose ``close()`` never runs, loses nothing recovery will not replay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from bytewax.outputs import DynamicSink, StatelessSinkPartition

from connectors.kafka.dead_letters import DeadLetterProducer
from connectors.kafka.sealing import sealer_for
from connectors.postgres import source_identity
from connectors.postgres.writer import BatchWriter, SinkItem
from smartsync.core.catalog import Catalog, Direction
from smartsync.core.errors import SmartSyncError

log = logging.getLogger(__name__)


class _Partition(StatelessSinkPartition[list[SinkItem]]):
    def __init__(self, writer: BatchWriter, producer: DeadLetterProducer) -> None:
        self._writer = writer
        self._producer = producer

    def write_batch(self, items: list[list[SinkItem]]) -> None:
        try:
            # Items arrive as one list per decoded input batch; all of them go in one transaction.
            self._writer.write([item for batch in items for item in batch])
        except SmartSyncError as exc:
            # Bytewax prints a long engine traceback; say first, in one line, what stopped the flow.
            log.critical("%s stopped: %s", self._writer.flow, exc)
            raise

    def close(self) -> None:
        self._writer.close()
        self._producer.close()


class FlowSink(DynamicSink[list[SinkItem]]):
    """One ``BatchWriter`` (a connection and a dead-letter producer) per worker."""

    def __init__(
        self, catalog: Catalog, direction: Direction, dsn: str, bootstrap: str, *, source_dsn: str | None = None
    ) -> None:
        self._catalog = catalog
        self._direction = direction
        self._dsn = dsn
        self._bootstrap = bootstrap
        self._source_dsn = source_dsn  # when given: stop writing if the source becomes a new incarnation

    def build(self, step_id: str, worker_index: int, worker_count: int) -> _Partition:
        del step_id, worker_count
        topic = self._catalog.dead_letter_topics[self._direction].name
        producer = DeadLetterProducer(
            self._bootstrap, topic, self._direction.value, worker=worker_index, sealer=sealer_for(self._direction)
        )
        writer = BatchWriter(self._catalog, self._direction, self._dsn, producer, source_check=self._source_check())
        return _Partition(writer, producer)

    def _source_check(self) -> Callable[[], None] | None:
        source_dsn = self._source_dsn
        if source_dsn is None:
            return None
        d = self._direction

        def check() -> None:
            source_identity.check_identity(
                source_dsn, self._dsn, d.source_database.value, d.target_database.value, d.value
            )

        return check
