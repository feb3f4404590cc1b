"""The weekly disaster-recovery run on the real stack: it fixes, stores, lists, renders and delivers its report."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from reconcile.scheduled import run_scheduled
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings
from smartsync.core.tables import Database
from tests.integration.reconcile.reconcile_fixtures import SCHEMES, execute, reset, rows, scalar, smartsync
from tests.unit.reconcile.test_report_delivery import _Hook, _Smtp
from tests.unit.reconcile.test_report_delivery import servers as _servers

W, C = Database.WAREHOUSE, Database.CITIZEN
servers = _servers


@pytest.fixture
def dbs(warehouse_dsn: str, citizen_dsn: str) -> Iterator[tuple[str, str]]:
    reset(warehouse_dsn, W)
    reset(citizen_dsn, C)
    execute(warehouse_dsn, "TRUNCATE smartsync.reconciliation_reports")
    yield warehouse_dsn, citizen_dsn


def test_the_weekly_run_fixes_stores_and_delivers_its_report(dbs: tuple[str, str], servers: tuple[str, int]) -> None:
    wh, ct = dbs
    url, port = servers
    execute(wh, SCHEMES, {"n": 20})
    settings = load_settings().model_copy(
        update={
            "report_webhook_url": SecretStr(url),
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,
            "report_email_to": "dr@example.org",
        }
    )
    catalog = load_catalog()
    first = run_scheduled("weekly_reconciliation", settings, catalog=catalog)
    assert first.status == "success" and first.run_id is not None
    # The scheduled weekly run repairs (within the guard rails), not only reports.
    assert scalar(ct, "SELECT count(*) FROM public.schemes") == 18
    assert first.report is not None and first.report.fixed["scheme_master"]["inserted"] == 18
    assert "scheme_master: 18 source-only" in _Hook.received[0]["text"]
    assert "dr@example.org" in _Smtp.messages[0]
    # A week later (the next stored run): drift again, in another pair.
    execute(ct, "DELETE FROM public.schemes WHERE scheme_code = 'S001'")
    second = run_scheduled(
        "weekly_reconciliation", settings, catalog=catalog, scheduled_for=first.scheduled_for.replace(year=2027)
    )
    assert second.status == "success"
    stored = rows(wh, "SELECT run_id FROM smartsync.reconciliation_reports ORDER BY run_id")
    assert [r[0] for r in stored] == [first.run_id, second.run_id]

    history = smartsync("reconcile", "history", "--json")
    assert history.returncode == 0, history.stderr
    listed = json.loads(history.stdout)
    assert [(r["run_id"], r["differing"], r["status"]) for r in listed] == [
        (second.run_id, 1, "success"),
        (first.run_id, 18, "success"),
    ]
    page = smartsync("reconcile", "report", "--run", str(second.run_id), "--format", "html", "--max-drift", "100")
    assert page.returncode == 0, page.stderr
    assert "<svg" in page.stdout and "<h3>scheme_master</h3>" in page.stdout
    doc = json.loads(smartsync("reconcile", "report", "--run", str(second.run_id), "--format", "json").stdout)
    assert [p["differing"] for p in doc["drift_over_time"]["scheme_master"]] == [18, 1]
    for fmt in ("table", "markdown"):
        assert smartsync("reconcile", "report", "--run", str(second.run_id), "--format", fmt).returncode == 4  # drift
    missing = smartsync("reconcile", "report", "--run", "999999")
    assert missing.returncode == 1 and "no stored reconciliation report" in missing.stdout + missing.stderr
