"""The callback API without a broker: validation, 422 messages, the message format, 503 mapping.

A stand-in for the Kafka producer is used here only; tests/integration/connectors/test_callbacks_kafka.py runs
the same API against the real broker.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from connectors.callbacks import create_app
from connectors.callbacks.app import MAX_BATCH, AcceptClock, field_name, openapi_schema
from connectors.callbacks.encoding import encode, json_value
from connectors.callbacks.models import AlertCallback, ForecastCallback, check_models
from connectors.callbacks.producer import Delivered, DeliveryError, producer_config
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ConfigurationError
from smartsync.core.settings import Settings
from smartsync.core.tables import SCHEMA, SYNC_COLUMNS

REPO = Path(__file__).resolve().parents[3]
FORECASTS = "/v1/callbacks/benefit-forecasts"
ALERTS = "/v1/callbacks/ml-alerts"


class StandIn:
    """Records what would be produced; fails on demand."""

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.fail: str | None = None
        self.started = False
        self.closed = False

    def start(self) -> None:
        self.started = True

    async def send(self, message: Any) -> Delivered:
        if self.fail:
            raise DeliveryError(self.fail, hint="retry later")
        self.sent.append(message)
        return Delivered(message.topic, 0, len(self.sent) - 1)

    def close(self) -> None:
        self.closed = True

    def health(self) -> dict[str, str]:
        return {"kafka": "up"}


TOKEN = "unit-test-token-0123456789abcdef"


def _settings() -> Settings:
    return Settings(
        warehouse_dsn="unused",
        citizen_dsn="unused",
        kafka_bootstrap="unused:9092",
        callback_tokens=json.dumps({"tests": TOKEN}),
    )


@pytest.fixture
def stand_in() -> StandIn:
    return StandIn()


@pytest.fixture
def client(stand_in: StandIn) -> Iterator[TestClient]:
    app = create_app(_settings(), delivery=stand_in)
    with TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"}) as test_client:
        yield test_client


def forecast(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "forecast_id": str(uuid.uuid4()),
        "citizen_id": 123,
        "scheme_code": "OLD_AGE_PENSION",
        "forecast_amount": "18000.5",
        "forecast_period": "2027-Q1",
        "confidence": 0.87,
        "generated_at": "2026-11-21T09:30:00+05:30",
    }
    body.update(overrides)
    return body


def alert(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "alert_id": str(uuid.uuid4()),
        "citizen_id": 77,
        "source_model": "AI-PLATFORM-14",
        "alert_type": "benefit_expiry",
        "severity": "critical",
        "message": "Pension ends next month",
        "created_at": "2026-11-21T04:00:00Z",
    }
    body.update(overrides)
    return body


def counter(sync: str, outcome: str) -> float:
    value = REGISTRY.get_sample_value("smartsync_callbacks_received_total", {"sync": sync, "outcome": outcome})
    return value or 0.0


# ── validation ─────────────────────────────────────────────────────────────────────────


def test_a_valid_forecast_is_accepted_and_produced(client: TestClient, stand_in: StandIn) -> None:
    before = counter("benefit_forecasts", "accepted")
    response = client.post(FORECASTS, json=forecast())
    assert response.status_code == 202
    body = response.json()
    assert body["sync"] == "benefit_forecasts"
    assert body["topic"] == load_catalog().sync("benefit_forecasts").topic.name  # type: ignore[union-attr]
    assert body["key"] == '{"citizen_id":123}'
    assert len(stand_in.sent) == 1
    assert stand_in.started
    assert counter("benefit_forecasts", "accepted") == before + 1


def test_a_valid_alert_is_accepted_and_produced(client: TestClient, stand_in: StandIn) -> None:
    response = client.post(ALERTS, json=alert())
    assert response.status_code == 202
    assert response.json()["topic"] == load_catalog().sync("ml_alerts").topic.name  # type: ignore[union-attr]
    assert stand_in.sent[0].key == b'{"citizen_id":77}'


@pytest.mark.parametrize(
    ("path", "body", "field", "words"),
    [
        (FORECASTS, forecast(citizen_id=0), "citizen_id", "greater than 0"),
        (FORECASTS, forecast(citizen_id=-5), "citizen_id", "greater than 0"),
        (FORECASTS, forecast(citizen_id="123"), "citizen_id", "valid integer"),
        (FORECASTS, forecast(citizen_id=2**63), "citizen_id", "less than or equal"),
        (FORECASTS, forecast(confidence=1.2), "confidence", "less than or equal to 1"),
        (FORECASTS, forecast(confidence=-0.1), "confidence", "greater than or equal to 0"),
        (FORECASTS, forecast(confidence="0.8765"), "confidence", "decimal places"),
        (FORECASTS, forecast(forecast_amount=-1), "forecast_amount", "greater than or equal to 0"),
        (FORECASTS, forecast(forecast_amount="1.005"), "forecast_amount", "decimal places"),
        (FORECASTS, forecast(forecast_amount="12345678901.00"), "forecast_amount", "digits"),
        (FORECASTS, forecast(forecast_amount="NaN"), "forecast_amount", "finite"),
        (FORECASTS, forecast(forecast_id="not-a-uuid"), "forecast_id", "UUID"),
        (FORECASTS, forecast(scheme_code=""), "scheme_code", "at least 1 character"),
        (FORECASTS, forecast(generated_at="2026-11-21T09:30:00"), "generated_at", "timezone"),
        (FORECASTS, forecast(surprise=1), "surprise", "Extra inputs"),
        (FORECASTS, {k: v for k, v in forecast().items() if k != "citizen_id"}, "citizen_id", "Field required"),
        (ALERTS, alert(severity="urgent"), "severity", "'low', 'medium', 'high' or 'critical'"),
        (ALERTS, alert(source_model="GPT-4"), "source_model", "pattern"),
        (ALERTS, alert(alert_type="Benefit Expiry"), "alert_type", "pattern"),
        (ALERTS, alert(message="nul\x00byte"), "message", "NUL"),
        (ALERTS, alert(message=""), "message", "at least 1 character"),
        (ALERTS, alert(created_at="yesterday"), "created_at", "datetime"),
    ],
)
def test_a_bad_payload_gets_422_naming_the_field(  # noqa: PLR0917 — pytest parameters
    client: TestClient, stand_in: StandIn, path: str, body: dict[str, Any], field: str, words: str
) -> None:
    sync = "benefit_forecasts" if path == FORECASTS else "ml_alerts"
    before = counter(sync, "invalid")
    response = client.post(path, json=body)
    assert response.status_code == 422
    problem = response.json()
    assert [p["field"] for p in problem["detail"]] == [field]
    assert problem["message"].startswith(f"{field}: ")
    assert words in problem["message"]
    assert stand_in.sent == []
    assert counter(sync, "invalid") == before + 1


def test_every_problem_is_reported_at_once(client: TestClient) -> None:
    response = client.post(ALERTS, json=alert(citizen_id=0, severity="huge"))
    assert response.status_code == 422
    assert {p["field"] for p in response.json()["detail"]} == {"citizen_id", "severity"}


def test_a_body_that_is_not_json_gets_422(client: TestClient) -> None:
    response = client.post(FORECASTS, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


def test_a_batch_names_the_item_at_fault(client: TestClient, stand_in: StandIn) -> None:
    response = client.post(f"{FORECASTS}/batch", json=[forecast(), forecast(confidence=3)])
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "[1].confidence"
    assert stand_in.sent == []


@pytest.mark.parametrize("size", [0, MAX_BATCH + 1])
def test_a_batch_must_hold_1_to_max_items(client: TestClient, size: int) -> None:
    response = client.post(f"{ALERTS}/batch", json=[alert() for _ in range(size)])
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


def test_a_batch_is_produced_in_order(client: TestClient, stand_in: StandIn) -> None:
    items = [alert(citizen_id=9, message=f"n{i}") for i in range(5)]
    response = client.post(f"{ALERTS}/batch", json=items)
    assert response.status_code == 202
    assert response.json()["count"] == 5
    sent = [orjson.loads(m.value)["after"]["message"] for m in stand_in.sent]
    assert sent == [f"n{i}" for i in range(5)]
    stamps = [orjson.loads(m.value)["source"]["ts_us"] for m in stand_in.sent]
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == 5


def test_field_names_for_nested_locations() -> None:
    assert field_name(("body", "citizen_id")) == "citizen_id"
    assert field_name(("body", 3, "confidence")) == "[3].confidence"
    assert field_name(("body",)) == "body"


# ── 503 ───────────────────────────────────────────────────────────────────────────────


def test_an_unconfirmed_write_gets_503_with_the_reason(client: TestClient, stand_in: StandIn) -> None:
    stand_in.fail = "Kafka did not confirm the write: Local: Message timed out"
    before = counter("ml_alerts", "unavailable")
    response = client.post(ALERTS, json=alert())
    assert response.status_code == 503
    assert "Message timed out" in response.json()["detail"]
    assert response.headers["retry-after"] == "1"
    assert counter("ml_alerts", "unavailable") == before + 1


def test_an_unconfirmed_batch_gets_503(client: TestClient, stand_in: StandIn) -> None:
    stand_in.fail = "broker down"
    response = client.post(f"{FORECASTS}/batch", json=[forecast(), forecast()])
    assert response.status_code == 503
    assert "2 of 2 callbacks were not confirmed" in response.json()["detail"]


# ── the message format agreed with the dataflow ──────────────────────────────────────────


def test_the_envelope_carries_target_columns_as_json_types() -> None:
    sync = load_catalog().sync("benefit_forecasts")
    fid = uuid.uuid4()
    payload = ForecastCallback.model_validate(
        forecast(forecast_id=str(fid).upper(), forecast_amount=18000.5, confidence="0.87")
    )
    message = encode(sync, payload, accepted_us=1_795_000_000_000_000)
    assert message.topic == sync.topic.name  # type: ignore[union-attr]
    assert message.key == b'{"citizen_id":123}'
    assert message.key == json.dumps({"citizen_id": 123}, separators=(",", ":")).encode()
    value = json.loads(message.value)
    assert value == {
        "op": "c",
        "before": None,
        "after": {
            "forecast_id": str(fid),
            "citizen_id": 123,
            "scheme_code": "OLD_AGE_PENSION",
            "forecast_amount": "18000.50",
            "forecast_period": "2027-Q1",
            "confidence": "0.870",
            "generated_at": "2026-11-21T04:00:00+00:00",
        },
        "source": {"connector": "callback", "sync": "benefit_forecasts", "ts_us": 1_795_000_000_000_000},
    }


def test_after_holds_exactly_the_targets_synced_columns() -> None:
    catalog = load_catalog()
    sync_columns = {c.name for c in SYNC_COLUMNS}
    for name, payload in (
        ("benefit_forecasts", ForecastCallback.model_validate(forecast())),
        ("ml_alerts", AlertCallback.model_validate(alert())),
    ):
        sync = catalog.sync(name)
        target = SCHEMA.table(sync.target_database, sync.target)
        after = orjson.loads(encode(sync, payload, 1).value)["after"]
        assert set(after) == set(target.column_names) - sync_columns


def test_an_omitted_timestamp_is_the_acceptance_time() -> None:
    sync = load_catalog().sync("ml_alerts")
    body = alert()
    del body["created_at"]
    accepted_us = 1_795_000_000_123_456
    after = orjson.loads(encode(sync, AlertCallback.model_validate(body), accepted_us).value)["after"]
    expected = datetime.fromtimestamp(accepted_us // 1_000_000, tz=UTC).replace(microsecond=accepted_us % 1_000_000)
    assert datetime.fromisoformat(after["created_at"]) == expected
    assert after["created_at"].endswith("+00:00")


@settings(max_examples=200, deadline=None)
@given(
    amount=st.decimals(min_value=0, max_value=Decimal("9999999999.99"), places=2),
    confidence=st.decimals(min_value=0, max_value=1, places=3),
    citizen_id=st.integers(min_value=1, max_value=2**63 - 1),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60),
)
def test_numbers_and_times_survive_the_envelope(
    amount: Decimal, confidence: Decimal, citizen_id: int, offset_minutes: int
) -> None:
    sync = load_catalog().sync("benefit_forecasts")
    when = datetime(2026, 11, 21, 12, 0, 0, 250, tzinfo=timezone(timedelta(minutes=offset_minutes)))
    payload = ForecastCallback.model_validate(
        forecast(
            forecast_amount=str(amount),
            confidence=str(confidence),
            citizen_id=citizen_id,
            generated_at=when.isoformat(),
        )
    )
    message = encode(sync, payload, 1)
    after = orjson.loads(message.value)["after"]
    assert Decimal(after["forecast_amount"]) == amount
    assert Decimal(after["confidence"]) == confidence
    assert "E" not in after["forecast_amount"]
    assert len(after["forecast_amount"].split(".")[1]) == 2
    assert len(after["confidence"].split(".")[1]) == 3
    assert after["citizen_id"] == citizen_id
    assert datetime.fromisoformat(after["generated_at"]) == when
    assert json.loads(message.key) == {"citizen_id": citizen_id}


def test_an_unknown_column_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="no encoding for column type 'jsonb'"):
        json_value({"a": 1}, "jsonb")


def test_acceptance_times_strictly_increase() -> None:
    clock = AcceptClock()
    stamps = [clock.now_us() for _ in range(1000)]
    assert all(b > a for a, b in itertools.pairwise(stamps))


# ── configuration ──────────────────────────────────────────────────────────────────────


def test_the_payload_models_match_the_catalog() -> None:
    check_models(load_catalog())


def test_a_catalog_that_drops_a_callback_sync_is_refused() -> None:
    catalog = load_catalog()
    drifted = catalog.model_copy(update={"syncs": tuple(s for s in catalog.syncs if s.name != "ml_alerts")})
    with pytest.raises(ConfigurationError, match="'ml_alerts'"):
        check_models(drifted)


def test_the_producer_is_durable_ordered_and_java_partitioned() -> None:
    config = producer_config("h:1", 2.5)
    assert config["acks"] == "all"
    assert config["enable.idempotence"] is True
    assert config["partitioner"] == "murmur2_random"
    assert config["message.timeout.ms"] == 2500


def test_nothing_connects_when_the_app_is_built() -> None:
    # No lifespan has run: a broker address that resolves nowhere must not matter yet.
    app = create_app(_settings().model_copy(update={"kafka_bootstrap": "nowhere.invalid:1"}))
    assert app.title == "SmartSync callbacks"


def test_health_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "kafka": "up", "reason": None}
    client.post(ALERTS, json=alert())
    text = client.get("/metrics").text
    assert "smartsync_callbacks_received_total" in text
    assert "smartsync_callback_ack_seconds_bucket" in text


def test_the_committed_openapi_description_is_current() -> None:
    committed = json.loads((REPO / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(openapi_schema())), "run `smartsync callbacks openapi`"


def test_serve_without_kafka_bootstrap_fails_with_one_line() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "SMARTSYNC_WAREHOUSE_DSN": "postgresql://x",
        "SMARTSYNC_CITIZEN_DSN": "postgresql://x",
    }
    done = subprocess.run(  # noqa: S603 — our own CLI
        [str(Path(sys.executable).parent / "smartsync"), "callbacks", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "SMARTSYNC_KAFKA_BOOTSTRAP" in lines[0]
