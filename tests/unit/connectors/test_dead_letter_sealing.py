"""Dead letters of warehouse → citizen are sealed with AES-GCM; keys rotate; errors never show a key."""

from __future__ import annotations

import base64
import json
import os

import pytest

from connectors.kafka import sealing
from smartsync.core.catalog import Direction
from smartsync.core.errors import ConfigurationError, SourceError

OLD, NEW = base64.b64encode(os.urandom(32)).decode(), base64.b64encode(os.urandom(32)).decode()
PII = b'{"after":{"aadhaar":"234567890124","mobile":"9876543210"}}'


def test_a_sealed_value_holds_no_plaintext_and_opens_again() -> None:
    ring = sealing.parse_keys(json.dumps({"k1": OLD}))
    sealed = ring.seal("value", PII)
    assert sealed is not None
    assert b"234567890124" not in sealed
    assert ring.open("k1", "value", sealed) == PII
    assert ring.seal("key", None) is None


def test_the_first_key_seals_and_older_keys_still_open() -> None:
    old = sealing.parse_keys(json.dumps({"2026-10": OLD}))
    sealed = old.seal("value", PII)
    rotated = sealing.parse_keys(json.dumps({"2026-11": NEW, "2026-10": OLD}))
    assert rotated.current == "2026-11"
    assert rotated.open("2026-10", "value", sealed) == PII


def test_a_dropped_key_or_a_tampered_letter_fails_loudly() -> None:
    sealed = sealing.parse_keys(json.dumps({"k1": OLD})).seal("value", PII)
    assert sealed is not None
    other = sealing.parse_keys(json.dumps({"k2": NEW}))
    with pytest.raises(ConfigurationError, match="does not hold"):
        other.open("k1", "value", sealed)
    ring = sealing.parse_keys(json.dumps({"k1": OLD}))
    with pytest.raises(SourceError, match="does not open"):
        ring.open("k1", "value", sealed[:-1] + bytes([sealed[-1] ^ 1]))
    with pytest.raises(SourceError):
        ring.open("k1", "key", sealed)  # a value's ciphertext cannot pass as a key's


@pytest.mark.parametrize("raw", ["{}", "not json", json.dumps({"k": "c2hvcnQ="}), json.dumps({"k": NEW[:-4] + "!!!!"})])
def test_bad_keys_fail_naming_the_setting_never_the_key(raw: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        sealing.parse_keys(raw)
    assert sealing.KEYS_VAR in str(caught.value)
    assert NEW[:20] not in str(caught.value)


def test_warehouse_to_citizen_requires_keys_and_the_other_direction_is_not_sealed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(sealing.KEYS_VAR, raising=False)
    assert sealing.sealer_for(Direction.CITIZEN_TO_WAREHOUSE) is None
    with pytest.raises(ConfigurationError, match="SMARTSYNC_DEAD_LETTER_KEYS: required"):
        sealing.sealer_for(Direction.WAREHOUSE_TO_CITIZEN)
    monkeypatch.setenv(sealing.KEYS_VAR, json.dumps({"k1": OLD}))
    ring = sealing.sealer_for(Direction.WAREHOUSE_TO_CITIZEN)
    assert ring is not None
    assert OLD not in repr(ring)
