"""The main job, end to end on the local stack: what ``smartsync demo`` (``make demo``) runs.

It brings the stack up, starts both dataflows, loads the synthetic data, keeps a light live
workload of citizen-facing changes going, and reports what flowed: change events per topic
and rows per target table. Plain functions here; the CLI renders.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

import psycopg
from confluent_kafka import Consumer, TopicPartition

from connectors.kafka import config as kafka_config
from smartsync.core.catalog import Catalog, Trigger
from smartsync.core.tables import SCHEMA, Database
from smartsync.devstack.synthetic import vocab


def topic_totals(bootstrap: str, topics: Mapping[str, int]) -> dict[str, int]:
    """Messages ever written to each topic (sum of the partitions' high watermarks)."""
    consumer = Consumer(kafka_config.consumer_config(bootstrap, group_id="smartsync-demo", log_level=3))
    try:
        return {
            name: sum(consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)[1] for p in range(n))
            for name, n in topics.items()
        }
    finally:
        consumer.close()


def target_counts(dsns: Mapping[Database, str], catalog: Catalog) -> dict[str, int]:
    """Rows in every sync target, as "database.schema.table"."""
    out: dict[str, int] = {}
    for db, dsn in dsns.items():
        with psycopg.connect(dsn) as conn:
            for sync in catalog.syncs:
                if sync.target_database == db:
                    row = conn.execute(f"SELECT count(*) FROM {sync.target}").fetchone()
                    out[f"{db.value}.{sync.target}"] = int(row[0]) if row else 0
    return out


@dataclass(frozen=True)
class LiveChange:
    """One kind of change the live workload makes: a sync's source rows, touched at random."""

    sync: str
    statement: str  # updates up to %(n)s random rows of the sync's source


def _pick(values: tuple[str, ...]) -> str:
    return f"(ARRAY[{', '.join(repr(v) for v in values)}])[1 + floor(random() * {len(values)})::int]"


def live_changes(catalog: Catalog) -> list[LiveChange]:
    """Updates that citizens, officers and the ML services make all day, one kind per CDC sync."""
    score = (
        f"status = CASE WHEN p.s >= {vocab.ELIGIBLE_FROM} THEN 'eligible' "
        f"WHEN p.s >= {vocab.POSSIBLY_FROM} THEN 'possibly_eligible' ELSE 'not_eligible' END, "
        "eligibility_score = p.s, evaluated_at = now()"
    )
    touches = {
        "eligibility_hints": score,
        "application_decisions": f"status = {_pick(tuple(s for s, _ in vocab.DECISION_STATUSES))}",
        "profile_summary": "eligible_scheme_count = t.eligible_scheme_count + 1",
        "golden_records": f"vulnerability_level = {_pick(vocab.VULNERABILITY_LEVELS)}",
        "profile_updates": "mobile = '9' || lpad((floor(random() * 1e9))::bigint::text, 9, '0')",
        "application_submissions": f"status = {_pick(tuple(s for s, _ in vocab.SUBMISSION_STATUSES))}",
        "document_metadata": f"verification_status = {_pick(tuple(s for s, _ in vocab.DOCUMENT_STATUSES))}",
    }
    out = []
    for sync in catalog.syncs:
        if sync.trigger is Trigger.CDC and sync.name in touches:
            src = sync.source
            source_key = SCHEMA.table(sync.source_database, src).primary_key
            match = " AND ".join(f"t.{k} = p.{k}" for k in source_key)
            out.append(
                LiveChange(
                    sync.name,
                    f"WITH p AS (SELECT {', '.join(source_key)}, round(random()::numeric, 4) AS s FROM {src} "
                    f"ORDER BY random() LIMIT %(n)s) "
                    f"UPDATE {src} AS t SET {touches[sync.name]} FROM p WHERE {match}",
                )
            )
    return out


def run_live_workload(
    dsns: Mapping[Database, str], catalog: Catalog, *, rate_per_s: float, seconds: float, seed: int = 7
) -> int:
    """Make about ``rate_per_s`` changes a second for ``seconds``, spread over the CDC syncs."""
    rng = random.Random(seed)  # noqa: S311 — a workload, not a secret
    changes = live_changes(catalog)
    conns = {db: psycopg.connect(dsn, autocommit=True) for db, dsn in dsns.items()}
    made = 0
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            tick = time.monotonic()
            change = rng.choice(changes)
            sync = catalog.sync(change.sync)
            cur = conns[sync.source_database].execute(change.statement.encode(), {"n": max(1, int(rate_per_s / 10))})
            made += cur.rowcount
            time.sleep(max(0.0, 0.1 - (time.monotonic() - tick)))
    finally:
        for conn in conns.values():
            conn.close()
    return made


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)  # Decimal, UUID, date


def callback_payloads(warehouse_dsn: str, catalog: Catalog, sync_name: str, limit: int) -> list[dict[str, object]]:
    """What the forecast or ML service would post: rows of the sync's warehouse table, as JSON."""
    sync = catalog.sync(sync_name)
    columns = [col.source for col in sync.columns.values() if col.source]
    with psycopg.connect(warehouse_dsn) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(columns)} FROM {sync.source} ORDER BY random() LIMIT %s", (limit,)
        ).fetchall()
    return [{c: _json_value(v) for c, v in zip(columns, row, strict=True)} for row in rows]


def post_json(url: str, payload: object, timeout_s: float = 30, token: str = "") -> tuple[int, dict[str, object]]:
    """POST JSON (with a bearer token) and return (status, decoded body); HTTP errors are answers, not exceptions."""
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {token}"} if token else {})
    request = urllib.request.Request(  # noqa: S310 — a loopback URL we build ourselves
        url, data=json.dumps(payload).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")
