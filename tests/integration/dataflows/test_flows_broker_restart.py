"""A Kafka broker restart under a running dataflow: it reconnects and nothing is lost.

It restarts the session stack's broker, so it runs after the other tests (``disruptive``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import psycopg
import pytest

from dataflows.testing import RunningFlow, converged, expected_mirror
from smartsync.core.catalog import Direction, load_catalog
from smartsync.devstack import localstack
from smartsync.devstack.localstack import StackState, faults

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
DECISIONS = CAT.sync("application_decisions")


def _insert(conn: psycopg.Connection, app: int) -> None:
    conn.execute(
        f"INSERT INTO {DECISIONS.source} (application_id, citizen_id, scheme_code, status) VALUES (%s, %s, 'OAP', "
        "'pending')",
        (app, app),
    )


@pytest.mark.disruptive
def test_a_broker_restart_is_ridden_out_with_nothing_lost(
    tmp_path: Path, stack: StackState, warehouse_dsn: str, citizen_dsn: str
) -> None:
    base = random.randrange(10**9, 9 * 10**9)
    before, during = [base + i for i in range(5)], [base + 100 + i for i in range(20)]
    with (
        psycopg.connect(warehouse_dsn, autocommit=True) as wconn,
        psycopg.connect(citizen_dsn, autocommit=True) as cconn,
        RunningFlow(W2C, tmp_path, workers=1) as flow,
    ):
        for app in before:
            _insert(wconn, app)
        expected = expected_mirror(DECISIONS, wconn, "application_id", before)
        flow.wait(converged(DECISIONS, cconn, "application_id", before, expected), what="changes before the restart")

        # The broker dies without warning; changes keep coming while it is down.
        faults.kill("kafka")
        for app in during:
            _insert(wconn, app)
        wconn.execute(f"UPDATE {DECISIONS.source} SET status = 'approved' WHERE application_id = ANY(%s)", (before,))
        time.sleep(3)
        faults.restart_kafka()

        everything = before + during
        expected = expected_mirror(DECISIONS, wconn, "application_id", everything)
        flow.wait(
            converged(DECISIONS, cconn, "application_id", everything, expected),
            timeout_s=180,
            what="catch-up after the broker restart",
        )
        flow.check_alive()
    # The stack is whole again for whatever runs next.
    state = localstack.read_state()
    assert state is not None
    localstack.wait_for_sentinel(state, CAT, timeout=120)
    stack.pids.update(state.pids)
