"""Idle expiry of top-N groups: the real warehouse_to_citizen wiring in Bytewax, and its clock alone.

The flows run in-process (``run_main``) with ``TestingSource``; ``TestingSource.PAUSE`` lets wall-clock time
pass without input so Bytewax's notification fires, as an idle citizen's would after days in production.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from bytewax.recovery import RecoveryConfig, init_db_dir
from bytewax.testing import TestingSink, TestingSource, cluster_main, run_main
from prometheus_client import REGISTRY

from connectors.debezium.envelope import Origin
from connectors.postgres.writer import SinkItem, TargetChange
from dataflows.runner import free_ports
from dataflows.top_n import Evaluation, Scored
from dataflows.wiring import RESTORE_GRACE_S, TopNGroup, _TopN, build_flow
from smartsync.core.catalog import Direction, TopN, load_catalog
from smartsync.core.settings import Settings

CATALOG = load_catalog()
FLOW = Direction.WAREHOUSE_TO_CITIZEN
SYNC = "eligibility_hints"
_SPEC = CATALOG.sync(SYNC).top_n
assert _SPEC is not None
SPEC: TopN = _SPEC
STEP_ID = "warehouse_to_citizen.top_n.stateful_batch"


def _snapshot(offset: int, scheme: str, score: str, status: str, lsn: int, *, citizen: int = 9) -> Origin:
    """A citizen's evaluation on one scheme, as Debezium's JsonConverter (schemas off) writes it."""
    at = "2026-11-21T21:16:50.283942Z"
    after = {"citizen_id": citizen, "scheme_code": scheme, "eligibility_score": score, "status": status}
    source = {"connector": "postgresql", "db": "smart_warehouse", "snapshot": "false", "lsn": lsn, "ts_us": 1}
    value = {"before": None, "after": {**after, "evaluated_at": at, "updated_at": at}, "source": source, "op": "c"}
    topic = CATALOG.sync(SYNC).topic
    assert topic is not None
    key = orjson.dumps({"citizen_id": citizen, "scheme_code": scheme})
    return Origin(topic.name, 0, offset, key, orjson.dumps(value))


def _metric(name: str) -> float:
    return REGISTRY.get_sample_value(name, {"flow": FLOW.value, "sync": SYNC}) or 0.0


def _expired() -> float:
    return _metric("smartsync_top_n_groups_expired_total")


def _run(inputs: list[Any], idle_s: float, recovery: Path | None = None, *, workers: int = 1) -> list[tuple[Any, ...]]:
    """Run the flow; the changes of eligibility_hints as (key, 'upsert'|'delete') in order."""
    out: list[list[SinkItem]] = []
    settings = Settings(kafka_bootstrap="unused:9092", top_n_idle_s=idle_s)
    flow = build_flow(CATALOG, FLOW, settings, source=TestingSource(inputs), sink=TestingSink(out))
    config = RecoveryConfig(str(recovery)) if recovery is not None else None
    if workers == 1:
        run_main(flow, epoch_interval=timedelta(0), recovery_config=config)
    else:
        cluster_main(flow, [f"127.0.0.1:{free_ports(1)[0]}"], 0, worker_count_per_proc=workers)
    return [
        (item.change.key, "delete" if item.change.row is None else "upsert")
        for batch in out
        for item in batch
        if isinstance(item, TargetChange) and item.sync == SYNC
    ]


def _pause(seconds: float) -> TestingSource.PAUSE:
    return TestingSource.PAUSE(timedelta(seconds=seconds))


def _snaps(recovery: Path) -> dict[str, bool]:
    """Recovery's newest snapshot of each top-N group: True while it holds state, False once discarded."""
    with sqlite3.connect(recovery / "part-0.sqlite3") as db:
        rows = db.execute(
            "SELECT state_key, ser_change IS NOT NULL FROM snaps s WHERE step_id = ? AND snap_epoch = "
            "(SELECT max(snap_epoch) FROM snaps WHERE step_id = s.step_id AND state_key = s.state_key)",
            (STEP_ID,),
        ).fetchall()
    return {key: bool(held) for key, held in rows}


def test_a_group_idle_beyond_the_limit_is_discarded_and_counted(tmp_path: Path) -> None:
    init_db_dir(tmp_path, 1)
    before = _expired()
    got = _run(
        [
            _snapshot(0, "S1", "0.6000", "eligible", 2000),
            _pause(3),  # idle limit 1 s: the group expires
            # The flow no longer knows S1 is in the target: this evaluation starts a new group and deletes nothing
            # (the daily fixing reconcile removes S1); it proves the old state is gone.
            _snapshot(1, "S1", "0.6000", "not_eligible", 2001),
            _snapshot(2, "S2", "0.7000", "eligible", 2002),
        ],
        idle_s=1,
        recovery=tmp_path,
    )
    assert got == [((9, "S1"), "upsert"), ((9, "S2"), "upsert")]
    assert _expired() - before == 1
    assert _snaps(tmp_path) == {"eligibility_hints:9": True}  # the new group; the expired one left no state


def test_groups_expire_with_two_workers() -> None:
    before = _expired()
    citizens = range(20, 26)  # Bytewax spreads the groups over the workers by key
    evaluations = [_snapshot(i, "S1", "0.6000", "eligible", 3000 + i, citizen=c) for i, c in enumerate(citizens)]
    got = _run([*evaluations, _pause(3)], idle_s=1, workers=2)
    assert sorted(got) == [((c, "S1"), "upsert") for c in citizens]
    assert _expired() - before == len(citizens)


def test_the_expired_group_leaves_recovery(tmp_path: Path) -> None:
    init_db_dir(tmp_path, 1)
    _run([_snapshot(0, "S1", "0.6000", "eligible", 2000), _pause(3)], idle_s=1, recovery=tmp_path)
    assert _snaps(tmp_path) == {"eligibility_hints:9": False}


def test_a_group_seen_again_before_the_limit_keeps_its_state() -> None:
    before = _expired()
    got = _run(
        [
            _snapshot(0, "S1", "0.6000", "eligible", 2000),
            _pause(2),
            _snapshot(1, "S2", "0.7000", "eligible", 2001),  # renews the idle clock
            _pause(2),  # 4 s since S1, 2 s since S2: the limit is 3.5 s
            _snapshot(2, "S1", "0.6000", "not_eligible", 2002),
        ],
        idle_s=3.5,
    )
    # The state still knows S1 is in the top: its new status deletes it.
    assert got == [((9, "S1"), "upsert"), ((9, "S2"), "upsert"), ((9, "S1"), "delete")]
    assert _expired() == before


def test_no_limit_keeps_a_group_however_long_it_is_idle() -> None:
    before = _expired()
    got = _run(
        [_snapshot(0, "S1", "0.6000", "eligible", 2000), _pause(1.5), _snapshot(1, "S1", "0.6", "not_eligible", 2001)],
        idle_s=0,
    )
    assert got == [((9, "S1"), "upsert"), ((9, "S1"), "delete")]
    assert _expired() == before


def test_the_state_resumes_from_recovery_after_a_crash(tmp_path: Path) -> None:
    init_db_dir(tmp_path, 1)
    inputs = [
        _snapshot(0, "S1", "0.6000", "eligible", 2000),
        _snapshot(1, "S2", "0.7000", "eligible", 2001),
        TestingSource.ABORT(),
        _snapshot(2, "S1", "0.6000", "not_eligible", 2002),
    ]
    first = _run(inputs, idle_s=3600, recovery=tmp_path)
    assert first == [((9, "S1"), "upsert"), ((9, "S2"), "upsert")]
    resumed = _run(inputs, idle_s=3600, recovery=tmp_path)
    # Only the restored state knows S1 is in the top, so only it can delete S1.
    assert resumed == [((9, "S1"), "delete")]
    assert _snaps(tmp_path) == {"eligibility_hints:9": True}


# ── the clock alone (a stand-in clock, no Bytewax run) ───────────────────────────────


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _ev(scheme: str, pos: int) -> Evaluation:
    row = {"citizen_id": 9, "scheme_code": scheme, "eligibility_score": 0.5, "status": "eligible"}
    return Evaluation(SYNC, "9", (9, scheme), None, "eligible", row, pos, None, Origin("t", 0, 0, None, b""))


def test_the_deadline_follows_the_last_evaluation_and_a_late_notification_rechecks_it() -> None:
    clock = _Clock()
    logic = _TopN({SYNC: SPEC}, FLOW.value, 100, clock)(None)
    assert logic.notify_at() is None  # no group yet
    logic.on_item(_ev("S1", 1))
    assert logic.notify_at() == datetime.fromtimestamp(clock.now + 100, tz=UTC)
    clock.now += 90
    logic.on_item(_ev("S2", 2))
    clock.now += 20  # past the first deadline, not the second
    assert logic.on_notify()[1] is False
    clock.now += 80
    assert logic.on_notify()[1] is True


def test_a_restored_group_gets_a_grace_period_after_a_long_outage() -> None:
    clock = _Clock()
    build = _TopN({SYNC: SPEC}, FLOW.value, 100_000, clock)
    stale = TopNGroup(SYNC, {(9, "S1"): Scored((9, "S1"), None, "eligible", {}, 1)}, clock.now - 10 * 100_000)
    logic = build(stale)
    assert logic.notify_at() == datetime.fromtimestamp(clock.now + RESTORE_GRACE_S, tz=UTC)
    recent = TopNGroup(SYNC, dict(stale.state), clock.now - 10)
    assert build(recent).notify_at() == datetime.fromtimestamp(clock.now - 10 + 100_000, tz=UTC)


def test_live_groups_are_counted_in_and_out() -> None:
    clock = _Clock()
    build = _TopN({SYNC: SPEC}, FLOW.value, 100, clock)
    live = _metric("smartsync_top_n_groups")
    logic = build(None)
    logic.on_item(_ev("S1", 1))
    assert _metric("smartsync_top_n_groups") == live + 1
    clock.now += 101
    assert logic.on_notify()[1] is True
    assert _metric("smartsync_top_n_groups") == live
