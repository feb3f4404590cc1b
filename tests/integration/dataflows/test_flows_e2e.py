"""Both dataflows on the real stack: changes in one database arrive (masked) in the other.

Every test uses its own key range (topics are replayed from the beginning by a fresh
recovery directory, so earlier tests' rows come back too) and truncates the targets it uses.
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition

from connectors.callbacks.encoding import encode
from connectors.callbacks.models import AlertCallback, ForecastCallback
from connectors.kafka import config as kafka_config
from connectors.kafka.dead_letters import producer_config
from connectors.kafka.partitioning import partition_for
from dataflows.testing import (
    RunningFlow,
    application_events,
    converged,
    expected_mirror,
    person,
    source_rows,
    target_state,
)
from smartsync.core.catalog import Direction, load_catalog
from smartsync.monitoring.leak_scan import scan_database, scan_table

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
C2W = Direction.CITIZEN_TO_WAREHOUSE


def _base() -> int:
    return random.randrange(10**8, 9 * 10**8)


def truncate_targets(conn: psycopg.Connection[Any], direction: Direction) -> None:
    tables = ", ".join(s.target for s in CAT.event_syncs(direction))
    conn.execute(f"TRUNCATE {tables}")


def insert_golden(conn: psycopg.Connection[Any], cid: int) -> None:
    p = person(cid)
    conn.execute(
        "INSERT INTO public.golden_records (citizen_id, jan_aadhaar, aadhaar, full_name, date_of_birth, gender, "
        "district_id, address, mobile, email, income_band, vulnerability_level, verification_status) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, '3-5L', 'medium', 'verified')",
        (
            cid,
            p["jan_aadhaar"],
            p["aadhaar"],
            p["full_name"],
            date(1960 + cid % 40, 1 + cid % 12, 1 + cid % 28),
            p["gender"],
            p["district_id"],
            p["address"],
            p["mobile"],
            p["email"],
        ),
    )


def insert_citizen(conn: psycopg.Connection[Any], cid: int) -> None:
    p = person(cid)
    conn.execute(
        "INSERT INTO public.citizens (citizen_id, jan_aadhaar, aadhaar, full_name, date_of_birth, gender, district_id, "
        "address, mobile, email, verification_status) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending')",
        (
            cid,
            p["jan_aadhaar"],
            p["aadhaar"],
            p["full_name"],
            date(1970, 1, 1 + cid % 28),
            p["gender"],
            p["district_id"],
            p["address"],
            p["mobile"],
            p["email"],
        ),
    )


def produce(bootstrap: str, messages: list[tuple[str, bytes | None, bytes | None]]) -> None:
    producer = Producer(producer_config(bootstrap, "smartsync-tests"))
    for topic, key, value in messages:
        producer.produce(topic, key=key, value=value)
    assert producer.flush(15) == 0


def test_warehouse_to_citizen_every_sync_arrives_masked(
    tmp_path: Path,
    wconn: psycopg.Connection[Any],
    cconn: psycopg.Connection[Any],
    kafka_bootstrap: str,
    citizen_dsn: str,
) -> None:
    truncate_targets(cconn, W2C)
    base = _base()
    ids = [base + i for i in range(6)]
    forecasts = [
        ForecastCallback(
            forecast_id=uuid.uuid4(),
            citizen_id=ids[i],
            scheme_code="OAP",
            forecast_amount=Decimal("18000.00"),
            forecast_period="2027-Q1",
            confidence=Decimal("0.870"),
            generated_at=datetime(2026, 11, 21, 9, 30, tzinfo=UTC),
        )
        for i in range(3)
    ]
    alerts = [
        AlertCallback(
            alert_id=uuid.uuid4(),
            citizen_id=ids[i],
            source_model="AI-PLATFORM-09",
            alert_type="proactive_inclusion",
            severity="high",
            message=f"alert {i}",
            created_at=datetime(2026, 11, 21, 4, 0, tzinfo=UTC),
        )
        for i in range(2)
    ]
    with RunningFlow(W2C, tmp_path, workers=2) as flow:
        for cid in ids:
            insert_golden(wconn, cid)
            wconn.execute(
                "INSERT INTO public.profile_360 (citizen_id, full_name, district_id, jan_aadhaar, mobile, email, "
                "income_band, vulnerability_level, eligible_scheme_count, last_benefit_date, risk_score) "
                "VALUES (%s, %s, 3, %s, %s, %s, '1-3L', 'high', 4, '2026-10-01', 0.2500)",
                (cid, f"P {cid}", person(cid)["jan_aadhaar"], person(cid)["mobile"], person(cid)["email"]),
            )
            wconn.execute(
                "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
                "VALUES (%s, %s, 'OAP', 'pending', 0.1000)",
                (cid, cid),
            )
        wconn.execute(
            "UPDATE public.golden_records SET mobile = '9123456789', email = 'new@example.net' WHERE citizen_id = %s",
            (ids[0],),
        )
        wconn.execute("DELETE FROM public.golden_records WHERE citizen_id = %s", (ids[1],))
        wconn.execute("UPDATE public.profile_360 SET full_name = 'Renamed' WHERE citizen_id = %s", (ids[2],))
        wconn.execute("UPDATE public.profile_360 SET risk_score = 0.9000 WHERE citizen_id = %s", (ids[3],))
        wconn.execute("DELETE FROM public.profile_360 WHERE citizen_id = %s", (ids[4],))
        wconn.execute(
            "UPDATE decision.applications SET status = 'approved', decision = 'approve', decided_at = now() "
            "WHERE application_id = ANY(%s)",
            (ids[:2],),
        )
        wconn.execute("DELETE FROM decision.applications WHERE application_id = %s", (ids[5],))
        accepted = int(time.time() * 1_000_000)
        callbacks = [encode(CAT.sync("benefit_forecasts"), f, accepted + i) for i, f in enumerate(forecasts)]
        callbacks += [encode(CAT.sync("ml_alerts"), a, accepted + 10 + i) for i, a in enumerate(alerts)]
        produce(kafka_bootstrap, [(m.topic, m.key, m.value) for m in callbacks])

        for name in ("golden_records", "profile_summary", "application_decisions"):
            sync = CAT.sync(name)
            column = sync.key[0]
            expected = expected_mirror(sync, wconn, column, ids)
            flow.wait(converged(sync, cconn, column, ids, expected), what=f"sync {name}")
        expected_forecasts = {(f.forecast_id,): f.model_dump() for f in forecasts}
        expected_alerts = {(a.alert_id,): {**a.model_dump(), "severity": a.severity.value} for a in alerts}
        flow.wait(
            lambda: target_state(CAT.sync("benefit_forecasts"), cconn, "citizen_id", ids) == expected_forecasts,
            what="forecast callbacks",
        )
        flow.wait(
            lambda: target_state(CAT.sync("ml_alerts"), cconn, "citizen_id", ids) == expected_alerts,
            what="ML-alert callbacks",
        )
        assert flow.exit_codes() == [None]

    # The portal rows are masked and the unchanged-columns update wrote nothing new.
    profile = source_rows(cconn, "public.profile_data", "citizen_id", [ids[0]])[0]
    assert profile["mobile"] == "******6789"
    assert profile["email"] == "n***@example.net"
    assert profile["aadhaar"] == "***MASKED***"
    assert profile["income_band"] == "CONFIDENTIAL"
    assert profile["_source_lsn"] > 0
    # The leak scanner finds the personal data in the warehouse, and none in what the flow wrote.
    assert not scan_table(wconn, "public.golden_records", database="smart_warehouse").clean
    report = scan_database(citizen_dsn, CAT, tables=[s.target for s in CAT.event_syncs(W2C)])
    assert report.clean, report.findings[:5]
    assert report.scanned["smart_citizen.public.profile_data"] >= 5


def test_citizen_to_warehouse_every_sync_arrives(
    tmp_path: Path, wconn: psycopg.Connection[Any], cconn: psycopg.Connection[Any]
) -> None:
    truncate_targets(wconn, C2W)
    base = _base()
    ids = [base + i for i in range(4)]
    with RunningFlow(C2W, tmp_path, workers=2) as flow:
        for cid in ids:
            insert_citizen(cconn, cid)
            cconn.execute(
                "INSERT INTO public.service_applications (application_id, citizen_id, scheme_code, status) "
                "VALUES (%s, %s, 'OAP', 'submitted')",
                (cid, cid),
            )
            cconn.execute(
                "INSERT INTO public.documents (document_id, citizen_id, application_id, document_type, file_name, "
                "mime_type, size_bytes) VALUES (%s, %s, %s, 'income_certificate', %s, 'application/pdf', 2048)",
                (cid, cid, cid, f"doc-{cid}.pdf"),
            )
        cconn.execute(
            "UPDATE public.citizens SET mobile = '9000000001', verification_status = 'verified' WHERE citizen_id = %s",
            (ids[0],),
        )
        cconn.execute("DELETE FROM public.citizens WHERE citizen_id = %s", (ids[1],))
        cconn.execute(
            "UPDATE public.service_applications SET status = 'in_review' WHERE application_id = %s", (ids[0],)
        )
        cconn.execute(
            "UPDATE public.service_applications SET status = 'withdrawn' WHERE application_id = %s", (ids[1],)
        )
        cconn.execute(
            "UPDATE public.service_applications SET scheme_code = 'OAP2' WHERE application_id = %s", (ids[2],)
        )
        cconn.execute("UPDATE public.documents SET verification_status = 'verified' WHERE document_id = %s", (ids[0],))
        cconn.execute("DELETE FROM public.documents WHERE document_id = %s", (ids[1],))

        for name in ("profile_updates", "document_metadata"):
            sync = CAT.sync(name)
            expected = expected_mirror(sync, cconn, sync.key[0], ids)
            flow.wait(converged(sync, wconn, sync.key[0], ids, expected), what=f"sync {name}")
        expected_events = {
            ids[0]: [("submitted", "submitted"), ("status_changed", "in_review")],
            ids[1]: [("submitted", "submitted"), ("withdrawn", "withdrawn")],
            ids[2]: [("submitted", "submitted")],
            ids[3]: [("submitted", "submitted")],
        }

        flow.wait(lambda: application_events(wconn, ids) == expected_events, what="application events")
        assert flow.exit_codes() == [None]
    # Only the portal's columns were written; the warehouse-only ones keep their defaults.
    golden = source_rows(wconn, "public.golden_records", "citizen_id", [ids[0]])[0]
    assert golden["mobile"] == "9000000001"
    assert golden["income_band"] is None
    assert golden["_source_lsn"] > 0
    occurred = wconn.execute(
        "SELECT occurred_at, _source_ts FROM decision.application_events WHERE application_id = %s", (ids[0],)
    ).fetchall()
    assert all(o == ts and o is not None for o, ts in occurred)


def _top5(wconn: psycopg.Connection[Any], citizens: list[int]) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = wconn.execute(
        "SELECT citizen_id, scheme_code, eligibility_score, status, evaluated_at FROM ("
        "  SELECT *, row_number() OVER (PARTITION BY citizen_id ORDER BY eligibility_score DESC, scheme_code) AS r"
        "  FROM eligibility.eligibility_snapshots WHERE citizen_id = ANY(%s) AND status = 'eligible') t "
        "WHERE r <= 5",
        (citizens,),
    ).fetchall()
    names = ("citizen_id", "scheme_code", "eligibility_score", "status", "evaluated_at")
    return {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in rows}


def test_eligibility_hints_keep_each_citizens_top_five_across_a_restart(
    tmp_path: Path, wconn: psycopg.Connection[Any], cconn: psycopg.Connection[Any]
) -> None:
    cconn.execute("TRUNCATE public.eligibility_hints")
    sync = CAT.sync("eligibility_hints")
    a, b = _base(), _base()
    flow = RunningFlow(W2C, tmp_path, workers=2, snapshot_interval_s=1)

    def hints() -> dict[tuple[Any, ...], dict[str, Any]]:
        return target_state(sync, cconn, "citizen_id", [a, b])

    def snap(cid: int, scheme: str, score: str, status: str = "eligible") -> None:
        wconn.execute(
            "INSERT INTO eligibility.eligibility_snapshots (citizen_id, scheme_code, eligibility_score, status) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (citizen_id, scheme_code) DO UPDATE SET "
            "eligibility_score = EXCLUDED.eligibility_score, status = EXCLUDED.status, evaluated_at = now()",
            (cid, scheme, score, status),
        )

    with flow:
        for i in range(8):
            snap(a, f"S{i}", f"0.{10 + i * 10}")
        snap(a, "NE", "0.9900", "not_eligible")
        for i in range(3):
            snap(b, f"S{i}", f"0.{50 + i}")
        flow.wait(lambda: hints() == _top5(wconn, [a, b]), what="first top 5")
        assert {k[1] for k in hints() if k[0] == a} == {"S3", "S4", "S5", "S6", "S7"}
        time.sleep(2.5)  # let a snapshot hold the state
        flow.kill()
    # Changes while the flow is down; the restarted flow must still know S2 (in its state only).
    snap(a, "S1", "0.9500")  # enters, pushes S3 out
    snap(a, "S7", "0.0500", "not_eligible")  # leaves; S3 comes back from the state
    wconn.execute("DELETE FROM eligibility.eligibility_snapshots WHERE citizen_id = %s AND scheme_code = 'S6'", (a,))
    snap(b, "S0", "0.0100")
    with flow:
        flow.wait(lambda: hints() == _top5(wconn, [a, b]), what="top 5 after the restart")
        assert {k[1] for k in hints() if k[0] == a} == {"S1", "S2", "S3", "S4", "S5"}


def test_a_flow_runs_as_two_processes(
    tmp_path: Path, wconn: psycopg.Connection[Any], cconn: psycopg.Connection[Any]
) -> None:
    truncate_targets(wconn, C2W)
    base = _base()
    ids = [base + i for i in range(40)]
    with RunningFlow(C2W, tmp_path, processes=2, workers=1) as flow:
        for cid in ids:
            insert_citizen(cconn, cid)
            cconn.execute(
                "INSERT INTO public.documents (document_id, citizen_id, document_type, file_name, mime_type, "
                "size_bytes) "
                "VALUES (%s, %s, 'photo', 'p.jpg', 'image/jpeg', 10)",
                (cid, cid),
            )
        for name in ("profile_updates", "document_metadata"):
            sync = CAT.sync(name)
            expected = expected_mirror(sync, cconn, sync.key[0], ids)
            flow.wait(converged(sync, wconn, sync.key[0], ids, expected), what=f"sync {name}")
        assert flow.exit_codes() == [None, None]
        # Both processes read partitions (each Kafka partition belongs to one worker of the cluster).
        per_process = flow.metric_by_process("smartsync_events_in_total", flow=C2W.value)
        assert len(per_process) == 2
        assert all(n > 0 for n in per_process), per_process


def _events_for_key(bootstrap: str, topic: str, partitions: int, key: bytes) -> int:
    """How many change events (not tombstones) a topic holds for one message key."""
    partition = partition_for(key, partitions)
    consumer = Consumer(
        kafka_config.consumer_config(
            bootstrap, group_id="smartsync-tests", **{"enable.auto.commit": False, "enable.partition.eof": True}
        )
    )
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
        if high <= low:
            return 0
        consumer.assign([TopicPartition(topic, partition, low)])
        count = 0
        while True:
            msg = consumer.poll(5)
            assert msg is not None, "the topic did not reach its end"
            if msg.error():
                break
            if msg.key() == key and msg.value() is not None:
                count += 1
            if (msg.offset() or 0) + 1 >= high:
                break
        return count
    finally:
        consumer.close()


def test_no_echo_between_golden_records_and_the_portal(
    tmp_path: Path, wconn: psycopg.Connection[Any], cconn: psycopg.Connection[Any], kafka_bootstrap: str
) -> None:
    cid, sentinel = _base(), _base()
    with RunningFlow(C2W, tmp_path / "c2w") as c2w, RunningFlow(W2C, tmp_path / "w2c") as w2c:
        insert_citizen(cconn, cid)
        cconn.execute("UPDATE public.citizens SET mobile = '9811122233' WHERE citizen_id = %s", (cid,))

        def profile(c: int) -> dict[str, Any] | None:
            rows = source_rows(cconn, "public.profile_data", "citizen_id", [c])
            return rows[0] if rows else None

        w2c.wait(
            lambda: c2w.check_alive() and (profile(cid) or {}).get("mobile") == "******2233",
            what="citizen → golden record → profile",
        )
        # A barrier: a later change of another citizen has travelled the whole way too.
        insert_citizen(cconn, sentinel)
        w2c.wait(lambda: c2w.check_alive() and profile(sentinel) is not None, what="sentinel change")
        assert c2w.exit_codes() == [None]
        assert w2c.exit_codes() == [None]
    key = f'{{"citizen_id":{cid}}}'.encode()
    citizens_topic = CAT.sync("profile_updates").topic
    golden_topic = CAT.sync("golden_records").topic
    assert citizens_topic is not None
    assert golden_topic is not None
    # The portal row changed twice (insert, update) and nothing the flows wrote came back to it.
    assert _events_for_key(kafka_bootstrap, citizens_topic.name, citizens_topic.partitions, key) == 2
    # The golden record changed at most once per portal change (a batch may fold both into one write): no ping-pong.
    assert 1 <= _events_for_key(kafka_bootstrap, golden_topic.name, golden_topic.partitions, key) <= 2
    citizen = source_rows(cconn, "public.citizens", "citizen_id", [cid])[0]
    assert citizen["mobile"] == "9811122233"
