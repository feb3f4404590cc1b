"""The message the callback service produces is what the warehouse → citizen dataflow decodes.

The encoder is ours (connectors/callbacks); the decoder is the dataflow's (connectors/debezium),
used here unchanged: a drift on either side fails this test before it fails in production.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

from connectors.callbacks.encoding import encode
from connectors.callbacks.models import AlertCallback, ForecastCallback
from connectors.debezium.envelope import Origin
from connectors.postgres.writer import TargetChange
from dataflows.decode import SyncDecoder
from smartsync.core.catalog import load_catalog


def _decode(sync_name: str, payload: ForecastCallback | AlertCallback, accepted_us: int) -> TargetChange:
    sync = load_catalog().sync(sync_name)
    message = encode(sync, payload, accepted_us)
    decoded = SyncDecoder(sync).decode(Origin(message.topic, 0, 0, message.key, message.value))
    assert len(decoded) == 1
    change = decoded[0]
    assert isinstance(change, TargetChange), change
    return change


def test_a_forecast_decodes_into_its_target_row() -> None:
    fid = uuid.uuid4()
    payload = ForecastCallback(
        forecast_id=fid,
        citizen_id=123,
        scheme_code="OLD_AGE_PENSION",
        forecast_amount=Decimal("18000.5"),
        forecast_period="2027-Q1",
        confidence=Decimal("0.87"),
        generated_at=datetime(2026, 11, 21, 4, 0, tzinfo=UTC),
    )
    accepted_us = 1_795_000_000_123_456
    change = _decode("benefit_forecasts", payload, accepted_us).change
    assert change.key == (fid,)
    assert change.position == accepted_us
    assert change.row is not None
    assert dict(change.row) == {
        "forecast_id": fid,
        "citizen_id": 123,
        "scheme_code": "OLD_AGE_PENSION",
        "forecast_amount": Decimal("18000.50"),
        "forecast_period": "2027-Q1",
        "confidence": Decimal("0.870"),
        "generated_at": datetime(2026, 11, 21, 4, 0, tzinfo=UTC),
    }


def test_an_alert_decodes_into_its_target_row() -> None:
    aid = uuid.uuid4()
    payload = AlertCallback.model_validate(
        {
            "alert_id": str(aid),
            "citizen_id": 9,
            "source_model": "AI-PLATFORM-09",
            "alert_type": "proactive_inclusion",
            "severity": "high",
            "message": "Likely eligible",
        }
    )
    accepted_us = 1_795_000_000_000_001
    change = _decode("ml_alerts", payload, accepted_us).change
    assert change.key == (aid,)
    assert change.position == accepted_us
    assert change.row is not None
    assert change.row["severity"] == "high"
    # An omitted created_at is the acceptance time, to the microsecond; so is the commit time.
    accepted = datetime.fromtimestamp(accepted_us // 1_000_000, tz=UTC).replace(microsecond=accepted_us % 1_000_000)
    assert change.row["created_at"] == accepted
    assert change.source_ts == accepted
