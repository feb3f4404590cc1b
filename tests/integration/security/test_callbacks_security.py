"""Callbacks against the real stack: 401 without a token, 409 on a citizen change, and the portal's own guard."""

from __future__ import annotations

import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from connectors.callbacks import create_app
from dataflows.testing import RunningFlow
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.schema import migrate
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from smartsync.devstack.localstack import StackState

ALERTS = "/v1/callbacks/ml-alerts"


def _auth() -> dict[str, str]:
    token = next(iter(json.loads(os.environ["SMARTSYNC_CALLBACK_TOKENS"]).values()))
    return {"Authorization": f"Bearer {token}"}


def _alert(alert_id: uuid.UUID, citizen: int) -> dict[str, Any]:
    return {
        "alert_id": str(alert_id),
        "citizen_id": citizen,
        "source_model": "AI-PLATFORM-09",
        "alert_type": "proactive_inclusion",
        "severity": "high",
        "message": "Likely eligible",
    }


@pytest.fixture(scope="module")
def migrated(stack: StackState) -> StackState:
    # The portal's citizen guard is part of the schema: `smartsync db migrate` (idempotent) adds it.
    migrate(stack.dsn(Database.CITIZEN), Database.CITIZEN, load_catalog())
    return stack


def _service() -> TestClient:
    return TestClient(create_app(load_settings()), headers=_auth())


def test_a_callback_without_a_valid_token_gets_401_and_nothing_is_written(migrated: StackState) -> None:
    with TestClient(create_app(load_settings())) as anonymous:
        assert anonymous.post(ALERTS, json=_alert(uuid.uuid4(), 1)).status_code == 401
        forged = {"Authorization": "Bearer forged-token-forged-token-forged"}
        assert anonymous.post(ALERTS, json=_alert(uuid.uuid4(), 1), headers=forged).status_code == 401


def test_a_repost_under_another_citizen_is_refused_by_the_service_and_the_portal(
    migrated: StackState, tmp_path: Path
) -> None:
    alert_id = uuid.uuid4()
    owner, other = random.randrange(10**9, 2 * 10**9), random.randrange(2 * 10**9, 3 * 10**9)
    with _service() as first, RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path, workers=1) as flow:
        assert first.post(ALERTS, json=_alert(alert_id, owner)).status_code == 202
        moved = first.post(ALERTS, json=_alert(alert_id, other))
        assert moved.status_code == 409, moved.text
        with psycopg.connect(migrated.dsn(Database.CITIZEN), autocommit=True) as conn:

            def citizen_of_alert() -> Any:
                row = conn.execute(
                    "SELECT citizen_id FROM public.ml_alerts WHERE alert_id = %s", (alert_id,)
                ).fetchone()
                return row[0] if row else None

            assert flow.wait(citizen_of_alert, timeout_s=120, what="the alert row") == owner
            # Another replica (or a restarted service) has not seen the record: the portal refuses the move.
            before = flow.metric("smartsync_dead_letters_total", flow="warehouse_to_citizen", table="public.ml_alerts")
            with _service() as second:
                assert second.post(ALERTS, json=_alert(alert_id, other)).status_code == 202
            flow.wait(
                lambda: (
                    flow.metric("smartsync_dead_letters_total", flow="warehouse_to_citizen", table="public.ml_alerts")
                    > before
                ),
                timeout_s=120,
                what="the dead letter of the moved alert",
            )
            assert citizen_of_alert() == owner
        assert "constraint ml_alerts_citizen_pinned" in flow.logs()
        assert str(other) not in flow.logs()
