"""Guard rails of every fix on the real stack: mass deletes, callback-fed pairs, appended events, backfill."""

from __future__ import annotations

import pytest

from reconcile.compare import compare, compare_and_fix
from reconcile.jobs import backfill, run_job
from smartsync.core.catalog import load_catalog
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from tests.integration.reconcile.reconcile_fixtures import execute, reset, rows, scalar

W, C = Database.WAREHOUSE, Database.CITIZEN

DECISIONS = """
INSERT INTO {table} (application_id, citizen_id, scheme_code, status, decision, decision_reason, risk_score,
    decided_at, updated_at)
SELECT g, g, 'S001', 'decided', 'approved', 'ok', 0.1, now(), now() FROM generate_series(1, %(n)s::int) g
"""
FORECASTS = """
INSERT INTO {table} (forecast_id, citizen_id, scheme_code, forecast_amount, forecast_period, confidence, generated_at)
SELECT md5(g::text)::uuid, g, 'S001', 100, '2026-Q4', 0.9, now() FROM generate_series(1, %(n)s::int) g
"""
APPLICATIONS = """
INSERT INTO public.service_applications (application_id, citizen_id, scheme_code, status, submitted_at, updated_at)
SELECT g, g, 'S001', CASE WHEN g %% 3 = 0 THEN 'withdrawn' ELSE 'submitted' END, now() - interval '2 hours',
    now() - interval '1 hour'
FROM generate_series(1, %(n)s::int) g
"""


@pytest.fixture
def dbs(warehouse_dsn: str, citizen_dsn: str) -> tuple[str, str]:
    reset(warehouse_dsn, W)
    reset(citizen_dsn, C)
    return warehouse_dsn, citizen_dsn


def test_an_emptied_source_does_not_empty_the_target(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, DECISIONS.format(table="decision.applications"), {"n": 200})
    sync = load_catalog().sync("application_decisions")
    settings = load_settings()
    compare_and_fix(sync, settings)
    execute(wh, "DELETE FROM decision.applications WHERE application_id > 20")  # 90 % of the source gone
    with pytest.raises(ReconcileError, match=r"would delete 180 of 200 rows .*5% guard rail"):
        compare_and_fix(sync, settings)
    assert scalar(ct, "SELECT count(*) FROM public.application_decisions") == 200  # nothing applied
    with pytest.raises(ReconcileError, match="allow-mass-delete"):
        run_job("application_decisions_daily", settings)
    fixed = compare_and_fix(sync, settings, allow_mass_delete=True)
    assert fixed.applied is not None and fixed.applied.deleted == 180


def test_an_empty_warehouse_forecast_table_never_deletes_portal_forecasts(dbs: tuple[str, str]) -> None:
    _, ct = dbs
    # The callback service delivered these straight to the portal; the warehouse copy is empty.
    execute(ct, FORECASTS.format(table="public.benefit_forecasts"), {"n": 50})
    result = run_job("benefit_forecasts_daily", load_settings())
    assert result.status == "success" and result.counts.deleted == 0
    assert scalar(ct, "SELECT count(*) FROM public.benefit_forecasts") == 50


def test_missing_application_events_are_appended_once(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(ct, APPLICATIONS, {"n": 30})
    # Application 31 changed a minute ago: its event may still be on its way, it waits for the next run.
    execute(
        ct,
        "INSERT INTO public.service_applications (application_id, citizen_id, scheme_code, status) "
        "VALUES (31, 31, 'S001', 'submitted')",
    )
    settings = load_settings()
    first = run_job("application_submissions_daily", settings)
    assert first.counts.inserted == 30
    assert rows(
        wh, "SELECT event_type, status, count(*) FROM decision.application_events GROUP BY 1, 2 ORDER BY 2"
    ) == [
        ("submitted", "submitted", 20),
        ("submitted", "withdrawn", 10),
    ]
    again = run_job("application_submissions_daily", settings)
    assert again.counts.inserted == 0  # never duplicated
    assert scalar(wh, "SELECT count(*) FROM decision.application_events") == 30
    # A status change the event path lost an hour ago becomes one appended status_changed event.
    execute(ct, "ALTER TABLE public.service_applications DISABLE TRIGGER USER")
    try:
        execute(ct, "UPDATE public.service_applications SET status = 'approved' WHERE application_id = 1")
    finally:
        execute(ct, "ALTER TABLE public.service_applications ENABLE TRIGGER USER")
    third = run_job("application_submissions_daily", settings)
    assert third.counts.inserted == 1
    assert rows(
        wh, "SELECT event_type, status FROM decision.application_events WHERE application_id = 1 ORDER BY source_lsn"
    ) == [("submitted", "submitted"), ("status_changed", "approved")]
    sync = load_catalog().sync("application_submissions")
    left = compare(sync, settings).diff
    assert [k for k in left.source_only] == [(31,)]


def test_backfill_copies_what_existed_before_go_live(dbs: tuple[str, str]) -> None:
    wh, ct = dbs
    execute(wh, DECISIONS.format(table="decision.applications"), {"n": 40})
    result = backfill(load_catalog().sync("application_decisions"), load_settings())
    assert result.counts.inserted == 40
    assert scalar(ct, "SELECT count(*) FROM public.application_decisions") == 40
    assert scalar(ct, "SELECT status FROM smartsync.job_runs WHERE job = 'backfill.application_decisions'") == "success"
