"""Who may post callbacks: tokens, kinds, rates, timeouts, closed endpoints and the 409 on a citizen change.

The Kafka producer is a stand-in here; tests/integration/security/ runs the same checks against the real broker.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from connectors.callbacks import create_app
from connectors.callbacks.auth import Authenticator, OwnerMemory, RateLimiter, parse_callers
from connectors.callbacks.gate import Gate, header_timeout_protocol
from connectors.callbacks.producer import Delivered
from smartsync.core.errors import ConfigurationError
from smartsync.core.settings import Settings

REPO = Path(__file__).resolve().parents[3]
FORECASTS = "/v1/callbacks/benefit-forecasts"
ALERTS = "/v1/callbacks/ml-alerts"
FORECASTER = "forecast-token-aaaaaaaaaaaaaaaaaaaaaaaa"
ALERTER = "alerts-token-bbbbbbbbbbbbbbbbbbbbbbbbbbbb"
KINDS = ("benefit_forecasts", "ml_alerts")


class StandIn:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def start(self) -> None: ...

    async def send(self, message: Any) -> Delivered:
        self.sent.append(message)
        return Delivered(message.topic, 0, len(self.sent) - 1)

    def close(self) -> None: ...

    def health(self) -> dict[str, str]:
        return {"kafka": "up"}


def _settings(**overrides: Any) -> Settings:
    tokens = {"forecast-service": {"token": FORECASTER, "kinds": ["benefit_forecasts"]}, "ml-platform": ALERTER}
    values: dict[str, Any] = {
        "warehouse_dsn": "unused",
        "citizen_dsn": "unused",
        "kafka_bootstrap": "unused:9092",
        "callback_tokens": json.dumps(tokens),
        **overrides,
    }
    return Settings(**values)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(_settings(), delivery=StandIn())) as test_client:
        yield test_client


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forecast(**overrides: Any) -> dict[str, Any]:
    return {
        "forecast_id": str(uuid.uuid4()),
        "citizen_id": 123,
        "scheme_code": "OLD_AGE_PENSION",
        "forecast_amount": "18000.00",
        "forecast_period": "2027-Q1",
        "confidence": "0.870",
        **overrides,
    }


def alert(**overrides: Any) -> dict[str, Any]:
    return {
        "alert_id": str(uuid.uuid4()),
        "citizen_id": 123,
        "source_model": "AI-PLATFORM-09",
        "alert_type": "proactive_inclusion",
        "severity": "high",
        "message": "Likely eligible",
        **overrides,
    }


# ── credentials ─────────────────────────────────────────────────────────────────────


def test_the_app_refuses_to_start_without_tokens_naming_the_setting() -> None:
    with pytest.raises(ConfigurationError, match="SMARTSYNC_CALLBACK_TOKENS: not set"):
        create_app(_settings(callback_tokens=""), delivery=StandIn())


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("{not json " + FORECASTER, "not valid JSON"),
        ("[]", "non-empty JSON object"),
        (json.dumps({"a": "short-secret"}), "at least 24 characters"),
        (json.dumps({"a": FORECASTER, "b": FORECASTER}), "shares its token"),
        (json.dumps({"a": {"token": FORECASTER, "kinds": ["payroll"]}}), "unknown kinds ['payroll']"),
        (json.dumps({"a": {"token": FORECASTER, "kinds": []}}), "non-empty list"),
        (json.dumps({"a": 12345}), "expected a token string"),
    ],
)
def test_bad_tokens_fail_naming_the_setting_never_the_token(raw: str, problem: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_callers(raw, KINDS)
    text = str(caught.value) + (caught.value.hint or "")
    assert "SMARTSYNC_CALLBACK_TOKENS" in text
    assert problem in text
    assert FORECASTER not in text
    assert "short-secret" not in text


def test_only_digests_of_tokens_are_kept_and_the_repr_shows_none() -> None:
    callers = parse_callers(json.dumps({"ml-platform": ALERTER}), KINDS)
    assert ALERTER not in repr(callers)
    assert ALERTER.encode() not in b"".join(c.digest for c in callers)


def test_every_caller_is_identified_by_its_own_token_only() -> None:
    auth = Authenticator(parse_callers(json.dumps({"a": FORECASTER, "b": ALERTER}), KINDS))
    assert auth.identify(f"Bearer {FORECASTER}").name == "a"  # type: ignore[union-attr]
    assert auth.identify(f"bearer {ALERTER}").name == "b"  # type: ignore[union-attr]
    for header in (None, "", "Bearer", f"Basic {FORECASTER}", f"Bearer {FORECASTER[:-1]}", f"Bearer {FORECASTER}x"):
        assert auth.identify(header) is None


# ── 401, 403 ────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("headers", [{}, _bearer("wrong-token-wrong-token-wrong"), {"Authorization": ALERTER}])
def test_a_callback_without_a_valid_token_gets_401(client: TestClient, headers: dict[str, str]) -> None:
    answer = client.post(ALERTS, json=alert(), headers=headers)
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    batch = client.post(f"{FORECASTS}/batch", json=[forecast()], headers=headers)
    assert batch.status_code == 401


def test_a_caller_limited_to_forecasts_cannot_post_alerts(client: TestClient) -> None:
    assert client.post(FORECASTS, json=forecast(), headers=_bearer(FORECASTER)).status_code == 202
    refused = client.post(ALERTS, json=alert(), headers=_bearer(FORECASTER))
    assert refused.status_code == 403
    assert "forecast-service" in refused.json()["detail"]
    assert client.post(ALERTS, json=alert(), headers=_bearer(ALERTER)).status_code == 202


def test_a_wrong_token_is_never_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "guessed-token-zzzzzzzzzzzzzzzzzzzzz"
    client.post(ALERTS, json=alert(), headers=_bearer(wrong))
    client.post(ALERTS, json=alert(), headers=_bearer(ALERTER))
    assert wrong not in caplog.text
    assert ALERTER not in caplog.text


def test_no_auth_accepts_anonymous_callbacks() -> None:
    app = create_app(_settings(callback_tokens=""), delivery=StandIn(), authenticate=False)
    with TestClient(app) as anonymous:
        assert anonymous.post(ALERTS, json=alert()).status_code == 202


# ── 409: a record's citizen never changes ───────────────────────────────────────────


def test_a_repost_under_another_citizen_gets_409(client: TestClient) -> None:
    first = alert(citizen_id=111)
    assert client.post(ALERTS, json=first, headers=_bearer(ALERTER)).status_code == 202
    assert client.post(ALERTS, json=first, headers=_bearer(ALERTER)).status_code == 202  # same citizen: fine
    moved = client.post(ALERTS, json={**first, "citizen_id": 222}, headers=_bearer(ALERTER))
    assert moved.status_code == 409
    assert first["alert_id"] in moved.json()["detail"]
    in_batch = client.post(f"{ALERTS}/batch", json=[alert(), {**first, "citizen_id": 333}], headers=_bearer(ALERTER))
    assert in_batch.status_code == 409


def test_a_batch_that_moves_its_own_record_gets_409(client: TestClient) -> None:
    twice = forecast(citizen_id=5)
    answer = client.post(f"{FORECASTS}/batch", json=[twice, {**twice, "citizen_id": 6}], headers=_bearer(FORECASTER))
    assert answer.status_code == 409


def test_the_owner_memory_is_bounded() -> None:
    memory = OwnerMemory(capacity=2)
    memory.remember("s", [("a", 1), ("b", 1), ("c", 1)])
    assert memory.conflict("s", [("a", 2)]) is None  # forgotten: the portal's trigger still refuses it
    assert memory.conflict("s", [("c", 2)]) == "c"


# ── rate, body, size ────────────────────────────────────────────────────────────────


def test_a_caller_over_its_rate_gets_429_and_others_do_not() -> None:
    app = create_app(_settings(callback_rate_per_s=0.01, callback_burst=2), delivery=StandIn())
    with TestClient(app) as limited:
        codes = [limited.post(ALERTS, json=alert(), headers=_bearer(ALERTER)).status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        over = limited.post(ALERTS, json=alert(), headers=_bearer(ALERTER))
        assert int(over.headers["retry-after"]) >= 1
        assert limited.post(FORECASTS, json=forecast(), headers=_bearer(FORECASTER)).status_code == 202


def test_the_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate_per_s=2.0, burst=2, clock=lambda: now[0])
    assert limiter.take("a") == 0
    assert limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)
    now[0] = 0.5
    assert limiter.take("a") == 0


def test_a_body_over_the_limit_gets_413(client: TestClient) -> None:
    answer = client.post(ALERTS, content=b"[" + b" " * (3 * 1024 * 1024) + b"]", headers=_bearer(ALERTER))
    assert answer.status_code == 413


def test_a_body_that_does_not_arrive_in_time_gets_408() -> None:
    async def downstream(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError

    gate = Gate(
        downstream,
        routes={ALERTS: "ml_alerts"},
        authenticator=None,
        limiter=RateLimiter(100, 100),
        body_timeout_s=0.2,
        max_body_bytes=1000,
    )
    sent: list[dict[str, Any]] = []

    async def stalled() -> dict[str, Any]:
        await asyncio.sleep(10)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    started = time.monotonic()
    asyncio.run(gate({"type": "http", "path": ALERTS, "headers": []}, stalled, send))
    assert time.monotonic() - started < 2
    assert sent[0]["status"] == 408


# ── closed endpoints ────────────────────────────────────────────────────────────────


def test_docs_are_closed_by_default_and_metrics_can_be_closed() -> None:
    with TestClient(create_app(_settings(), delivery=StandIn())) as default:
        assert default.get("/docs").status_code == 404
        assert default.get("/openapi.json").status_code == 404
        assert default.get("/metrics").status_code == 200
    app = create_app(_settings(callback_docs=True, callback_metrics=False), delivery=StandIn())
    with TestClient(app) as opened:
        assert opened.get("/docs").status_code == 200
        assert opened.get("/openapi.json").status_code == 200
        assert opened.get("/metrics").status_code == 404


# ── the header deadline, on a real uvicorn server ───────────────────────────────────


def test_a_client_trickling_its_headers_is_disconnected() -> None:
    app = create_app(_settings(), delivery=StandIn())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, http=header_timeout_protocol(0.5), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as slow:
            slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # never finishes its headers
            started = time.monotonic()
            assert slow.recv(1024) == b""  # closed by the server
            assert time.monotonic() - started < 3
        with socket.create_connection(("127.0.0.1", port), timeout=5) as prompt:
            prompt.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert prompt.recv(1024).startswith(b"HTTP/1.1 200")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


# ── the CLI ─────────────────────────────────────────────────────────────────────────


def _serve(*args: str, tokens: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "SMARTSYNC_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    if tokens is not None:
        env["SMARTSYNC_CALLBACK_TOKENS"] = tokens
    return subprocess.run(  # noqa: S603 — our own CLI
        [str(Path(sys.executable).parent / "smartsync"), "callbacks", "serve", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )


def test_serve_without_tokens_fails_with_one_line_naming_the_setting() -> None:
    done = _serve()
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1
    assert len(lines) == 1, done.stderr
    assert "SMARTSYNC_CALLBACK_TOKENS" in lines[0]


def test_serve_with_a_half_configured_tls_fails_naming_both_settings() -> None:
    env_tokens = json.dumps({"a": FORECASTER})
    done = subprocess.run(  # noqa: S603 — our own CLI
        [str(Path(sys.executable).parent / "smartsync"), "callbacks", "serve"],
        env={
            "PATH": "/usr/bin:/bin",
            "SMARTSYNC_KAFKA_BOOTSTRAP": "127.0.0.1:1",
            "SMARTSYNC_CALLBACK_TOKENS": env_tokens,
            "SMARTSYNC_CALLBACK_TLS_CERT": "/nonexistent.pem",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=REPO,
    )
    assert done.returncode == 1
    assert "SMARTSYNC_CALLBACK_TLS_KEY" in done.stderr
    assert FORECASTER not in done.stderr + done.stdout
