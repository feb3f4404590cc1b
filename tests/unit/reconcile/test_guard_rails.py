"""Guard rails of a fix (pure): the mass-delete refusal, callback-fed and enriched targets, appended events."""

from __future__ import annotations

from datetime import UTC, datetime

from dataflows import decode
from reconcile import apply
from reconcile.apply import mass_delete_refusal, plan_events
from reconcile.engine import Comparison
from reconcile.fix_rows import FixRow
from reconcile.kinds import callback_fed, deletes_on_fix, kind_of
from reconcile.model import ChangedRow, SchemaDiff, TableDiff
from smartsync.core.catalog import load_catalog

CAT = load_catalog()


def _diff(target_rows: int, target_only: int, **extra: object) -> TableDiff:
    fields: dict[str, object] = {
        "name": "t",
        "source": "s",
        "target": "public.t",
        "key": ("id",),
        "schema": SchemaDiff(),
        "source_rows": target_rows - target_only,
        "target_rows": target_rows,
        "source_only": (),
        "target_only": tuple((i,) for i in range(target_only)),
        "changed": (),
        "unchanged": target_rows - target_only,
        "snapshot_lsn": 1000,
    }
    fields.update(extra)
    return TableDiff(**fields)  # type: ignore[arg-type]


def test_a_fix_deleting_more_than_five_percent_is_refused() -> None:
    refusal = mass_delete_refusal(_diff(1000, 51), max_pct=5.0, floor_rows=10)
    assert refusal is not None and "51 of 1,000 rows" in refusal and "5% guard rail" in refusal
    assert mass_delete_refusal(_diff(1000, 50), max_pct=5.0, floor_rows=10) is None  # exactly 5 %: allowed


def test_an_emptied_source_would_delete_everything_and_is_refused() -> None:
    assert mass_delete_refusal(_diff(200, 200), max_pct=5.0, floor_rows=10) is not None


def test_a_few_deletes_in_a_small_table_stay_under_the_floor() -> None:
    assert mass_delete_refusal(_diff(40, 8), max_pct=5.0, floor_rows=10) is None
    assert mass_delete_refusal(_diff(40, 8), max_pct=5.0, floor_rows=0) is not None


def test_callback_fed_pairs_never_delete() -> None:
    for name in ("benefit_forecasts", "ml_alerts"):
        sync = CAT.sync(name)
        assert callback_fed(sync)
        assert not deletes_on_fix(kind_of(sync), sync)
    # A portal delete of a citizen never deletes the enriched golden record (profile_updates' target).
    sync = CAT.sync("profile_updates")
    assert not deletes_on_fix(kind_of(sync), sync)
    sync = CAT.sync("application_decisions")
    assert deletes_on_fix(kind_of(sync), sync)


def test_missing_events_are_appended_at_the_snapshot_position() -> None:
    rows = [
        FixRow((1,), {"application_id": 1, "citizen_id": 7, "scheme_code": "A", "status": "submitted"}, new=True),
        FixRow((2,), {"application_id": 2, "citizen_id": 8, "scheme_code": "B", "status": "withdrawn"}, new=False),
        FixRow((3,), {"application_id": 3, "citizen_id": 9, "scheme_code": "C", "status": "approved"}, new=False),
        FixRow((4,), {"application_id": 4, "citizen_id": 9, "scheme_code": "C", "status": "approved"}, new=True),
    ]
    at = datetime(2026, 12, 9, tzinfo=UTC)
    diff = _diff(
        3,
        1,
        source_only=((1,), (4,)),
        changed=(ChangedRow((2,), ("status",)), ChangedRow((3,), ("status",))),
        snapshot_lsn=5000,
    )
    found = Comparison(diff=diff, fix_rows=rows, source_ts=at)
    events = list(plan_events(found, held=frozenset({(4,)})))
    assert [(e.key, e.row["event_type"] if e.row else None) for e in events] == [
        ((1, 5000), "submitted"),
        ((2, 5000), "withdrawn"),
        ((3, 5000), "status_changed"),
    ]
    assert all(e.position == 5000 and e.row and e.row["occurred_at"] == at for e in events)
    # The target-only key (an application gone from the portal) is never deleted from the log.
    assert all(e.row is not None for e in events)


def test_the_event_vocabulary_matches_the_event_path() -> None:
    assert (apply.EVENT_SUBMITTED, apply.EVENT_STATUS_CHANGED, apply.EVENT_WITHDRAWN) == (
        decode.EVENT_SUBMITTED,
        decode.EVENT_STATUS_CHANGED,
        decode.EVENT_WITHDRAWN,
    )


def test_every_event_only_sync_has_a_daily_fixing_job() -> None:
    for sync in CAT.syncs:
        if sync.has_event_path and not sync.has_batch_path:
            crons = [s.cron for s in sync.schedules]
            assert len(crons) == 1 and crons[0].split()[2:] == ["*", "*", "*"], sync.name
