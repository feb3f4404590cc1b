"""Idle expiry of top-N state on the real stack: the flow forgets an idle citizen, and the daily fixing
reconcile repairs what its return leaves in the target (docs/event-path.md, "Top-N state")."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import psycopg

from dataflows.testing import RunningFlow, target_state
from smartsync.core.catalog import Direction, load_catalog
from tests.integration.reconcile.reconcile_fixtures import smartsync

CAT = load_catalog()
SYNC = CAT.sync("eligibility_hints")


def _top5(wconn: psycopg.Connection[Any], citizen: int) -> set[str]:
    rows = wconn.execute(
        "SELECT scheme_code FROM eligibility.eligibility_snapshots WHERE citizen_id = %s AND status = 'eligible' "
        'ORDER BY eligibility_score DESC, scheme_code COLLATE "C" LIMIT 5',
        (citizen,),
    ).fetchall()
    return {r[0] for r in rows}


def test_an_idle_citizen_expires_and_the_daily_fixing_reconcile_repairs_its_return(
    tmp_path: Path, wconn: psycopg.Connection[Any], cconn: psycopg.Connection[Any]
) -> None:
    cconn.execute("TRUNCATE public.eligibility_hints")
    citizen = random.randrange(10**8, 9 * 10**8)

    def hints() -> set[str]:
        return {key[1] for key in target_state(SYNC, cconn, "citizen_id", [citizen])}

    def snap(scheme: str, score: str, status: str = "eligible") -> None:
        wconn.execute(
            "INSERT INTO eligibility.eligibility_snapshots (citizen_id, scheme_code, eligibility_score, status) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (citizen_id, scheme_code) DO UPDATE SET "
            "eligibility_score = EXCLUDED.eligibility_score, status = EXCLUDED.status, evaluated_at = now()",
            (citizen, scheme, score, status),
        )

    flow = RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path, env={"SMARTSYNC_TOP_N_IDLE_S": "3"})
    labels = {"flow": "warehouse_to_citizen", "sync": "eligibility_hints"}
    with flow:
        for i in range(6):
            snap(f"S{i}", f"0.{10 + i * 10}")
        flow.wait(lambda: hints() == {"S1", "S2", "S3", "S4", "S5"}, what="the first top 5")
        # Every group the replayed topic and this test made expires: the flow holds no citizen any more.
        flow.wait(
            lambda: (
                flow.metric("smartsync_top_n_groups_expired_total", **labels) >= 1
                and flow.metric("smartsync_top_n_groups", **labels) == 0
            ),
            timeout_s=60,
            what="the idle citizen to expire",
        )
        # The citizen returns: S5 stops being eligible and S9 enters. The flow starts the citizen afresh, so it
        # upserts S9 but cannot know S5 is in the target: it deletes nothing.
        snap("S5", "0.6000", "not_eligible")
        snap("S9", "0.9500")
        flow.wait(lambda: "S9" in hints(), what="the returning citizen's new hint")
        assert hints() == {"S1", "S2", "S3", "S4", "S5", "S9"}
    run = smartsync("batch", "run", "eligibility_hints_daily", "--ignore-maintenance")
    assert run.returncode == 0, run.stdout + run.stderr
    assert hints() == _top5(wconn, citizen) == {"S1", "S2", "S3", "S4", "S9"}
