"""Poison events: any exception while decoding one event becomes a dead letter (pure)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from connectors.debezium.envelope import Origin
from connectors.kafka.dead_letters import H_TRUNCATED, DeadLetter, fit
from dataflows.decode import SyncDecoder, unexpected_reason
from smartsync.core.catalog import load_catalog

CATALOG = load_catalog()
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
}


def _source(**extra: Any) -> dict[str, Any]:
    return {"connector": "postgresql", "ts_us": 1795295810286812, "lsn": 32969856, **extra}


def _topic(name: str) -> str:
    topic = CATALOG.sync(name).topic
    assert topic is not None
    return topic.name


def _golden(value: bytes) -> list[Any]:
    return SyncDecoder(CATALOG.sync("golden_records")).decode(Origin(_topic("golden_records"), 0, 7, b"k", value))


def _good() -> bytes:
    return orjson.dumps({"op": "c", "before": None, "after": GOLDEN_AFTER, "source": _source()})


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (_good().replace(b'"Asha Devi"', b'"Asha\xff\xfeDevi"'), "not valid UTF-8"),
        (_good().replace(b'"Asha Devi"', b"[" * 50_000 + b"]" * 50_000), "depth limit"),
        (orjson.dumps({"op": "c", "after": GOLDEN_AFTER, "source": _source(ts_us=9 * 10**18)}), "source.ts_us out of"),
        (orjson.dumps({"op": "c", "after": GOLDEN_AFTER, "source": {"lsn": 1, "ts_ms": -(10**17)}}), "source.ts_ms"),
    ],
    ids=["invalid-utf8-fast-parser", "deep-nesting", "ts_us-overflow", "ts_ms-overflow"],
)
def test_a_poison_event_becomes_a_dead_letter_with_its_reason(value: bytes, fragment: str) -> None:
    (letter,) = _golden(value)
    assert isinstance(letter, DeadLetter)
    assert fragment in letter.reason
    assert letter.origin.value == value
    assert "Asha" not in letter.reason  # no personal data in a reason


def test_an_unforeseen_exception_becomes_a_dead_letter_without_the_message_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    decoder = SyncDecoder(CATALOG.sync("golden_records"))

    def boom(_origin: Origin) -> list[Any]:
        msg = "invalid literal for int(): 'Asha Devi'"
        raise ValueError(msg)

    monkeypatch.setattr(decoder, "_decode", boom)
    (letter,) = decoder.decode(Origin(_topic("golden_records"), 0, 7, b"k", _good()))
    assert isinstance(letter, DeadLetter)
    assert letter.reason.startswith("unexpected ValueError while decoding")
    assert "Asha" not in letter.reason
    assert "position 3" in unexpected_reason(UnicodeDecodeError("utf-8", b"abc\xff", 3, 4, "invalid start byte"))


def test_a_letter_within_the_limit_is_left_whole() -> None:
    headers: list[tuple[str, str | bytes | None]] = [("smartsync.reason", b"r")]
    assert fit(b"key", b"v" * 1000, headers, 10_000) == (b"key", b"v" * 1000, headers)


def test_an_oversized_letter_keeps_its_head_and_says_its_size() -> None:
    headers: list[tuple[str, str | bytes | None]] = [("smartsync.source.offset", b"42")]
    value = b"v" * 300_000
    key, kept, out = fit(b"key", value, headers, 50_000)
    assert key == b"key"
    assert kept is not None
    assert value.startswith(kept)
    assert len(kept) + len(key) + sum(len(k) + len(v or b"") for k, v in out) < 50_000
    assert (H_TRUNCATED, b"300000") in out
    assert ("smartsync.source.offset", b"42") in out  # the pointer to the original stays
