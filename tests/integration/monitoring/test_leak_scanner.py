"""The leak scanner on the real stack: a planted raw value is found, clean data stays quiet."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewTopic

from connectors.kafka import config as kafka_config
from masking import row_masker
from masking.leaks import citizen_targets, verhoeff_digit
from smartsync.core.catalog import MaskRule, load_catalog
from smartsync.monitoring.leak_scan import scan_database, scan_table, scan_topic

AADHAAR = "23456789012" + verhoeff_digit("23456789012")


def _profile(citizen_id: int) -> dict[str, object]:
    return {
        "citizen_id": citizen_id,
        "full_name": f"Citizen {citizen_id}",
        "date_of_birth": None,
        "gender": "F",
        "district_id": citizen_id % 33 + 1,
        "address": f"{citizen_id} Station Road, Jaipur 302001",
        "jan_aadhaar": f"{1_000_000_000 + citizen_id}",
        "aadhaar": AADHAAR,
        "mobile": f"+91 9{citizen_id:09d}",
        "email": f"citizen{citizen_id}@example.com",
        "income_band": "1-3 LPA",
        "vulnerability_level": "medium",
        "verification_status": "verified",
        "updated_at": None,
    }


@pytest.fixture
def profile_copy(citizen_dsn: str) -> Iterator[tuple[psycopg.Connection, str]]:
    """A fresh schema holding a copy of smart_citizen.public.profile_data with 500 masked rows."""
    schema = f"leakscan_{uuid.uuid4().hex[:10]}"
    mask = row_masker(load_catalog().sync("golden_records"))
    rows = [mask(_profile(i)) for i in range(1, 501)]
    columns = list(rows[0])
    with psycopg.connect(citizen_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE TABLE {schema}.profile_data (LIKE public.profile_data INCLUDING ALL)")
        with conn.cursor() as cur, cur.copy(f"COPY {schema}.profile_data ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in columns])
        try:
            yield conn, f"{schema}.profile_data"
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _rules() -> dict[str, MaskRule]:
    return citizen_targets(load_catalog())["public.profile_data"]


def test_clean_masked_rows_stay_quiet(profile_copy: tuple[psycopg.Connection, str]) -> None:
    conn, table = profile_copy
    with conn.transaction():
        report = scan_table(conn, table, rules=_rules())
    assert report.findings == []
    assert report.scanned == {f"smart_citizen.{table}": 500}


@pytest.mark.parametrize(
    ("column", "raw", "kind"),
    [
        ("aadhaar", AADHAAR, "aadhaar"),
        ("address", f"near the temple, Aadhaar {AADHAAR[:4]} {AADHAAR[4:8]} {AADHAAR[8:]}", "aadhaar"),
        ("mobile", "09876543210", "mobile"),
        ("address", "call 98765-43210 after six", "mobile"),
        ("jan_aadhaar", "1234567890", "jan_aadhaar"),
        ("email", "asha.meena@example.com", "email"),
        ("full_name", "Asha (asha.m@gov.in)", "email"),
        ("income_band", "1-3 LPA", "unmasked"),
        ("mobile", "n/a", "unmasked"),
    ],
)
def test_a_planted_raw_value_is_found(
    profile_copy: tuple[psycopg.Connection, str], column: str, raw: str, kind: str
) -> None:
    conn, table = profile_copy
    conn.execute(f"UPDATE {table} SET {column} = %s WHERE citizen_id = 377", (raw,))
    with conn.transaction():
        report = scan_table(conn, table, rules=_rules())
    assert report.findings, "the planted value was not found"
    assert {(f.where, f.location) for f in report.findings} == {
        (f"smart_citizen.{table}", f"column {column}, citizen_id=377")
    }
    assert kind in {f.kind for f in report.findings}
    for finding in report.findings:
        assert raw not in finding.shown  # a finding never repeats the raw value


def test_the_cli_exits_non_zero_and_names_table_column_and_key(
    profile_copy: tuple[psycopg.Connection, str], citizen_dsn: str
) -> None:
    conn, table = profile_copy
    cmd = [str(Path(sys.executable).with_name("smartsync")), "masking", "scan", "--table", table, "--format", "json"]
    env = {**os.environ, "COLUMNS": "200"}
    clean = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    assert clean.returncode == 0, clean.stderr
    assert orjson.loads(clean.stdout)["clean"] is True

    conn.execute(f"UPDATE {table} SET mobile = '9876543210' WHERE citizen_id = 42")
    dirty = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
    assert dirty.returncode == 3, dirty.stderr
    findings = orjson.loads(dirty.stdout)["findings"]
    assert findings == [
        {
            "where": f"smart_citizen.{table}",
            "location": "column mobile, citizen_id=42",
            "kind": "mobile",
            "shown": "******3210",
        }
    ]
    assert "9876543210" not in dirty.stdout


def test_the_default_scan_covers_every_table_smartsync_writes(citizen_dsn: str) -> None:
    report = scan_database(citizen_dsn, load_catalog(), max_findings=10)
    assert set(report.scanned) == {f"smart_citizen.{t}" for t in citizen_targets(load_catalog())}


@pytest.fixture
def fresh_topic(kafka_bootstrap: str) -> Iterator[str]:
    name = f"test.leakscan.{uuid.uuid4().hex[:10]}"
    admin = AdminClient(kafka_config.admin_config(kafka_bootstrap))
    admin.create_topics([NewTopic(name, num_partitions=3, replication_factor=1)])[name].result(timeout=30)
    try:
        yield name
    finally:
        admin.delete_topics([name])[name].result(timeout=30)


def test_a_raw_value_on_a_topic_is_found(kafka_bootstrap: str, fresh_topic: str) -> None:
    mask = row_masker(load_catalog().sync("golden_records"))
    producer = Producer(kafka_config.client_config(kafka_bootstrap))
    for i in range(1, 61):
        envelope = {"before": None, "after": mask(_profile(i)), "op": "c", "source": {"lsn": 98765432101}}
        producer.produce(fresh_topic, key=str(i).encode(), value=orjson.dumps(envelope), partition=i % 3)
    assert producer.flush(30) == 0

    clean = scan_topic(kafka_bootstrap, fresh_topic)
    assert clean.findings == []
    assert clean.scanned == {f"topic {fresh_topic}": 60}

    raw = {"before": None, "after": {**mask(_profile(61)), "email": "leaky.person@example.org"}, "op": "u"}
    producer.produce(fresh_topic, key=b"61", value=orjson.dumps(raw), partition=1)
    producer.produce(fresh_topic, key=b"62", value=b"not json: call +91 98765 43210", partition=2)
    assert producer.flush(30) == 0

    report = scan_topic(kafka_bootstrap, fresh_topic)
    found = {(f.kind, f.location.rsplit(", ", 1)[1]) for f in report.findings}
    assert found == {("email", "value.after.email"), ("mobile", "value")}
    assert all(f.location.startswith(("partition 1, offset 20", "partition 2, offset 20")) for f in report.findings)
