"""HTTP callback → Kafka → warehouse → citizen dataflow → a row in smart_citizen, all real."""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from fastapi.testclient import TestClient
from psycopg import sql

from connectors.callbacks import create_app
from dataflows.testing import RunningFlow
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import load_settings

FORECASTS = "/v1/callbacks/benefit-forecasts"
ALERTS = "/v1/callbacks/ml-alerts"


def _auth() -> dict[str, str]:
    token = next(iter(json.loads(os.environ["SMARTSYNC_CALLBACK_TOKENS"]).values()))
    return {"Authorization": f"Bearer {token}"}


def portal_row(conn: psycopg.Connection[Any], sync_name: str, key: uuid.UUID) -> dict[str, Any] | None:
    sync = load_catalog().sync(sync_name)
    schema, table = sync.target.split(".")
    query = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(sql.Identifier(schema, table), sql.Identifier(sync.key[0]))
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(query, (key,)).fetchone()


def test_posted_callbacks_become_portal_rows_and_a_resend_wins(tmp_path: Path, cconn: psycopg.Connection[Any]) -> None:
    citizen = random.randrange(10**9, 2 * 10**9)
    fid, aid = uuid.uuid4(), uuid.uuid4()
    forecast = {
        "forecast_id": str(fid),
        "citizen_id": citizen,
        "scheme_code": "OLD_AGE_PENSION",
        "forecast_amount": "18000.5",
        "forecast_period": "2027-Q1",
        "confidence": 0.87,
        "generated_at": "2026-11-21T09:30:00+05:30",
    }
    alert = {
        "alert_id": str(aid),
        "citizen_id": citizen,
        "source_model": "AI-PLATFORM-14",
        "alert_type": "benefit_expiry",
        "severity": "critical",
        "message": "Pension ends next month",
    }
    with (
        TestClient(create_app(load_settings()), headers=_auth()) as client,
        RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path, workers=2) as flow,
    ):
        assert client.post(FORECASTS, json=forecast).status_code == 202
        alert_ack = client.post(ALERTS, json=alert)
        assert alert_ack.status_code == 202

        row = flow.wait(lambda: portal_row(cconn, "benefit_forecasts", fid), timeout_s=120, what="the forecast row")
        assert row is not None
        assert row["citizen_id"] == citizen
        assert row["forecast_amount"] == Decimal("18000.50")
        assert row["confidence"] == Decimal("0.870")
        assert row["generated_at"] == datetime(2026, 11, 21, 4, 0, tzinfo=UTC)

        alert_row = flow.wait(lambda: portal_row(cconn, "ml_alerts", aid), timeout_s=120, what="the alert row")
        assert alert_row is not None
        assert alert_row["severity"] == "critical"
        assert alert_row["source_model"] == "AI-PLATFORM-14"
        accepted_us = alert_ack.json()["accepted_at_us"]
        assert alert_row["_source_lsn"] == accepted_us  # the acceptance time orders the sink's writes

        # A sender resending after a 503 (or correcting a forecast) reuses the id: the later one wins.
        assert client.post(FORECASTS, json={**forecast, "forecast_amount": 19000}).status_code == 202
        flow.wait(
            lambda: (
                (r := portal_row(cconn, "benefit_forecasts", fid)) is not None
                and r["forecast_amount"] == Decimal("19000.00")
            ),
            timeout_s=120,
            what="the resent forecast",
        )
        assert flow.exit_codes() == [None]
