"""The leak scanner: finds personal data in smart_citizen (or on a Kafka topic) that masking should have hidden.

The database scan filters server-side (PostgreSQL regexes over the text columns) so only candidate
rows travel; Python then confirms each one with the pure detectors of ``masking.leaks`` (Verhoeff,
the exact shapes). Findings never print the raw value: they show it as its masking rule would.
Used by ``smartsync masking scan`` and the demo.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from connectors.kafka.config import consumer_config
from masking.leaks import citizen_targets, find_in_message, find_in_text
from smartsync.core.catalog import Catalog, MaskRule
from smartsync.core.errors import SourceError

# PostgreSQL (ARE) versions of the patterns of ``masking.leaks``: a candidate row must match one of
# these. Lookarounds are left out, so these are a superset of the Python patterns, never a subset.
_PG_DIGITS = "[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{2}|[6-9][0-9]{4}[ -]?[0-9]{5}"
_PG_EMAIL = "[A-Za-z0-9._%+-]@[A-Za-z0-9-]"
# Server-side "not in the masked shape" tests ({c} is the column); LIKE where it will do, as
# PostgreSQL's LIKE is several times cheaper than a regex on a million rows.
_TAIL_NOT_MASKED = "translate(right({c}, 4), '0123456789', '') NOT IN ('', '****')"
_PG_SHAPE_VIOLATIONS: dict[MaskRule, str] = {
    MaskRule.CONFIDENTIAL: "{c} <> 'CONFIDENTIAL'",
    MaskRule.AADHAAR: "{c} <> '***MASKED***'",
    MaskRule.JAN_AADHAAR: "({c} NOT LIKE '****-****-____' OR " + _TAIL_NOT_MASKED + ")",
    MaskRule.MOBILE: "({c} NOT LIKE '******____' OR " + _TAIL_NOT_MASKED + ")",
    MaskRule.EMAIL: r"{c} !~ '^([!-?A-~]\*\*\*@[a-z0-9.-]+\.[a-z0-9-]+|\*\*\*@\*\*\*)$'",
}

_TEXT_TYPES = frozenset({"text", "character varying", "character", "json", "jsonb", "citext", "name"})

# ── Scan results ─────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Finding:
    where: str  # "smart_citizen.public.profile_data" or "topic warehouse.public.golden_records"
    location: str  # "column email, citizen_id=42" or "partition 3, offset 1207, field after.email"
    kind: str
    shown: str

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "location": self.location, "kind": self.kind, "shown": self.shown}


@dataclass
class ScanReport:
    findings: list[Finding] = field(default_factory=list)
    scanned: dict[str, int] = field(default_factory=dict)  # table or topic → rows / messages looked at
    skipped_columns: dict[str, list[str]] = field(default_factory=dict)  # table → non-text columns
    truncated: bool = False  # stopped at max_findings

    @property
    def clean(self) -> bool:
        return not self.findings


# ── The database scan ────────────────────────────────────────────────────────────────────


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_shape(conn: psycopg.Connection[Any], table: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(column, data type) in order, and the primary key columns, as the live database has them."""
    schema, _, name = table.rpartition(".")
    schema = schema or "public"
    cur = conn.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema, name),
    )
    columns = [(str(r[0]), str(r[1])) for r in cur.fetchall()]
    cur = conn.execute(
        "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
        "WHERE i.indrelid = to_regclass(%s) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
        (f"{_quote(schema)}.{_quote(name)}",),
    )
    return columns, [str(r[0]) for r in cur.fetchall()]


def _candidate_sql(table: str, text_cols: list[str], key: list[str], rules: dict[str, MaskRule]) -> str:
    """One query per table: the rows where any text column could hold personal data.

    A column the catalog masks can only be clean in its rule's exact shape (which holds at most
    four digits), so there the shape test alone selects candidates; elsewhere the digit runs and
    ``@`` of the patterns do. Python then confirms each candidate.
    """
    predicates = []
    for col in text_cols:
        c = f"{_quote(col)}::text"
        rule = rules.get(col)
        if rule is not None and rule is not MaskRule.CLEAR:
            test = _PG_SHAPE_VIOLATIONS[rule].format(c=c)
        else:
            test = f"{c} ~ '{_PG_DIGITS}' OR (strpos({c}, '@') > 0 AND {c} ~ '{_PG_EMAIL}')"
        predicates.append(f"({c} IS NOT NULL AND ({test}))")
    keys = [f"{_quote(k)}::text" for k in key] or ["ctid::text"]
    select = ", ".join([*keys, *(f"{_quote(c)}::text" for c in text_cols)])
    return f"SELECT {select} FROM {_qualified(table)} WHERE {' OR '.join(predicates)}"


def scan_table(
    conn: psycopg.Connection[Any],
    table: str,
    *,
    rules: dict[str, MaskRule] | None = None,
    database: str = "smart_citizen",
    max_findings: int = 1000,
    report: ScanReport | None = None,
) -> ScanReport:
    """Scan every text column of one table (``schema.table``) with a psycopg connection."""
    report = report if report is not None else ScanReport()
    rules = rules or {}
    columns, key = _table_shape(conn, table)
    if not columns:
        msg = f"table {database}.{table} does not exist"
        raise SourceError(msg, hint="name it as schema.table; `smartsync masking scan` with no --table scans all")
    where = f"{database}.{table}"
    text_cols = [c for c, t in columns if t in _TEXT_TYPES or t == "ARRAY"]
    skipped = [c for c, t in columns if c not in text_cols]
    if skipped:
        report.skipped_columns[where] = skipped
    count = conn.execute(f"SELECT count(*) FROM {_qualified(table)}").fetchone()
    report.scanned[where] = int(count[0]) if count else 0
    if not text_cols:
        return report
    key_names = key or ["ctid"]
    # A streamed plain query, not a server-side cursor (PostgreSQL runs cursors without parallel
    # workers), and parallel costs at zero: the planner cannot tell the filter keeps almost nothing.
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL parallel_tuple_cost = 0")
        cur.execute("SET LOCAL parallel_setup_cost = 0")
        for row in cur.stream(_candidate_sql(table, text_cols, key, rules)):
            row_key = ", ".join(f"{k}={v}" for k, v in zip(key_names, row, strict=False))
            for col, value in zip(text_cols, row[len(key_names) :], strict=True):
                if value is None:
                    continue
                for hit in find_in_text(value, column=col, rule=rules.get(col)):
                    report.findings.append(Finding(where, f"column {col}, {row_key}", hit.kind, hit.shown))
            if len(report.findings) >= max_findings:
                report.truncated = True
                break
    return report


def _qualified(table: str) -> str:
    schema, _, name = table.rpartition(".")
    return f"{_quote(schema or 'public')}.{_quote(name)}"


def scan_database(
    dsn: str,
    catalog: Catalog,
    *,
    tables: Iterable[str] | None = None,
    all_tables: bool = False,
    max_findings: int = 1000,
) -> ScanReport:
    """Scan smart_citizen: the tables SmartSync writes (default), the named ones, or every user table."""
    targets = citizen_targets(catalog)
    report = ScanReport()
    try:
        with psycopg.connect(dsn, autocommit=False) as conn:
            conn.read_only = True
            if tables is not None:
                names = [t if "." in t else f"public.{t}" for t in tables]
            elif all_tables:
                rows = conn.execute(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                    "WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "ORDER BY 1"
                ).fetchall()
                names = [str(r[0]) for r in rows]
            else:
                names = sorted(targets)
            for table in names:
                scan_table(conn, table, rules=targets.get(table), max_findings=max_findings, report=report)
                if report.truncated:
                    break
    except psycopg.Error as exc:
        msg = f"leak scan of smart_citizen failed: {exc}".strip()
        raise SourceError(msg, hint="is the stack up? `smartsync stack status`") from None
    return report


# ── The Kafka scan ───────────────────────────────────────────────────────────────────────


def _topic_ends(consumer: Consumer, bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """Partition → (earliest, end) offsets of the messages the topic holds now."""
    info = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if info is None or info.error is not None or not info.partitions:
        msg = f"topic {topic!r} does not exist on {bootstrap}"
        raise SourceError(msg, hint="the catalog's topics are listed by `smartsync stack up`")
    bounds = {}
    for p in sorted(info.partitions):
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
        if high > low:
            bounds[p] = (low, high)
    return bounds


def scan_topic(
    bootstrap: str, topic: str, *, max_findings: int = 1000, timeout_s: float = 30.0, report: ScanReport | None = None
) -> ScanReport:
    """Scan every message a topic holds now (from the earliest offset to the end seen at the start)."""
    report = report if report is not None else ScanReport()
    where = f"topic {topic}"
    report.scanned[where] = 0
    reading: dict[str, Any] = {"enable.auto.commit": False, "auto.offset.reset": "earliest"}
    consumer = Consumer(consumer_config(bootstrap, group_id="smartsync-leak-scan", **reading))
    try:
        bounds = _topic_ends(consumer, bootstrap, topic)
        ends = {p: high for p, (_, high) in bounds.items()}
        if ends:
            consumer.assign([TopicPartition(topic, p, low) for p, (low, _) in bounds.items()])
        deadline = time.monotonic() + timeout_s
        while ends and not report.truncated and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                p, offset = message.partition(), message.offset()
                if message.error() is not None or p is None or offset is None or p not in ends or offset >= ends[p]:
                    continue
                report.scanned[where] += 1
                for path, hit in find_in_message(message.key(), message.value()):
                    report.findings.append(
                        Finding(where, f"partition {p}, offset {offset}, {path}", hit.kind, hit.shown)
                    )
                if offset + 1 >= ends[p]:
                    del ends[p]
            report.truncated = len(report.findings) >= max_findings
    except KafkaException as exc:
        msg = f"leak scan of topic {topic!r} failed: {exc}"
        raise SourceError(msg, hint="is the stack up? `smartsync stack status`") from None
    finally:
        consumer.close()
    if ends and not report.truncated:
        msg = f"leak scan of topic {topic!r} did not reach the end of partition(s) {sorted(ends)} in {timeout_s:.0f}s"
        raise SourceError(msg, hint="raise --timeout")
    return report
