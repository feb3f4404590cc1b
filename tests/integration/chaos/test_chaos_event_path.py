"""Chaos on the event path, on the real stack: each scenario ends with a full reconciliation.

Under a steady load of decision changes (inserts and updates on ``decision.applications``), the
warehouse_to_citizen flow is SIGKILLed at random moments, its target database refuses connections,
Kafka Connect is killed and restarted, and the broker is killed and restarted. After each, the load
stops, the flow catches up, and the batch path's compare of the whole ``application_decisions`` pair
must find no source-only, target-only or changed row.

They disturb the session's stack, so they are ``disruptive`` (run after the other tests) and each
leaves the stack whole (connections allowed, a sentinel change through Debezium and Kafka). The CI
form takes a few minutes; the long form runs on demand (``python bench/chaos.py --long``, ``make
chaos``) through ``SMARTSYNC_CHAOS_KILLS`` (default 10), ``SMARTSYNC_CHAOS_OUTAGE_S`` (default 60)
and ``SMARTSYNC_CHAOS_LOAD_S`` (seconds of load around each fault, default 4).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dataflows.testing import RunningFlow, wait_until
from reconcile.model import TableDiff
from smartsync.core.catalog import Direction, load_catalog
from smartsync.devstack import localstack
from smartsync.devstack.localstack import StackState, faults
from tests.integration.chaos.full_reconciliation import assert_reconciled, even_out

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
DECISIONS = CAT.sync("application_decisions")
KILLS = int(os.environ.get("SMARTSYNC_CHAOS_KILLS", "10"))
OUTAGE_S = float(os.environ.get("SMARTSYNC_CHAOS_OUTAGE_S", "60"))
LOAD_S = float(os.environ.get("SMARTSYNC_CHAOS_LOAD_S", "4"))

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
        self.made: list[int] = []  # the applications this load created (and updates)

    def _run(self) -> None:
        rng = random.Random()
        base = rng.randrange(10**9, 9 * 10**9)
        made = self.made
        conn: psycopg.Connection[Any] | None = None
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


@pytest.fixture(autouse=True)
def _even_pair() -> None:
    # The session's earlier tests leave drift in the shared pair on purpose; the scenario owns only its own.
    even_out(DECISIONS)


def serving(flow: RunningFlow) -> None:
    """Wait until the flow's sink is connected (it has started and passed its start-up checks)."""
    flow.wait(lambda: flow.metric("smartsync_sink_up", flow=W2C.value) == 1, timeout_s=90, what="flow up")


def whole_again(stack: StackState) -> None:
    """The stack serves the next test: a sentinel change travels both databases → Debezium → Kafka."""
    state = faults.current_state()
    localstack.wait_for_sentinel(state, CAT, timeout=120)
    stack.pids.update(state.pids)


def figures(scenario: str, load: Load, started: float, diff: TableDiff, **more: object) -> None:
    """One line per scenario (shown with ``pytest -s``, as ``bench/chaos.py`` runs it)."""
    extra = "".join(f" {k}={v}" for k, v in more.items())
    print(
        f"chaos {scenario}:{extra} changes={load.changes} load_errors={load.errors} "
        f"rows_compared={diff.source_rows} differing={diff.differing} wall_s={time.monotonic() - started:.1f}"
    )


def test_random_sigkills_under_load(tmp_path: Path, warehouse_dsn: str) -> None:
    started = time.monotonic()
    flow = RunningFlow(W2C, tmp_path, workers=2)
    rng = random.Random()
    kills = during_start = 0
    with Load(warehouse_dsn) as load, flow:
        for _ in range(KILLS):
            if rng.random() < 0.25:
                # While it starts: resuming from recovery, replaying, connecting.
                time.sleep(rng.uniform(0.0, 1.0))
                during_start += flow.metric("smartsync_sink_up", flow=W2C.value) == 0
            else:
                # A random moment of a running flow: mid-batch, mid-snapshot, or idle between epochs.
                serving(flow)
                time.sleep(rng.uniform(0.2, LOAD_S))
            flow.kill()
            kills += 1
            flow.start()
        time.sleep(LOAD_S / 2)
    assert kills == KILLS >= 1
    assert load.changes > 0
    with flow:
        diff = assert_reconciled(DECISIONS, flow=flow)
    assert flow.starts == KILLS + 2
    figures("sigkills", load, started, diff, kills=kills, during_start=during_start)


def test_a_target_outage_under_load(tmp_path: Path, warehouse_dsn: str, wconn: psycopg.Connection[Any]) -> None:
    started = time.monotonic()
    flow = RunningFlow(W2C, tmp_path, workers=1)
    with Load(warehouse_dsn) as load, flow:
        serving(flow)
        time.sleep(LOAD_S / 2)
        # The target refuses every new connection, and the flow's open ones are cut.
        wconn.execute(f"ALTER DATABASE {DECISIONS.target_database.value} WITH ALLOW_CONNECTIONS false")
        try:
            wconn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                (DECISIONS.target_database.value, f"smartsync-{W2C.value}"),
            )
            wait_until(
                lambda: flow.metric("smartsync_sink_up", flow=W2C.value) == 0, timeout_s=30, what="the sink down"
            )
            time.sleep(OUTAGE_S)
            assert flow.metric("smartsync_sink_up", flow=W2C.value) == 0
            flow.check_alive()
        finally:
            wconn.execute(f"ALTER DATABASE {DECISIONS.target_database.value} WITH ALLOW_CONNECTIONS true")
        time.sleep(LOAD_S / 2)
        assert load.errors == 0  # the source stayed up all along
    with flow:
        diff = assert_reconciled(DECISIONS, flow=flow)
    figures("target-outage", load, started, diff, outage_s=OUTAGE_S)


def test_a_kafka_connect_restart_under_load(tmp_path: Path, stack: StackState, warehouse_dsn: str) -> None:
    started = time.monotonic()
    flow = RunningFlow(W2C, tmp_path, workers=1)
    try:
        with Load(warehouse_dsn) as load, flow:
            serving(flow)
            time.sleep(LOAD_S / 2)
            faults.kill("connect")
            time.sleep(LOAD_S / 2)
            faults.restart_connect(CAT)
            time.sleep(LOAD_S / 2)
        assert load.changes > 0
        with flow:
            diff = assert_reconciled(DECISIONS, flow=flow)
        figures("connect-restart", load, started, diff)
    finally:
        faults.restart_connect(CAT)
        whole_again(stack)


def test_a_broker_restart_under_load(tmp_path: Path, stack: StackState, warehouse_dsn: str) -> None:
    started = time.monotonic()
    flow = RunningFlow(W2C, tmp_path, workers=1)
    try:
        with Load(warehouse_dsn) as load, flow:
            serving(flow)
            time.sleep(LOAD_S / 2)
            faults.kill("kafka")
            time.sleep(3)
            faults.restart_kafka()
            time.sleep(LOAD_S / 2)
        assert load.changes > 0
        with flow:
            diff = assert_reconciled(DECISIONS, flow=flow, timeout_s=300)
        figures("broker-restart", load, started, diff)
    finally:
        faults.restart_kafka()
        whole_again(stack)
