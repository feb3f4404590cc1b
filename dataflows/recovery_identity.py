"""Recovery state bound to the Kafka cluster and topics it was taken from.

A recovery directory holds Kafka offsets. Offsets mean nothing on another cluster, or on a topic
deleted and created again under the same name: resuming there reads from the wrong place (or,
with librdkafka's default, from the END, skipping everything). So the first flow process to
start on a directory writes ``kafka-identity.json`` beside the recovery partitions: the cluster
id and each topic's id (Kafka's topic UUID, which changes when a topic is recreated). Every
later start compares; a mismatch refuses to start with one line naming the cause and the
command that resets the direction (``smartsync flow reset DIRECTION``: replay from the earliest
retained offsets, which the idempotent sink absorbs).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from confluent_kafka import TopicCollection
from confluent_kafka.admin import AdminClient

from connectors.kafka import config as kafka_config
from smartsync.core.errors import ConfigurationError, SourceError

IDENTITY_FILE = "kafka-identity.json"


@dataclass(frozen=True)
class KafkaIdentity:
    cluster_id: str
    topics: dict[str, str]  # name → topic id


def read_kafka_identity(bootstrap: str, topics: Sequence[str], *, timeout_s: float = 15.0) -> KafkaIdentity:
    """The cluster id and the ids of ``topics``, as the broker says now."""
    admin = AdminClient(kafka_config.admin_config(bootstrap, client_id="smartsync-recovery-identity"))
    try:
        cluster = admin.describe_cluster(request_timeout=timeout_s).result(timeout=timeout_s)
        described = admin.describe_topics(TopicCollection(list(topics)), request_timeout=timeout_s)
        ids = {name: str(fut.result(timeout=timeout_s).topic_id) for name, fut in described.items()}
    except Exception as exc:  # noqa: BLE001 — any failure: one line
        msg = f"cannot read the Kafka cluster's identity: {exc}"
        raise SourceError(msg, hint="check SMARTSYNC_KAFKA_BOOTSTRAP and that Kafka is up") from None
    return KafkaIdentity(str(cluster.cluster_id), dict(sorted(ids.items())))


def identity_mismatch(stored: KafkaIdentity, live: KafkaIdentity) -> str | None:
    """Why recovery state taken on ``stored`` cannot resume on ``live``; None when it can."""
    if stored.cluster_id != live.cluster_id:
        return f"was taken from Kafka cluster {stored.cluster_id}, but the brokers now belong to {live.cluster_id}"
    changed = sorted(t for t, tid in live.topics.items() if t in stored.topics and stored.topics[t] != tid)
    if changed:
        return f"was taken from an earlier incarnation of topic(s) {changed} (deleted and created again)"
    return None


def bind(recovery_dir: Path, live: KafkaIdentity, direction: str) -> bool:
    """Record ``live`` beside a fresh directory's partitions, or check it against the recorded one.

    Returns True when recorded now. Topics new to the flow (a sync added later) are added.
    """
    path = recovery_dir / IDENTITY_FILE
    recovery_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        _write(path, live)
        return True
    try:
        doc = json.loads(path.read_text())
        stored = KafkaIdentity(str(doc["cluster_id"]), {str(k): str(v) for k, v in doc["topics"].items()})
    except (OSError, ValueError, KeyError, AttributeError) as exc:
        msg = f"recovery state in {recovery_dir}: unreadable {IDENTITY_FILE} ({exc})"
        raise ConfigurationError(msg, hint=f"run `smartsync flow reset {direction}` to replay from Kafka") from None
    why = identity_mismatch(stored, live)
    if why is not None:
        msg = f"recovery state in {recovery_dir} {why}: its offsets do not apply here"
        raise ConfigurationError(
            msg,
            hint=f"run `smartsync flow reset {direction}` (replays from the earliest retained offset; the sink "
            "absorbs replays)",
        )
    if set(live.topics) - set(stored.topics):
        _write(path, KafkaIdentity(stored.cluster_id, dict(sorted({**live.topics, **stored.topics}.items()))))
    return False


def _write(path: Path, identity: KafkaIdentity) -> None:
    # Atomic: processes of one set may start together; the last rename wins with the same content.
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(identity), indent=1, sort_keys=True))
    tmp.replace(path)


def recovery_dir_from_argv(argv: Sequence[str]) -> Path | None:
    """The ``-r``/``--recovery-directory`` of ``python -m bytewax.run`` (the factory runs inside it)."""
    for i, arg in enumerate(argv):
        if arg in ("-r", "--recovery-directory") and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--recovery-directory="):
            return Path(arg.split("=", 1)[1])
    return None


def reset(recovery_dir: Path) -> list[Path]:
    """Remove a direction's recovery state (partitions and identity); return what was removed."""
    if not recovery_dir.is_dir():
        return []
    removed = sorted([*recovery_dir.glob("*.sqlite3*"), *recovery_dir.glob(IDENTITY_FILE)])
    for path in removed:
        path.unlink()
    return removed
