"""The leak scanner: finds personal data in smart_citizen (or on a Kafka topic) that masking should have hidden.

What counts as a leak:

- ``aadhaar``: 12 digits (optionally grouped 4-4-4 by spaces or hyphens), first digit 2-9, passing Verhoeff;
- ``mobile``: a 10-digit Indian mobile (first digit 6-9), optionally ``+91``/``91``/``0``-prefixed or grouped 5-5;
- ``jan_aadhaar``: any 10-digit run in a Jan-Aadhaar-like column (the synthetic IDs are 10 digits);
- ``email``: an address whose local part is not the masked ``x***`` shape;
- ``unmasked``: in a column the catalog masks, a value that is not in its rule's masked shape at all.

The database scan filters server-side (PostgreSQL regexes over the text columns) so only candidate
rows travel; Python then confirms each one (Verhoeff, the exact shapes). Findings never print the
raw value: they show it as its masking rule would.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import psycopg
from confluent_kafka import Consumer, KafkaException, TopicPartition

from masking.rules import MASKERS
from smartsync.core.catalog import Catalog, MaskRule
from smartsync.core.errors import SourceError

# ── Patterns (Python: authoritative; PostgreSQL: the same shapes as a cheap prefilter) ──

_AADHAAR = re.compile(r"(?<![0-9])([2-9][0-9]{3})[ -]?([0-9]{4})[ -]?([0-9]{4})(?![0-9])")
_MOBILE = re.compile(r"(?<![0-9])(?:(?:\+|00)?91[ -]?|0)?([6-9][0-9]{4})[ -]?([0-9]{5})(?![0-9])")
_TEN_DIGITS = re.compile(r"(?<![0-9])[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{2}(?![0-9])")
# A '*' cannot be part of the local part here, so masked addresses (u***@x.org) never match.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")

# The only values a masked column may hold, per rule.
SHAPES: dict[MaskRule, re.Pattern[str]] = {
    MaskRule.CONFIDENTIAL: re.compile(r"CONFIDENTIAL"),
    MaskRule.AADHAAR: re.compile(r"\*\*\*MASKED\*\*\*"),
    MaskRule.JAN_AADHAAR: re.compile(r"\*\*\*\*-\*\*\*\*-(?:[0-9]{4}|\*\*\*\*)"),
    MaskRule.MOBILE: re.compile(r"\*{6}(?:[0-9]{4}|\*{4})"),
    MaskRule.EMAIL: re.compile(r"[!-?A-~]\*\*\*@[a-z0-9.-]+\.[a-z0-9-]+|\*\*\*@\*\*\*"),
}

# PostgreSQL (ARE) versions: a candidate row must match one of these. Lookarounds are
# left out, so these are a superset of the Python patterns, never a subset.
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

# ── Verhoeff (the Aadhaar check digit) ───────────────────────────────────────────────────

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)


def verhoeff_valid(digits: str) -> bool:
    """Whether an ASCII digit string ends in a correct Verhoeff check digit."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][ord(ch) - 48]]
    return c == 0


def verhoeff_digit(digits: str) -> str:
    """The Verhoeff check digit to append to an ASCII digit string."""
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[(i + 1) % 8][ord(ch) - 48]]
    return str(_INV[c])


# ── Finding personal data in one text ───────────────────────────────────────────────────


@dataclass(frozen=True)
class Hit:
    kind: str  # aadhaar | jan_aadhaar | mobile | email | unmasked
    shown: str  # the value as its masking rule shows it: never the raw value


def _jan_like(column: str, rule: MaskRule | None) -> bool:
    name = column.lower().replace("-", "_")
    return rule is MaskRule.JAN_AADHAAR or "jan_aadhaar" in name or "janaadhaar" in name


def find_in_text(text: str, *, column: str = "", rule: MaskRule | None = None) -> list[Hit]:
    """Personal data in one value. ``rule`` is the column's masking rule, if the catalog gives one."""
    hits: list[Hit] = []
    if rule is not None and rule is not MaskRule.CLEAR and SHAPES[rule].fullmatch(text) is None:
        hits.append(Hit("unmasked", str(MASKERS[rule](text))))
    for m in _AADHAAR.finditer(text):
        digits = "".join(m.groups())
        if verhoeff_valid(digits):
            hits.append(Hit("aadhaar", "********" + digits[8:]))
    if _jan_like(column, rule):  # a 10-digit run here is a Jan Aadhaar ID, whatever its first digit
        for m in _TEN_DIGITS.finditer(text):
            hits.append(Hit("jan_aadhaar", str(MASKERS[MaskRule.JAN_AADHAAR](m.group()))))
    else:
        for m in _MOBILE.finditer(text):
            hits.append(Hit("mobile", str(MASKERS[MaskRule.MOBILE]("".join(m.groups())))))
    if "@" in text:
        for m in _EMAIL.finditer(text):
            hits.append(Hit("email", str(MASKERS[MaskRule.EMAIL](m.group()))))
    return hits


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


def citizen_targets(catalog: Catalog) -> dict[str, dict[str, MaskRule]]:
    """The smart_citizen tables SmartSync writes, each with its column → rule."""
    return {s.target: s.masks() for s in catalog.syncs if s.citizen_bound}


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

# Envelope fields that are positions and clocks, not personal data.
_KAFKA_SKIP = frozenset({"source", "ts_ms", "ts_us", "ts_ns", "transaction"})
_SENSITIVE_FIELDS = frozenset({"aadhaar", "jan_aadhaar", "mobile", "email"})


def _leaves(value: object, path: str = "") -> Iterator[tuple[str, str]]:
    """(field path, text) for every string leaf, and for numbers under a personal-data field name."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in _KAFKA_SKIP:
                continue
            yield from _leaves(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, f"{path}[{i}]")
    elif isinstance(value, str):
        yield path, value
    elif isinstance(value, int) and not isinstance(value, bool) and path.rpartition(".")[2] in _SENSITIVE_FIELDS:
        yield path, str(value)


def find_in_message(key: bytes | None, value: bytes | None) -> list[tuple[str, Hit]]:
    """(field path, hit) for one Kafka message; JSON is walked field by field, anything else read as text."""
    found: list[tuple[str, Hit]] = []
    for part, raw in (("key", key), ("value", value)):
        if not raw:
            continue
        try:
            leaves = list(_leaves(orjson.loads(raw)))
        except orjson.JSONDecodeError:
            leaves = [("", raw.decode("utf-8", errors="replace"))]
        for path, text in leaves:
            column = path.rpartition(".")[2].partition("[")[0]
            found.extend((f"{part}.{path}" if path else part, hit) for hit in find_in_text(text, column=column))
    return found


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
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "smartsync-leak-scan",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
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
