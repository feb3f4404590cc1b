"""What a flow process does before its dataflow is built: the factories' entry point.

``python -m bytewax.run "dataflows.warehouse_to_citizen:flow()"`` calls a factory in every
process; the factory calls ``flow_process``, which configures logging, ties the process to its
supervisor, loads the settings and the catalog, refuses to start on a masking gap or a missing
table, column or topic, tunes the garbage collector, and then wires the dataflow.
"""

from __future__ import annotations

import gc
import logging
import sys

import psycopg
from bytewax.dataflow import Dataflow

import masking
from connectors.kafka.topics import check_topics
from connectors.postgres.source_identity import check_identity
from dataflows import recovery_identity, runner
from dataflows.wiring import build_flow
from smartsync.core.catalog import Catalog, Direction, load_catalog
from smartsync.core.errors import SinkError, SourceError
from smartsync.core.settings import Settings, flow_component, load_settings
from smartsync.core.tables import SCHEMA, SYNC_COLUMNS, Database


def flow_process(direction: Direction, *, tail: bool = True) -> Dataflow:
    """Set up this flow process, run the start-up checks, and return the direction's dataflow."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runner.follow_supervisor()
    # Least-privilege sessions: the sink writes as SMARTSYNC_SINK_<TARGET>_DSN's role, the source-side checks read
    # as SMARTSYNC_FLOW_SOURCE_<SOURCE>_DSN's (no table privileges), each where it is set.
    settings = load_settings().for_component(flow_component(direction.target_database))
    catalog = load_catalog()
    preflight(catalog, direction, settings)
    check_recovery(catalog, direction, settings)
    check_identity(
        settings.dsn(direction.source_database),
        settings.dsn(direction.target_database),
        direction.source_database.value,
        direction.target_database.value,
        direction.value,
    )
    tune_gc(settings.flow_gc_threshold)
    return build_flow(catalog, direction, settings, tail=tail)


def check_recovery(catalog: Catalog, direction: Direction, settings: Settings) -> None:
    """Refuse to resume recovery state taken on another Kafka cluster or another incarnation of a topic."""
    recovery_dir = recovery_identity.recovery_dir_from_argv(sys.argv)
    if recovery_dir is None:
        return  # run without recovery: nothing to resume
    topics = [s.topic.name for s in catalog.event_syncs(direction) if s.topic is not None]
    live = recovery_identity.read_kafka_identity(settings.kafka_bootstrap, topics)
    if recovery_identity.bind(recovery_dir, live, direction.value):
        logging.getLogger(__name__).info("%s: recovery state bound to Kafka cluster %s", direction, live.cluster_id)


def tune_gc(threshold: int) -> None:
    """Every event allocates a handful of short-lived dicts and tuples; the default first-generation
    threshold (700) runs the collector every few dozen events. A flow process is dedicated to its
    flow, so collect less often (``SMARTSYNC_FLOW_GC_THRESHOLD``, 0 keeps Python's default)."""
    if threshold > 0:
        gc.set_threshold(threshold, 20, 20)


def live_columns(dsn: str, tables: list[str]) -> dict[str, set[str]]:
    """Each table's columns (``schema.table`` → names; empty for a missing table), readable without privileges."""
    # The system catalogs, not information_schema.columns: that view hides tables the role may not read, and the
    # source-side role (smartsync_flow_source) may read none. The relation kinds are the view's.
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT n.nspname || '.' || c.relname, a.attname FROM pg_catalog.pg_attribute a "
            "JOIN pg_catalog.pg_class c ON c.oid = a.attrelid "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname || '.' || c.relname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'f') "
            "AND a.attnum > 0 AND NOT a.attisdropped",
            (tables,),
        ).fetchall()
    found: dict[str, set[str]] = {t: set() for t in tables}
    for table, column in rows:
        found[table].add(column)
    return found


def _check_sources(catalog: Catalog, direction: Direction, settings: Settings) -> None:
    """Every citizen-bound sync's live source columns are mapped or dropped (default deny)."""
    syncs = [s for s in catalog.event_syncs(direction) if s.citizen_bound]
    by_db: dict[Database, list[str]] = {}
    for s in syncs:
        by_db.setdefault(s.source_database, []).append(s.source)
    live = {db: live_columns(settings.dsn(db), tables) for db, tables in by_db.items()}
    for s in syncs:
        columns = live[s.source_database][s.source]
        if not columns:
            msg = f"source table {s.source_database}.{s.source} of sync {s.name!r} does not exist"
            raise SourceError(msg, hint="run `smartsync stack up` (it migrates both databases)")
        masking.check_live_columns(s, columns)


def _check_targets(catalog: Catalog, direction: Direction, settings: Settings) -> None:
    syncs = catalog.event_syncs(direction)
    target_db = direction.target_database
    live = live_columns(settings.dsn(target_db), [s.target for s in syncs])
    sync_cols = {c.name for c in SYNC_COLUMNS}
    for s in syncs:
        have = live[s.target]
        if not have:
            msg = f"target table {target_db}.{s.target} of sync {s.name!r} does not exist"
            raise SinkError(msg, hint="run `smartsync stack up` (it migrates both databases) and start the flow again")
        missing = sorted((set(SCHEMA.table(target_db, s.target).primary_key) | set(s.columns) | sync_cols) - have)
        if missing:
            msg = f"target table {target_db}.{s.target} of sync {s.name!r} lacks column(s) {missing}"
            raise SinkError(msg, hint="migrate the target database and start the flow again")


def preflight(catalog: Catalog, direction: Direction, settings: Settings) -> None:
    """Refuse to start on a masking gap, a missing target table or column, or a missing topic."""
    masking.check_policy(catalog)
    try:
        _check_sources(catalog, direction, settings)
        _check_targets(catalog, direction, settings)
    except psycopg.OperationalError as exc:
        msg = f"cannot reach PostgreSQL for the start-up checks: {str(exc).strip().splitlines()[0]}"
        source, target = direction.source_database.name, direction.target_database.name
        hint = (
            f"check SMARTSYNC_FLOW_SOURCE_{source}_DSN / SMARTSYNC_SINK_{target}_DSN (unset: SMARTSYNC_{source}_DSN / "
            f"SMARTSYNC_{target}_DSN), that `smartsync db roles` ran and that PostgreSQL runs"
        )
        raise SinkError(msg, hint=hint) from None
    syncs = [s for s in catalog.event_syncs(direction) if s.topic is not None]
    topics = [s.topic for s in syncs if s.topic is not None] + [catalog.dead_letter_topics[direction]]
    check_topics(
        settings.kafka_bootstrap,
        topics,
        owners={s.topic.name: s.name for s in syncs if s.topic is not None},
        hint="create the catalog's topics (`smartsync stack up` does) before starting a flow",
    )
