"""The pure parts of ``smartsync trace``: keys as Debezium writes them, masking, the verdict."""

from __future__ import annotations

import json

import pytest

from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ConfigurationError
from smartsync.monitoring.trace import (
    KafkaEvent,
    SourceRow,
    TargetRow,
    assess,
    event_of,
    masked,
    message_key,
    parse_key,
    portal_rules,
)

CAT = load_catalog()


def test_keys_are_typed_as_the_source_has_them_and_encoded_as_debezium_does() -> None:
    golden = CAT.sync("golden_records")
    key = parse_key(golden, "42")
    assert key == {"citizen_id": 42}
    assert message_key(golden, key) == b'{"citizen_id":42}'
    hints = CAT.sync("eligibility_hints")  # composite key; its topic is keyed by citizen only
    assert message_key(hints, parse_key(hints, "7,RJ-EDU-001")) == b'{"citizen_id":7}'
    with pytest.raises(ConfigurationError):
        parse_key(hints, "7")
    with pytest.raises(ConfigurationError):
        parse_key(golden, "abc")


def test_personal_columns_are_masked_never_clear() -> None:
    clear = {"citizen_id": 1, "aadhaar": "234123412346", "mobile": "9876543210"}
    for name in ("golden_records", "profile_updates"):  # the portal's masks, and the warehouse's clear columns
        row = masked(CAT.sync(name), clear, portal_rules(CAT))
        assert row["citizen_id"] == "1", name
        assert row["aadhaar"] != "234123412346" and row["mobile"] != "9876543210", name


def test_the_verdict_says_when_the_target_is_behind() -> None:
    value = json.dumps({"op": "u", "source": {"lsn": 200, "ts_ms": 1_700_000_000_000}}).encode()
    event = event_of("t", 3, 9, value)
    assert (event.lsn, event.op, event.partition) == (200, "u", 3)
    source = SourceRow(columns={}, changed_at="2026-01-01T00:00:00+00:00")
    behind = TargetRow(columns={}, source_lsn=100, source_ts=None, synced_at="2026-01-01T00:00:05+00:00")
    lag, is_behind, verdict = assess(source, event, behind)
    assert lag == 5.0 and is_behind and "200 > target _source_lsn 100" in verdict
    caught_up = behind.model_copy(update={"source_lsn": 200})
    assert assess(source, event, caught_up)[1] is False
    assert assess(source, None, None)[1] is True
    assert assess(None, KafkaEvent(topic="t", partition=0, offset=1, op="d", lsn=None, at=None), None)[1] is False
