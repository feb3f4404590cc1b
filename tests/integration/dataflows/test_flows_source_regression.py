"""A source position regression on the real stack: detected, writes stop, a rebase resumes them.

A source restored from a dump or to a point in time starts a new WAL history below the positions
stored in the target; every later change used to be skipped as stale, silently. Here the target
is made to look as it does after such a restore: its rows carry positions of an "old incarnation"
(far above the source's WAL) and its recorded source identity is that old one.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import psycopg

from dataflows.testing import RunningFlow, converged, expected_mirror, wait_until
from smartsync.core.catalog import Direction, load_catalog
from tests.integration.chaos.full_reconciliation import assert_reconciled, even_out

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
DECISIONS = CAT.sync("application_decisions")
OLD_POSITION = 2**62


def _smartsync(*args: str) -> subprocess.CompletedProcess[str]:
    exe = str(Path(sys.executable).parent / "smartsync")
    return subprocess.run([exe, *args], capture_output=True, text=True, check=False)  # noqa: S603


def test_a_restored_source_stops_the_flow_until_rebased(tmp_path: Path, warehouse_dsn: str, citizen_dsn: str) -> None:
    even_out(DECISIONS)
    base = random.randrange(10**8, 9 * 10**8)
    apps = [base, base + 1]
    with (
        psycopg.connect(warehouse_dsn, autocommit=True) as wconn,
        psycopg.connect(citizen_dsn, autocommit=True) as cconn,
    ):
        saved = cconn.execute(
            "SELECT system_identifier, timeline FROM smartsync.source_identity "
            "WHERE source_database = 'smart_warehouse'"
        ).fetchone()
        try:
            flow = RunningFlow(W2C, tmp_path, workers=1)
            with flow:
                for app in apps:
                    wconn.execute(
                        "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status) "
                        "VALUES (%s, %s, 'OAP', 'pending')",
                        (app, app),
                    )
                expected = expected_mirror(DECISIONS, wconn, "application_id", apps)
                flow.wait(converged(DECISIONS, cconn, "application_id", apps, expected), what="the first changes")
            # The source "was restored": the target's positions and recorded identity belong to the old one.
            cconn.execute(
                "UPDATE public.application_decisions SET _source_lsn = %s WHERE application_id = ANY(%s)",
                (OLD_POSITION, apps),
            )
            cconn.execute(
                "UPDATE smartsync.source_identity SET system_identifier = '1' WHERE source_database = 'smart_warehouse'"
            )
            wconn.execute(
                "UPDATE decision.applications SET status = 'approved' WHERE application_id = ANY(%s)", (apps,)
            )
            flow.start()
            wait_until(lambda: flow.exit_codes() != [None], timeout_s=60, what="the flow to refuse")
            assert flow.exit_codes()[0] != 0
            assert "source smart_warehouse is a new incarnation" in flow.logs()
            assert "smartsync flow rebase warehouse_to_citizen" in flow.logs()

            done = _smartsync("flow", "rebase", W2C.value, "--yes")
            assert done.returncode == 0, done.stdout + done.stderr
            with flow:
                expected = expected_mirror(DECISIONS, wconn, "application_id", apps)
                flow.wait(converged(DECISIONS, cconn, "application_id", apps, expected), what="changes after rebase")
                assert_reconciled(DECISIONS, flow=flow)
        finally:
            if saved is not None:
                cconn.execute(
                    "UPDATE smartsync.source_identity SET system_identifier = %s, timeline = %s "
                    "WHERE source_database = 'smart_warehouse'",
                    saved,
                )
            cconn.execute(
                "UPDATE public.application_decisions SET _source_lsn = NULL "
                "WHERE application_id = ANY(%s) AND _source_lsn = %s",
                (apps, OLD_POSITION),
            )
