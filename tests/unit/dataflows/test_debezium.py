"""Decoding Debezium envelopes and callback messages into target changes (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
import pytest

from connectors.debezium.envelope import TOAST_PLACEHOLDER, Origin, commit_time
from connectors.kafka.dead_letters import DeadLetter
from connectors.postgres.writer import TargetChange
from dataflows.decode import Router, SyncDecoder, event_type
from dataflows.top_n import Evaluation
from smartsync.core.catalog import Direction, load_catalog

CATALOG = load_catalog()
LSN = 32969856
TS_US = 1795295810286812


def _source(**extra: Any) -> dict[str, Any]:
    return {"connector": "postgresql", "ts_ms": TS_US // 1000, "ts_us": TS_US, "lsn": LSN, "snapshot": "false", **extra}


def _msg(topic: str, value: dict[str, Any] | bytes | None, key: bytes = b'{"citizen_id":9}') -> Origin:
    raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
    return Origin(topic, 3, 42, key, raw)


GOLDEN_AFTER = {
    "citizen_id": 9,
    "jan_aadhaar": "1234569012",
    "aadhaar": "123456789012",
    "full_name": "Asha Devi",
    "date_of_birth": 3685,
    "gender": "F",
    "district_id": 3,
    "address": "12 Main Rd",
    "mobile": "9876543210",
    "email": "asha@example.com",
    "income_band": "3-5L",
    "vulnerability_level": "high",
    "verification_status": "verified",
    "updated_at": "2026-11-21T21:10:15.777262Z",
    "_source_lsn": None,
    "_source_ts": None,
    "_synced_at": "2026-11-21T21:10:15.777262Z",
}


def _decoder(name: str) -> SyncDecoder:
    return SyncDecoder(CATALOG.sync(name))


def _topic(name: str) -> str:
    topic = CATALOG.sync(name).topic
    assert topic is not None
    return topic.name


def test_golden_record_insert_is_mapped_converted_and_masked() -> None:
    out = _decoder("golden_records").decode(
        _msg(_topic("golden_records"), {"before": None, "after": GOLDEN_AFTER, "source": _source(), "op": "c"})
    )
    assert len(out) == 1
    item = out[0]
    assert isinstance(item, TargetChange)
    ch = item.change
    assert ch.key == (9,)
    assert ch.position == LSN
    assert ch.source_ts == datetime(2026, 11, 21, 21, 16, 50, 286812, tzinfo=UTC)
    assert ch.row is not None
    assert ch.row["date_of_birth"] == date(1980, 2, 3)
    assert ch.row["updated_at"] == datetime(2026, 11, 21, 21, 10, 15, 777262, tzinfo=UTC)
    assert ch.row["income_band"] == "CONFIDENTIAL"
    assert ch.row["aadhaar"] == "***MASKED***"
    assert ch.row["mobile"] == "******3210"
    assert ch.row["jan_aadhaar"] == "****-****-9012"
    assert ch.row["email"] == "a***@example.com"
    assert "_source_lsn" not in ch.row
    assert set(ch.row) == set(CATALOG.sync("golden_records").columns)


def test_a_delete_carries_the_key_of_the_before_image() -> None:
    out = _decoder("golden_records").decode(
        _msg(_topic("golden_records"), {"before": GOLDEN_AFTER, "after": None, "source": _source(), "op": "d"})
    )
    assert isinstance(out[0], TargetChange)
    assert out[0].change.key == (9,)
    assert out[0].change.row is None


def test_commit_time_from_microseconds_else_milliseconds() -> None:
    assert commit_time({"ts_us": TS_US, "ts_ms": 1}) == datetime(2026, 11, 21, 21, 16, 50, 286812, tzinfo=UTC)
    assert commit_time({"ts_us": None, "ts_ms": TS_US // 1000}) == datetime(
        2026, 11, 21, 21, 16, 50, 286000, tzinfo=UTC
    )
    assert commit_time({"ts_us": "soon"}) is None


def test_a_composite_key_with_a_null_is_refused() -> None:
    env = {
        "before": None,
        "source": _source(),
        "op": "c",
        "after": {
            "citizen_id": 9,
            "scheme_code": None,
            "eligibility_score": "0.5",
            "status": "eligible",
            "evaluated_at": None,
            "updated_at": None,
        },
    }
    out = _decoder("eligibility_hints").decode(_msg(_topic("eligibility_hints"), env))
    assert isinstance(out[0], DeadLetter)
    assert "null in key ['citizen_id', 'scheme_code']" in out[0].reason


def test_tombstones_are_ignored() -> None:
    assert _decoder("golden_records").decode(_msg(_topic("golden_records"), None)) == []


def test_an_update_of_unmapped_columns_only_is_skipped() -> None:
    before = {
        "citizen_id": 1,
        "full_name": "A",
        "district_id": 1,
        "jan_aadhaar": None,
        "mobile": None,
        "email": None,
        "income_band": None,
        "vulnerability_level": None,
        "eligible_scheme_count": 0,
        "active_application_count": 0,
        "last_benefit_date": None,
        "risk_score": "0.1000",
        "updated_at": "2026-11-21T21:10:15.777262Z",
    }
    after = {**before, "risk_score": "0.2000"}
    env = {"before": before, "after": after, "source": _source(), "op": "u"}
    assert _decoder("profile_summary").decode(_msg(_topic("profile_summary"), env)) == []
    changed = {**env, "after": {**after, "full_name": "B"}}
    assert len(_decoder("profile_summary").decode(_msg(_topic("profile_summary"), changed))) == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"{not json", "undecodable JSON"),
        (b"[1, 2]", "expected a JSON object"),
        (orjson.dumps({"before": None, "after": GOLDEN_AFTER, "source": _source()}), "missing field 'op'"),
        (orjson.dumps({"before": None, "after": GOLDEN_AFTER, "op": "c"}), "missing field 'source'"),
        (orjson.dumps({"before": None, "after": None, "source": _source(), "op": "c"}), "missing field 'after'"),
        (orjson.dumps({"before": None, "after": None, "source": _source(), "op": "t"}), "unsupported op 't'"),
        (orjson.dumps({"after": GOLDEN_AFTER, "source": {"ts_us": 1}, "op": "c"}), "missing field 'source.lsn'"),
        (
            orjson.dumps({"after": {**GOLDEN_AFTER, "district_id": "3"}, "source": _source(), "op": "c"}),
            "column 'district_id': expected an integer",
        ),
        (
            orjson.dumps({"after": {**GOLDEN_AFTER, "date_of_birth": "yesterday"}, "source": _source(), "op": "c"}),
            "expected days since",
        ),
        (
            orjson.dumps(
                {"after": {**GOLDEN_AFTER, "updated_at": "2026-11-21T21:10:15"}, "source": _source(), "op": "c"}
            ),
            "with a time zone",
        ),
        (
            orjson.dumps(
                {"after": {k: v for k, v in GOLDEN_AFTER.items() if k != "gender"}, "source": _source(), "op": "c"}
            ),
            "missing field 'gender'",
        ),
        (
            orjson.dumps({"after": {**GOLDEN_AFTER, "address": TOAST_PLACEHOLDER}, "source": _source(), "op": "c"}),
            "TOAST",
        ),
        (orjson.dumps({"after": {**GOLDEN_AFTER, "citizen_id": None}, "source": _source(), "op": "c"}), "null in key"),
    ],
)
def test_bad_messages_become_dead_letters_with_a_reason(value: bytes, reason: str) -> None:
    origin = _msg(_topic("golden_records"), value)
    out = _decoder("golden_records").decode(origin)
    assert len(out) == 1
    assert isinstance(out[0], DeadLetter)
    assert reason in out[0].reason
    assert out[0].origin == origin
    assert out[0].sync == "golden_records"


def test_numeric_strings_become_decimals() -> None:
    after = {
        "application_id": 5,
        "citizen_id": 9,
        "scheme_code": "OAP",
        "status": "approved",
        "decision": "approve",
        "decision_reason": None,
        "risk_score": "0.8123",
        "decided_at": None,
        "updated_at": "2026-11-21T21:10:15.777262Z",
    }
    out = _decoder("application_decisions").decode(
        _msg(_topic("application_decisions"), {"after": after, "source": _source(), "op": "u", "before": None})
    )
    assert isinstance(out[0], TargetChange)
    assert out[0].change.row is not None
    assert out[0].change.row["risk_score"] == Decimal("0.8123")
    bad = _decoder("application_decisions").decode(
        _msg(
            _topic("application_decisions"), {"after": {**after, "risk_score": "high"}, "source": _source(), "op": "c"}
        )
    )
    assert isinstance(bad[0], DeadLetter)
    assert "expected a decimal string" in bad[0].reason


APP = {
    "application_id": 77,
    "citizen_id": 9,
    "scheme_code": "OAP",
    "status": "submitted",
    "submitted_at": "2026-11-21T21:10:15.777262Z",
    "updated_at": "2026-11-21T21:10:15.777262Z",
}


def _app(op: str, before: dict[str, Any] | None, after: dict[str, Any] | None) -> list[Any]:
    env = {"before": before, "after": after, "source": _source(), "op": op}
    return _decoder("application_submissions").decode(_msg(_topic("application_submissions"), env))


def test_application_events_are_appended_keyed_on_the_source_position() -> None:
    out = _app("c", None, APP)
    assert isinstance(out[0], TargetChange)
    ch = out[0].change
    assert ch.key == (77, LSN)
    assert ch.row == {
        "application_id": 77,
        "citizen_id": 9,
        "scheme_code": "OAP",
        "status": "submitted",
        "source_lsn": LSN,
        "event_type": "submitted",
        "occurred_at": datetime(2026, 11, 21, 21, 16, 50, 286812, tzinfo=UTC),
    }


def test_application_event_types() -> None:
    withdrawn = _app("u", APP, {**APP, "status": "withdrawn"})
    assert isinstance(withdrawn[0], TargetChange)
    assert withdrawn[0].change.row is not None
    assert withdrawn[0].change.row["event_type"] == "withdrawn"
    changed = _app("u", APP, {**APP, "status": "in_review"})
    assert isinstance(changed[0], TargetChange)
    assert changed[0].change.row is not None
    assert changed[0].change.row["event_type"] == "status_changed"
    assert _app("u", APP, {**APP, "scheme_code": "X"}) == []  # no status change, no event
    assert _app("d", APP, None) == []
    assert event_type("r", None, APP) == "submitted"


def test_eligibility_snapshots_become_evaluations_of_their_citizen() -> None:
    after = {
        "citizen_id": 9,
        "scheme_code": "OAP",
        "eligibility_score": "0.8123",
        "status": "eligible",
        "evaluated_at": "2026-11-21T21:16:50.283942Z",
        "updated_at": "2026-11-21T21:16:50.283942Z",
    }
    out = _decoder("eligibility_hints").decode(
        _msg(_topic("eligibility_hints"), {"before": None, "after": after, "source": _source(), "op": "c"})
    )
    ev = out[0]
    assert isinstance(ev, Evaluation)
    assert ev.group == "9"
    assert ev.key == (9, "OAP")
    assert ev.rank == Decimal("0.8123")
    assert ev.status == "eligible"
    assert ev.row is not None
    assert set(ev.row) == {"citizen_id", "scheme_code", "eligibility_score", "status", "evaluated_at"}
    gone = _decoder("eligibility_hints").decode(
        _msg(_topic("eligibility_hints"), {"before": after, "after": None, "source": _source(), "op": "d"})
    )
    assert isinstance(gone[0], Evaluation)
    assert gone[0].row is None


FORECAST = {
    "forecast_id": "6f1c2a52-2b8e-4d0c-9a57-3c1b7d9e4f10",
    "citizen_id": 123,
    "scheme_code": "OAP",
    "forecast_amount": "18000.00",
    "forecast_period": "2027-Q1",
    "confidence": "0.870",
    "generated_at": "2026-11-21T09:30:00+05:30",
}


def _callback(after: dict[str, Any], **source: Any) -> dict[str, Any]:
    return {
        "op": "c",
        "before": None,
        "after": after,
        "source": {"connector": "callback", "sync": "benefit_forecasts", "ts_us": TS_US, **source},
    }


def test_callbacks_use_the_acceptance_time_as_position() -> None:
    out = _decoder("benefit_forecasts").decode(_msg(_topic("benefit_forecasts"), _callback(FORECAST)))
    assert isinstance(out[0], TargetChange)
    ch = out[0].change
    assert ch.position == TS_US
    assert ch.key == (UUID(str(FORECAST["forecast_id"])),)
    assert ch.row is not None
    assert ch.row["forecast_amount"] == Decimal("18000.00")
    assert ch.row["generated_at"].utcoffset().total_seconds() == 5.5 * 3600


def test_a_callback_of_another_sync_or_without_acceptance_time_is_a_dead_letter() -> None:
    wrong = _decoder("benefit_forecasts").decode(
        _msg(_topic("benefit_forecasts"), _callback(FORECAST, sync="ml_alerts"))
    )
    assert isinstance(wrong[0], DeadLetter)
    no_ts = _callback(FORECAST)
    del no_ts["source"]["ts_us"]
    missing = _decoder("benefit_forecasts").decode(_msg(_topic("benefit_forecasts"), no_ts))
    assert isinstance(missing[0], DeadLetter)
    assert "source.ts_us" in missing[0].reason
    bad_uuid = _decoder("benefit_forecasts").decode(
        _msg(_topic("benefit_forecasts"), _callback({**FORECAST, "forecast_id": "nope"}))
    )
    assert isinstance(bad_uuid[0], DeadLetter)


def test_router_reads_every_event_topic_of_its_direction() -> None:
    for direction in Direction:
        router = Router(CATALOG, direction)
        assert router.topics == sorted(s.topic.name for s in CATALOG.event_syncs(direction) if s.topic)
    w2c = Router(CATALOG, Direction.WAREHOUSE_TO_CITIZEN)
    assert "callbacks.benefit_forecasts" in w2c.topics
    assert "callbacks.ml_alerts" in w2c.topics
    stray = w2c.decode(_msg("citizen.public.citizens", b"{}"))
    assert isinstance(stray[0], DeadLetter)
