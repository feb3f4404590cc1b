"""The monitor's lag arithmetic with stand-ins for Kafka and the target (real: tests/integration/monitoring)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from connectors.postgres.apply import RowChange
from connectors.postgres.writer import TargetChange
from smartsync.core.catalog import load_catalog
from smartsync.monitoring.exporter import PartitionState, SyncLag, delivered, partition_lag

SYNC = "profile_summary"


def _change(row: dict[str, Any] | None, position: int) -> TargetChange:
    return TargetChange(SYNC, RowChange((1,), row, position), None)  # type: ignore[arg-type]


def test_delivered_means_the_target_holds_this_position_or_a_newer_one() -> None:
    assert delivered(_change({"a": 1}, 10), 10)
    assert delivered(_change({"a": 1}, 10), 11)
    assert not delivered(_change({"a": 1}, 10), 9)
    assert not delivered(_change({"a": 1}, 10), None)
    assert delivered(_change(None, 10), None)  # a delete: no row left
    assert not delivered(_change(None, 10), 9)  # an older row is still there


def test_partition_lag_is_the_markers_age_and_the_messages_after_it() -> None:
    assert partition_lag(PartitionState(), 100, 1000.0) == (0.0, 0)


@dataclass
class _Msg:
    offset_: int
    value_: bytes
    ts: float

    def error(self) -> None:
        return None

    def offset(self) -> int:
        return self.offset_

    def key(self) -> bytes:
        return b""

    def value(self) -> bytes:
        return self.value_

    def timestamp(self) -> tuple[int, int]:
        return 1, int(self.ts * 1000)


@dataclass
class _Kafka:
    """One partition of profile_summary's topic; the others empty."""

    messages: list[_Msg] = field(default_factory=list)
    at: int = 0
    partition: int = 0

    def get_watermark_offsets(self, tp: Any, timeout: float) -> tuple[int, int]:
        return 0, (len(self.messages) if tp.partition == 0 and tp.topic == self.topic else 0)

    def assign(self, tps: list[Any]) -> None:
        self.at = tps[0].offset

    def consume(self, num_messages: int, timeout: float) -> list[_Msg]:
        out = self.messages[self.at : self.at + num_messages]
        self.at += len(out)
        return out

    topic: str = ""


@dataclass
class _Target:
    stored: dict[tuple[Any, ...], int] = field(default_factory=dict)

    def position(self, decoder: Any, key: tuple[Any, ...]) -> int | None:
        return self.stored.get(key)


def _event(citizen_id: int, lsn: int) -> bytes:
    after = {
        "citizen_id": citizen_id,
        "full_name": "x",
        "district_id": 1,
        "jan_aadhaar": None,
        "mobile": None,
        "email": None,
        "income_band": "<1L",
        "vulnerability_level": "low",
        "eligible_scheme_count": 1,
        "active_application_count": 0,
        "last_benefit_date": None,
        "risk_score": "0.1",
        "updated_at": "2026-11-30T10:00:00Z",
    }
    source = {
        "lsn": lsn,
        "ts_ms": 1,
        "ts_us": 1000,
        "db": "smart_warehouse",
        "schema": "public",
        "table": "profile_360",
    }
    return json.dumps({"before": None, "after": after, "source": source, "op": "c", "ts_ms": 1}).encode()


def test_a_frozen_flow_passes_sixty_seconds_within_seventy_five() -> None:
    catalog = load_catalog()
    topic = catalog.sync(SYNC).topic
    assert topic is not None
    kafka, target = _Kafka(topic=topic.name), _Target()
    lag = SyncLag(catalog, kafka, target)  # type: ignore[arg-type]
    lag.decoders = {SYNC: lag.decoders[SYNC]}
    kafka.messages.append(_Msg(0, _event(7, 100), ts=1000.0))
    target.stored[(7,)] = 100  # delivered
    assert lag.measure(now=1010.0)[0][SYNC] == 0
    # The flow freezes: the next change is never written. Its age is the lag, however many follow.
    kafka.messages.append(_Msg(1, _event(8, 200), ts=1020.0))
    assert lag.measure(now=1030.0)[0][SYNC] == 10
    for i in range(2, 20):
        kafka.messages.append(_Msg(i, _event(100 + i, 200 + i), ts=1020.0 + i))
    lags, offsets = lag.measure(now=1095.0)
    assert lags[SYNC] == 75  # past the 60 s warning
    assert offsets[(topic.name, 0)] == 19
    # The flow comes back and writes everything: caught up.
    target.stored.update({(8,): 200, **{(100 + i,): 200 + i for i in range(2, 20)}})
    assert lag.measure(now=1100.0)[0][SYNC] == 0
