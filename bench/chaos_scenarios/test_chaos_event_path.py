"""Chaos on the event path, on the real stack: each scenario ends with source == target.

Under a steady load of decision changes (inserts and updates on ``decision.applications``), the
warehouse_to_citizen flow is SIGKILLed at random moments, its target database refuses connections,
Kafka Connect is killed and restarted, and the broker is killed and restarted. After each, the load
stops and every application the load touched must be the same in source and target (mapped as the
catalog says). They disturb the stack, so they live under bench/ and run on demand:
``python bench/chaos.py [--long]`` (``make chaos``), which sets ``SMARTSYNC_CHAOS_KILLS`` (default 3),
``SMARTSYNC_CHAOS_OUTAGE_S`` (default 10) and ``SMARTSYNC_CHAOS_LOAD_S`` (seconds of load around each
fault, default 6).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dataflows.testing import RunningFlow, expected_mirror, target_state
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import load_settings
from smartsync.devstack import localstack
from smartsync.devstack.localstack import StackState
from smartsync.devstack.localstack.kafka import _start_connect

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
DECISIONS = CAT.sync("application_decisions")
KILLS = int(os.environ.get("SMARTSYNC_CHAOS_KILLS", "3"))
OUTAGE_S = float(os.environ.get("SMARTSYNC_CHAOS_OUTAGE_S", "10"))
LOAD_S = float(os.environ.get("SMARTSYNC_CHAOS_LOAD_S", "6"))

pytestmark = pytest.mark.disruptive


class Load:
    """Inserts new applications and updates random earlier ones, ~``rate`` changes a second, in a thread."""

    def __init__(self, dsn: str, rate: float = 40.0) -> None:
        self._dsn = dsn
        self._rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.changes = 0
        self.errors = 0
        self.made: list[int] = []  # the applications this load created (and updated)

    def _run(self) -> None:
        rng = random.Random()
        base = rng.randrange(10**9, 9 * 10**9)
        made = self.made
        conn: psycopg.Connection | None = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._dsn, autocommit=True)
                if made and rng.random() < 0.4:
                    conn.execute(
                        "UPDATE decision.applications SET status = %s, risk_score = %s WHERE application_id = %s",
                        (
                            rng.choice(["approved", "rejected", "pending"]),
                            rng.randrange(0, 9999) / 10000,
                            rng.choice(made),
                        ),
                    )
                else:
                    app = base + len(made)
                    conn.execute(
                        "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status) "
                        "VALUES (%s, %s, 'OAP', 'pending')",
                        (app, app),
                    )
                    made.append(app)
                self.changes += 1
            except psycopg.Error:
                self.errors += 1
                conn = None
                time.sleep(0.5)
            time.sleep(1 / self._rate)
        if conn is not None:
            conn.close()

    def __enter__(self) -> Load:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)


def reconciled(flow: RunningFlow, load: Load, timeout_s: float = 240) -> None:
    """Wait until every row the load touched is the same on both sides (the flow catches up meanwhile).

    Scoped to the load's keys: on a shared stack other tests change the pair's tables directly.
    """
    settings = load_settings()
    keys = list(load.made)
    with (
        psycopg.connect(settings.dsn(DECISIONS.source_database), autocommit=True) as src,
        psycopg.connect(settings.dsn(DECISIONS.target_database), autocommit=True) as tgt,
    ):
        expected = expected_mirror(DECISIONS, src, "application_id", keys)
        assert len(expected) == len(keys)
        flow.wait(
            lambda: target_state(DECISIONS, tgt, "application_id", keys) == expected,
            timeout_s=timeout_s,
            what=f"source == target for the {len(keys)} applications of the load",
        )


@pytest.fixture
def wconn(warehouse_dsn: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        yield conn


def test_random_sigkills_under_load(tmp_path: Path, warehouse_dsn: str) -> None:
    flow = RunningFlow(W2C, tmp_path, workers=2)
    rng = random.Random()
    with Load(warehouse_dsn) as load, flow:
        for _ in range(KILLS):
            time.sleep(rng.uniform(1.0, LOAD_S))
            flow.kill()
            flow.start()
        time.sleep(LOAD_S / 2)
    assert load.changes > 0
    with flow:
        reconciled(flow, load)
        flow.check_alive()


def test_a_target_outage_under_load(tmp_path: Path, warehouse_dsn: str, wconn: psycopg.Connection) -> None:
    flow = RunningFlow(W2C, tmp_path, workers=1)
    with Load(warehouse_dsn) as load, flow:
        time.sleep(LOAD_S / 2)
        wconn.execute("ALTER DATABASE smart_citizen WITH ALLOW_CONNECTIONS false")
        try:
            wconn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = 'smart_citizen' AND application_name = %s",
                (f"smartsync-{W2C.value}",),
            )
            time.sleep(OUTAGE_S)
            assert flow.metric("smartsync_sink_up", flow=W2C.value) == 0
        finally:
            wconn.execute("ALTER DATABASE smart_citizen WITH ALLOW_CONNECTIONS true")
        time.sleep(LOAD_S / 2)
    with flow:
        reconciled(flow, load)
        flow.check_alive()


def test_a_kafka_connect_restart_under_load(tmp_path: Path, stack: StackState, warehouse_dsn: str) -> None:
    flow = RunningFlow(W2C, tmp_path, workers=1)
    with Load(warehouse_dsn) as load, flow:
        time.sleep(LOAD_S / 2)
        os.killpg(stack.pids["connect"], signal.SIGKILL)
        time.sleep(LOAD_S / 2)
        state = localstack.read_state()
        assert state is not None
        _start_connect(state, CAT, lambda _m: None)
        stack.pids.update(state.pids)
        time.sleep(LOAD_S / 2)
    with flow:
        reconciled(flow, load)
        flow.check_alive()
    localstack.wait_for_sentinel(state, CAT, timeout=120)


def test_a_broker_restart_under_load(tmp_path: Path, stack: StackState, warehouse_dsn: str) -> None:
    flow = RunningFlow(W2C, tmp_path, workers=1)
    with Load(warehouse_dsn) as load, flow:
        time.sleep(LOAD_S / 2)
        os.killpg(stack.pids["kafka"], signal.SIGKILL)
        time.sleep(3)
        state = localstack.read_state()
        assert state is not None
        localstack._start_kafka(state, lambda _m: None)
        stack.pids.update(state.pids)
        time.sleep(LOAD_S / 2)
    with flow:
        reconciled(flow, load, timeout_s=300)
        flow.check_alive()
    state = localstack.read_state()
    assert state is not None
    localstack.wait_for_sentinel(state, CAT, timeout=120)
    stack.pids.update(state.pids)
