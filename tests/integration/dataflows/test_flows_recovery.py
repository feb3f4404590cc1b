"""SIGKILL a running flow under load, several times, and restart it on its recovery directory.

Afterwards the target equals what the source says it should be: nothing lost, duplicated,
stale or resurrected. The load runs on a small key space so that updates, deletes and
re-inserts of the same rows are frequent around every kill point.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from dataflows.testing import RunningFlow, application_events, converged, expected_mirror, person
from smartsync.core.catalog import Direction, load_catalog

CAT = load_catalog()
LOAD_SECONDS = 12.0


class Load(threading.Thread):
    """Random single-row transactions against the source database until stopped."""

    def __init__(self, dsn: str, step: Callable[[psycopg.Connection[Any], random.Random], None], seed: int) -> None:
        super().__init__(daemon=True)
        self._dsn = dsn
        self._step = step
        self._rng = random.Random(seed)
        self.stopped = threading.Event()
        self.ops = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self._dsn, autocommit=True) as conn:
                while not self.stopped.is_set():
                    self._step(conn, self._rng)
                    self.ops += 1
                    time.sleep(0.004)
        except BaseException as exc:  # noqa: BLE001 — reported by the test
            self.error = exc


@pytest.fixture
def conns(warehouse_dsn: str, citizen_dsn: str) -> Iterator[tuple[psycopg.Connection[Any], psycopg.Connection[Any]]]:
    with psycopg.connect(warehouse_dsn, autocommit=True) as w, psycopg.connect(citizen_dsn, autocommit=True) as c:
        yield w, c


def _exists(conn: psycopg.Connection[Any], table: str, column: str, key: Any) -> bool:
    return conn.execute(f"SELECT 1 FROM {table} WHERE {column} = %s", (key,)).fetchone() is not None


STATUSES = ("submitted", "in_review", "approved", "rejected", "withdrawn")
Events = dict[int, list[tuple[str, str]]]


def _citizen_op(conn: psycopg.Connection[Any], r: random.Random, key: int, _: Events) -> None:
    if not _exists(conn, "public.citizens", "citizen_id", key):
        p = person(key)
        conn.execute(
            "INSERT INTO public.citizens (citizen_id, full_name, district_id, mobile, email, aadhaar) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (key, p["full_name"], p["district_id"], p["mobile"], p["email"], p["aadhaar"]),
        )
    elif r.random() < 0.25:
        conn.execute("DELETE FROM public.citizens WHERE citizen_id = %s", (key,))
    else:
        conn.execute(
            "UPDATE public.citizens SET mobile = %s WHERE citizen_id = %s", (f"9{r.randrange(10**9):09d}", key)
        )


def _application_op(conn: psycopg.Connection[Any], r: random.Random, key: int, expected: Events) -> None:
    """Also records the application events the change must produce, in order."""
    row = conn.execute("SELECT status FROM public.service_applications WHERE application_id = %s", (key,)).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO public.service_applications (application_id, citizen_id, scheme_code, status) "
            "VALUES (%s, %s, 'OAP', 'submitted')",
            (key, key),
        )
        expected.setdefault(key, []).append(("submitted", "submitted"))
    elif r.random() < 0.15:
        conn.execute("DELETE FROM public.service_applications WHERE application_id = %s", (key,))
    elif r.random() < 0.2:
        conn.execute(
            "UPDATE public.service_applications SET scheme_code = %s WHERE application_id = %s",
            (f"S{r.randrange(9)}", key),
        )
    else:
        new = r.choice([s for s in STATUSES if s != row[0]])
        conn.execute("UPDATE public.service_applications SET status = %s WHERE application_id = %s", (new, key))
        expected.setdefault(key, []).append(("withdrawn" if new == "withdrawn" else "status_changed", new))


def _document_op(conn: psycopg.Connection[Any], r: random.Random, key: int, _: Events) -> None:
    if not _exists(conn, "public.documents", "document_id", key):
        conn.execute(
            "INSERT INTO public.documents (document_id, citizen_id, document_type, file_name, mime_type, size_bytes) "
            "VALUES (%s, %s, 'photo', 'p.jpg', 'image/jpeg', %s)",
            (key, key, r.randrange(10**6)),
        )
    elif r.random() < 0.25:
        conn.execute("DELETE FROM public.documents WHERE document_id = %s", (key,))
    else:
        conn.execute(
            "UPDATE public.documents SET verification_status = %s, size_bytes = %s WHERE document_id = %s",
            (r.choice(["pending", "verified", "rejected"]), r.randrange(10**6), key),
        )


def _run_with_kills(flow: RunningFlow, load: Load, rng: random.Random, kills: int = 3) -> None:
    """Start the flow and the load, SIGKILL the flow at ``kills`` random moments, restart it each time."""
    flow.start()
    load.start()
    started = time.monotonic()
    slots = [LOAD_SECONDS * (i + rng.uniform(0.3, 0.8)) / kills for i in range(kills)]
    for at in slots:
        time.sleep(max(0.0, started + at - time.monotonic()))
        flow.check_alive()
        flow.kill()
        time.sleep(rng.uniform(0.1, 1.0))
        flow.start()
    time.sleep(max(0.0, started + LOAD_SECONDS - time.monotonic()))
    load.stopped.set()
    load.join()
    assert load.error is None, load.error
    assert load.ops > 100


def test_citizen_to_warehouse_survives_sigkills(tmp_path: Path, conns: Any, citizen_dsn: str) -> None:
    wconn, cconn = conns
    wconn.execute("TRUNCATE public.golden_records, decision.application_events, public.document_metadata")
    base = random.randrange(10**8, 9 * 10**8)
    ids = [base + i for i in range(25)]
    expected_events: dict[int, list[tuple[str, str]]] = {}

    def step(conn: psycopg.Connection[Any], r: random.Random) -> None:
        key = r.choice(ids)
        [_citizen_op, _application_op, _document_op][r.randrange(3)](conn, r, key, expected_events)

    rng = random.Random(base)
    flow = RunningFlow(Direction.CITIZEN_TO_WAREHOUSE, tmp_path, workers=2, snapshot_interval_s=1)
    try:
        _run_with_kills(flow, Load(citizen_dsn, step, base), rng)
        for name in ("profile_updates", "document_metadata"):
            sync = CAT.sync(name)
            expected = expected_mirror(sync, cconn, sync.key[0], ids)
            flow.wait(converged(sync, wconn, sync.key[0], ids, expected), timeout_s=90, what=f"sync {name} after kills")

        flow.wait(
            lambda: application_events(wconn, ids) == expected_events,
            timeout_s=90,
            what="application events after kills",
        )
        assert flow.starts == 4
    finally:
        flow.stop()


def test_warehouse_to_citizen_survives_sigkills(tmp_path: Path, conns: Any, warehouse_dsn: str) -> None:
    wconn, cconn = conns
    cconn.execute("TRUNCATE public.profile_data, public.eligibility_hints, public.application_decisions")
    base = random.randrange(10**8, 9 * 10**8)
    ids = [base + i for i in range(20)]
    citizens = ids[:6]
    schemes = [f"S{i}" for i in range(8)]

    def step(conn: psycopg.Connection[Any], r: random.Random) -> None:
        key = r.choice(ids)
        table = r.randrange(3)
        if table == 0:
            if not _exists(conn, "public.golden_records", "citizen_id", key):
                p = person(key)
                conn.execute(
                    "INSERT INTO public.golden_records (citizen_id, full_name, district_id, mobile, email, "
                    "aadhaar, income_band) "
                    "VALUES (%s, %s, %s, %s, %s, %s, '3-5L')",
                    (key, p["full_name"], p["district_id"], p["mobile"], p["email"], p["aadhaar"]),
                )
            elif r.random() < 0.25:
                conn.execute("DELETE FROM public.golden_records WHERE citizen_id = %s", (key,))
            else:
                conn.execute(
                    "UPDATE public.golden_records SET email = %s WHERE citizen_id = %s",
                    (f"x{r.randrange(999)}@example.org", key),
                )
        elif table == 1:
            cid, scheme = r.choice(citizens), r.choice(schemes)
            if r.random() < 0.1:
                conn.execute(
                    "DELETE FROM eligibility.eligibility_snapshots WHERE citizen_id = %s AND scheme_code = %s",
                    (cid, scheme),
                )
            else:
                conn.execute(
                    "INSERT INTO eligibility.eligibility_snapshots (citizen_id, scheme_code, eligibility_score, "
                    "status) "
                    "VALUES (%s, %s, %s, %s) ON CONFLICT (citizen_id, scheme_code) DO UPDATE SET "
                    "eligibility_score = EXCLUDED.eligibility_score, status = EXCLUDED.status, evaluated_at = now()",
                    (cid, scheme, f"0.{r.randrange(10000):04d}", "eligible" if r.random() < 0.8 else "not_eligible"),
                )
        elif not _exists(conn, "decision.applications", "application_id", key):
            conn.execute(
                "INSERT INTO decision.applications (application_id, citizen_id, scheme_code, status) VALUES (%s, "
                "%s, 'OAP', 'pending')",
                (key, key),
            )
        elif r.random() < 0.2:
            conn.execute("DELETE FROM decision.applications WHERE application_id = %s", (key,))
        else:
            conn.execute(
                "UPDATE decision.applications SET status = %s, risk_score = %s WHERE application_id = %s",
                (r.choice(["pending", "in_review", "approved"]), f"0.{r.randrange(10000):04d}", key),
            )

    rng = random.Random(base)
    flow = RunningFlow(Direction.WAREHOUSE_TO_CITIZEN, tmp_path, workers=2, snapshot_interval_s=1)
    try:
        _run_with_kills(flow, Load(warehouse_dsn, step, base), rng)
        for name in ("golden_records", "application_decisions"):
            sync = CAT.sync(name)
            expected = expected_mirror(sync, wconn, sync.key[0], ids)
            flow.wait(converged(sync, cconn, sync.key[0], ids, expected), timeout_s=90, what=f"sync {name} after kills")
        top = wconn.execute(
            "SELECT citizen_id, scheme_code, eligibility_score, status, evaluated_at FROM ("
            "  SELECT *, row_number() OVER (PARTITION BY citizen_id ORDER BY eligibility_score DESC, scheme_code) AS r"
            "  FROM eligibility.eligibility_snapshots WHERE citizen_id = ANY(%s) AND status = 'eligible') t WHERE "
            "r <= 5",
            (citizens,),
        ).fetchall()
        names = ("citizen_id", "scheme_code", "eligibility_score", "status", "evaluated_at")
        expected_hints = {(r[0], r[1]): dict(zip(names, r, strict=True)) for r in top}
        flow.wait(
            converged(CAT.sync("eligibility_hints"), cconn, "citizen_id", citizens, expected_hints),
            timeout_s=90,
            what="top-5 hints after kills",
        )
        assert flow.starts == 4
    finally:
        flow.stop()
