"""Stale recovery state on the real stack: it never skips data silently.

An out-of-range resume offset (topic recreated, retention passed) used to jump to the END of the
partition (librdkafka's default): every change in between was lost without a word. Recovery state
taken on another Kafka cluster (or an earlier incarnation of a topic) ran on as if nothing happened.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dataflows.recovery_identity import IDENTITY_FILE
from dataflows.testing import RunningFlow, converged, expected_mirror, wait_until
from smartsync.core.catalog import Direction, load_catalog
from tests.integration.chaos.full_reconciliation import assert_reconciled, even_out

CAT = load_catalog()
W2C = Direction.WAREHOUSE_TO_CITIZEN
DECISIONS = CAT.sync("application_decisions")


def _insert(conn: psycopg.Connection[Any], apps: list[int]) -> None:
    for app in apps:
        conn.execute(
            "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status, risk_score) "
            "VALUES (%s, %s, 'OAP', 'pending', 0.5000)",
            (app, app),
        )


def push_offsets_beyond_the_end(recovery_dir: Path, step_id: str, by: int) -> int:
    """Every snapshotted Kafka offset moves ``by`` ahead: what a recreated topic or passed retention looks like."""
    moved = 0
    for path in recovery_dir.glob("part-*.sqlite3"):
        with sqlite3.connect(path) as db:
            rows = db.execute(
                "SELECT state_key, snap_epoch, ser_change FROM snaps WHERE step_id = ? AND ser_change IS NOT NULL",
                (step_id,),
            ).fetchall()
            for key, epoch, blob in rows:
                offset = pickle.loads(blob)  # noqa: S301 — our own test's recovery file
                db.execute(
                    "UPDATE snaps SET ser_change = ? WHERE step_id = ? AND state_key = ? AND snap_epoch = ?",
                    (pickle.dumps(offset + by), step_id, key, epoch),
                )
                moved += 1
    return moved


def _snapshotted(recovery_dir: Path, topic: str) -> bool:
    for path in recovery_dir.glob("part-*.sqlite3"):
        with sqlite3.connect(path) as db:
            found = (
                db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'snaps'").fetchone()[0]
                and db.execute(
                    "SELECT count(*) FROM snaps WHERE state_key LIKE ? AND ser_change IS NOT NULL", (f"%-{topic}",)
                ).fetchone()[0]
            )
        if found:
            return True
    return False


def test_an_out_of_range_resume_offset_replays_from_the_earliest(
    tmp_path: Path, warehouse_dsn: str, citizen_dsn: str
) -> None:
    even_out(DECISIONS)
    base = random.randrange(10**8, 9 * 10**8)
    first, while_away = [base + i for i in range(3)], [base + 100 + i for i in range(10)]
    with (
        psycopg.connect(warehouse_dsn, autocommit=True) as wconn,
        psycopg.connect(citizen_dsn, autocommit=True) as cconn,
    ):
        flow = RunningFlow(W2C, tmp_path, workers=1)
        with flow:
            _insert(wconn, first)
            expected = expected_mirror(DECISIONS, wconn, "application_id", first)
            flow.wait(converged(DECISIONS, cconn, "application_id", first, expected), what="the first changes")
            assert DECISIONS.topic is not None
            topic = DECISIONS.topic.name
            # A snapshot holds their offsets (after a replay of the topics' history: give it time).
            wait_until(lambda: _snapshotted(tmp_path / W2C.value, topic), timeout_s=90, what="a snapshot")
            time.sleep(2)
        recovery_dir = tmp_path / W2C.value
        assert push_offsets_beyond_the_end(recovery_dir, f"{W2C.value}.kafka_in", 10**9) > 0
        _insert(wconn, while_away)
        with flow:
            everything = first + while_away
            expected = expected_mirror(DECISIONS, wconn, "application_id", everything)
            flow.wait(
                converged(DECISIONS, cconn, "application_id", everything, expected),
                what="the changes made while the flow was away",
                timeout_s=120,
            )
            assert flow.metric("smartsync_offset_resets_total", flow=W2C.value) > 0
            assert "is out of range" in flow.logs()
            assert_reconciled(DECISIONS, flow=flow)


@pytest.mark.parametrize("elsewhere", ["cluster", "topic"])
def test_recovery_state_of_another_kafka_cluster_or_topic_stops_the_flow_until_reset(
    tmp_path: Path, warehouse_dsn: str, citizen_dsn: str, elsewhere: str
) -> None:
    even_out(DECISIONS)
    base = random.randrange(10**8, 9 * 10**8)
    apps = [base + i for i in range(3)]
    with (
        psycopg.connect(warehouse_dsn, autocommit=True) as wconn,
        psycopg.connect(citizen_dsn, autocommit=True) as cconn,
    ):
        flow = RunningFlow(W2C, tmp_path, workers=1)
        with flow:
            flow.wait(lambda: flow.metric("smartsync_sink_up", flow=W2C.value) == 1, what="flow up")
        identity = tmp_path / W2C.value / IDENTITY_FILE
        doc = json.loads(identity.read_text())
        assert doc["cluster_id"]
        assert all(doc["topics"].values())
        assert DECISIONS.topic is not None
        topic = DECISIONS.topic.name
        if elsewhere == "cluster":
            # The recovery volume survives while Kafka is rebuilt: another cluster id.
            identity.write_text(json.dumps({**doc, "cluster_id": "AnotherClusterIdxxxxxx"}))
            why = "was taken from Kafka cluster AnotherClusterIdxxxxxx"
        else:
            # The topic was deleted and created again: same name, another topic id.
            identity.write_text(json.dumps({**doc, "topics": {**doc["topics"], topic: "AnotherTopicIdxxxxxxxxx"}}))
            why = f"was taken from an earlier incarnation of topic(s) ['{topic}']"
        flow.start()
        wait_until(lambda: flow.exit_codes() != [None], timeout_s=60, what="the flow to refuse")
        assert flow.exit_codes()[0] != 0
        logs = flow.logs()
        assert why in logs
        assert "smartsync flow reset warehouse_to_citizen" in logs

        env = {**os.environ, "SMARTSYNC_RECOVERY_DIR": str(tmp_path)}
        done = subprocess.run(  # noqa: S603
            [str(Path(sys.executable).parent / "smartsync"), "flow", "reset", W2C.value, "--yes"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert not identity.exists()
        _insert(wconn, apps)
        with flow:
            expected = expected_mirror(DECISIONS, wconn, "application_id", apps)
            flow.wait(converged(DECISIONS, cconn, "application_id", apps, expected), what="changes after the reset")
            assert_reconciled(DECISIONS, flow=flow)
        rebound = json.loads(identity.read_text())
        assert (rebound["cluster_id"], rebound["topics"][topic]) == (doc["cluster_id"], doc["topics"][topic])
