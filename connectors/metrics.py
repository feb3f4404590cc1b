"""The event path's Prometheus metrics, declared once at module level.

The decoding step (``dataflows/wiring.py``) and the PostgreSQL writer (``connectors/postgres/writer.py``)
record them; they live here, below both. Every process exposes them on its metrics port (the dataflows
through Bytewax's API server, which serves everything in ``prometheus_client.REGISTRY``). Names are
``smartsync_<noun>_<unit>``; ``flow`` is the direction, ``table`` the sync's target table.
Kafka consumer lag per partition comes from Bytewax: ``bytewax_kafka_consumer_lag``.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0, 60.0, 300.0)
_SINK_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 5, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000)

EVENTS_IN = Counter(
    "smartsync_events_in_total", "Change events read from Kafka, per sync target table", ["flow", "table"]
)
EVENTS_OUT = Counter(
    "smartsync_events_out_total",
    "Row changes that landed in the target (inserted, updated or deleted)",
    ["flow", "table"],
)
EVENTS_SKIPPED = Counter(
    "smartsync_events_skipped_total",
    "Row changes that lost to a newer one (in the batch, the target or a tombstone): replays land here",
    ["flow", "table"],
)
EVENT_ERRORS = Counter(
    "smartsync_event_errors_total", "Events that could not be synced (each becomes a dead letter)", ["flow", "table"]
)
DEAD_LETTERS = Counter(
    "smartsync_dead_letters_total", "Dead letters confirmed by the dead-letter topic", ["flow", "table"]
)
DEAD_LETTERS_UNDELIVERABLE = Counter(
    "smartsync_dead_letters_undeliverable_total",
    "Dead letters the dead-letter topic refused for good (too large, no ACL): the flow stops",
    ["flow"],
)
OFFSET_RESETS = Counter(
    "smartsync_offset_resets_total",
    "Resume offsets found out of range (topic recreated, retention passed, another cluster): replayed from the "
    "earliest retained offset",
    ["flow", "topic"],
)
CONSUMER_ERRORS = Counter(
    "smartsync_consumer_errors_total", "Errors reported by the Kafka consumer (broker down, …)", ["flow"]
)
SINK_BATCH_ROWS = Histogram(
    "smartsync_sink_batch_rows", "Row changes per sink transaction", ["flow"], buckets=_BATCH_BUCKETS
)
SINK_LATENCY = Histogram(
    "smartsync_sink_latency_seconds", "Time to apply and commit one sink transaction", ["flow"], buckets=_SINK_BUCKETS
)
END_TO_END_LATENCY = Histogram(
    "smartsync_end_to_end_latency_seconds",
    "Source commit (or callback acceptance) to target commit",
    ["flow", "table"],
    buckets=_LATENCY_BUCKETS,
)
SINK_RETRIES = Counter(
    "smartsync_sink_retries_total", "Sink transactions retried after a transient error (outage)", ["flow"]
)
TOP_N_GROUPS_EXPIRED = Counter(
    "smartsync_top_n_groups_expired_total",
    "Top-N groups (a citizen's candidates) dropped from the flow's state after the idle limit "
    "(SMARTSYNC_TOP_N_IDLE_S); the daily fixing reconcile repairs a group that returns",
    ["flow", "sync"],
)
TOP_N_GROUPS = Gauge(
    "smartsync_top_n_groups", "Top-N groups held in this flow process's state (live citizens)", ["flow", "sync"]
)
SOURCE_CHECK_FAILURES = Counter(
    "smartsync_source_check_failures_total",
    "Source identity checks that could not run (source unreachable, wrong flow-source DSN, a revoked grant): "
    "the flow keeps writing, but would not notice a restored source",
    ["flow"],
)
SINK_UP = Gauge("smartsync_sink_up", "1 while the target database accepts writes, 0 during an outage", ["flow"])
