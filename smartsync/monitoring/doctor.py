"""``smartsync doctor``: is everything SmartSync needs there and healthy? One check per concern.

Each check returns ``Check(name, ok, detail)``; a failing check's detail says what is wrong and
what to do, in one line, with no secret and no row value. Checks never raise: an unreachable
system is a failed check, so the doctor always finishes its list.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka.admin import AdminClient

from connectors.debezium.connector import CONNECTOR_NAMES, slot_name
from connectors.kafka import config as kafka_config
from dataflows.recovery_identity import IDENTITY_FILE
from smartsync.core.catalog import Catalog, Direction
from smartsync.core.redact import redact_secrets
from smartsync.core.schema import PUBLICATION
from smartsync.core.settings import Settings
from smartsync.core.tables import Database
from smartsync.monitoring.exporter import connector_states, slot_states
from smartsync.monitoring.rules import SLOT_RETAINED_WARNING_BYTES

_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return redact_secrets(text.splitlines()[0]) if text else type(exc).__name__


def _guard(name: str, probe: Callable[[], list[Check]]) -> list[Check]:
    try:
        return probe()
    except Exception as exc:  # noqa: BLE001 — a check that cannot run is a failed check, never a crash
        return [Check(name, ok=False, detail=f"{type(exc).__name__}: {_first_line(exc)}")]


def settings_checks(settings: Settings) -> list[Check]:
    out = []
    for field in ("warehouse_dsn", "citizen_dsn", "kafka_bootstrap", "connect_url"):
        value = getattr(settings, field)
        present = bool(value.get_secret_value() if hasattr(value, "get_secret_value") else value)
        out.append(Check(f"setting {field}", present, "set" if present else f"SMARTSYNC_{field.upper()} is not set"))
    return out


def database_checks(settings: Settings, catalog: Catalog, database: Database) -> list[Check]:
    name = database.value
    with psycopg.connect(settings.dsn(database), connect_timeout=int(_TIMEOUT_S)) as conn:
        user, version = conn.execute("SELECT current_user, current_setting('server_version')").fetchone() or ("", "")
        wal = conn.execute("SELECT current_setting('wal_level')").fetchone()
        published = conn.execute(
            "SELECT count(*) FROM pg_publication_tables WHERE pubname = %s", (PUBLICATION,)
        ).fetchone()
    out = [Check(f"{name}: connection", ok=True, detail=f"as {user}, PostgreSQL {version}")]
    logical = wal is not None and wal[0] == "logical"
    out.append(Check(f"{name}: wal_level", logical, "logical" if logical else f"wal_level is {wal and wal[0]}"))
    tables = published[0] if published else 0
    out.append(
        Check(
            f"{name}: publication {PUBLICATION}",
            tables > 0,
            f"{tables} tables" if tables else "missing or empty: run `smartsync db migrate`",
        )
    )
    slot = slot_name(database, catalog)
    state = slot_states(settings.dsn(database), slot)
    if state is None:
        out.append(Check(f"{name}: slot {slot}", ok=False, detail="missing: the Debezium connector has not started"))
    else:
        active, retained, _ = state
        mib = retained / (1 << 20)
        healthy = active and retained <= SLOT_RETAINED_WARNING_BYTES
        detail = f"{'active' if active else 'INACTIVE'}, retains {mib:.1f} MiB of WAL"
        out.append(Check(f"{name}: slot {slot}", healthy, detail))
    return out


def kafka_checks(settings: Settings, catalog: Catalog) -> list[Check]:
    # librdkafka's own log lines (one per broker and retry) stay quiet: the failed check says it once.
    config = kafka_config.admin_config(settings.kafka_bootstrap, client_id="smartsync-doctor", log_level=0)
    config["error_cb"] = lambda _err: None
    metadata = AdminClient(config).list_topics(timeout=_TIMEOUT_S)
    out = [Check("kafka: brokers", ok=True, detail=f"{len(metadata.brokers)} broker(s)")]
    wanted = {s.topic.name: s.topic.partitions for s in catalog.event_syncs() if s.topic is not None}
    wanted.update({t.name: t.partitions for t in catalog.dead_letter_topics.values()})
    for topic, partitions in sorted(wanted.items()):
        found = metadata.topics.get(topic)
        if found is None or found.error is not None:
            out.append(Check(f"kafka: topic {topic}", ok=False, detail="missing: run `smartsync kafka topics apply`"))
            continue
        have = len(found.partitions)
        out.append(
            Check(
                f"kafka: topic {topic}",
                have == partitions,
                f"{have} partitions" if have == partitions else f"{have} partitions, the catalog says {partitions}",
            )
        )
    return out


def connector_checks(settings: Settings) -> list[Check]:
    if not settings.connect_url:
        return []
    out = []
    for name, status in connector_states(settings.connect_url, CONNECTOR_NAMES.values()).items():
        state = status["connector"]["state"]
        tasks = [t["state"] for t in status.get("tasks", [])]
        ok = state == "RUNNING" and bool(tasks) and all(t == "RUNNING" for t in tasks)
        out.append(Check(f"connector {name}", ok, f"{state}, tasks {', '.join(tasks) or 'none'}"))
    return out


def recovery_checks(settings: Settings) -> list[Check]:
    out = []
    for direction in Direction:
        path: Path = settings.recovery_dir / direction.value
        if not path.exists():
            out.append(
                Check(f"recovery {direction.value}", ok=True, detail=f"{path}: none yet (the flow starts from scratch)")
            )
            continue
        identity = path / IDENTITY_FILE
        bound = identity.exists()
        detail = (
            f"{path}: bound to cluster {json.loads(identity.read_text()).get('cluster_id')}"
            if bound
            else (f"{path}: not bound to a Kafka cluster (written by an older version?)")
        )
        out.append(Check(f"recovery {direction.value}", bound, detail))
    return out


def run_checks(settings: Settings, catalog: Catalog) -> list[Check]:
    checks = settings_checks(settings)
    probes: Iterable[tuple[str, Callable[[], list[Check]]]] = [
        *((db.value, lambda db=db: database_checks(settings, catalog, db)) for db in Database),
        ("kafka", lambda: kafka_checks(settings, catalog)),
        ("connect", lambda: connector_checks(settings)),
        ("recovery", lambda: recovery_checks(settings)),
    ]
    for name, probe in probes:
        checks += _guard(name, probe)
    return checks


def as_json(checks: list[Check]) -> dict[str, Any]:
    return {"healthy": all(c.ok for c in checks), "checks": [asdict(c) for c in checks]}
