"""Small SQL fixtures for the batch-path tests: every sync table emptied, rows made with generate_series."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

import psycopg

from reconcile.model import PairSpec
from reconcile.specs import generic_pair
from smartsync.core.catalog import load_catalog
from smartsync.core.tables import Database


def smartsync(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``smartsync`` command in a child process, with this session's environment."""
    return subprocess.run(  # noqa: S603 — our own command
        [sys.executable, "-m", "smartsync", *args],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=300,
        check=False,
    )


def sync_tables(database: Database) -> list[str]:
    catalog = load_catalog()
    names = {s.source for s in catalog.syncs if s.source_database is database}
    names |= {s.target for s in catalog.syncs if s.target_database is database}
    return sorted(names)


def reset(dsn: str, database: Database) -> None:
    """Empty every sync table and SmartSync's bookkeeping of one database."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {', '.join(sync_tables(database))}")
        conn.execute("TRUNCATE smartsync.tombstones, smartsync.watermarks, smartsync.job_runs")


def execute(dsn: str, query: str, params: Any = None) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(query, params)


def execute_on_both(dsns: tuple[str, str], *queries: str) -> None:
    """The same statements on both sides of a pair: identical tables to plant drift in."""
    for dsn in dsns:
        for query in queries:
            execute(dsn, query)


def rows(dsn: str, query: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        return conn.execute(query, params).fetchall()


def scalar(dsn: str, query: str, params: Any = None) -> Any:
    found = rows(dsn, query, params)
    return found[0][0] if found else None


PROFILE_360 = """
INSERT INTO public.profile_360 (citizen_id, full_name, district_id, jan_aadhaar, mobile, email, income_band,
    vulnerability_level, eligible_scheme_count, active_application_count, last_benefit_date, risk_score)
SELECT g, 'Citizen ' || g, (g %% 33)::smallint,
    CASE WHEN g %% 9 = 0 THEN NULL ELSE lpad((1000000000 + g)::text, 10, '0') END,
    CASE WHEN g %% 5 = 0 THEN NULL ELSE '9' || lpad((g * 7919 %% 1000000000)::text, 9, '0') END,
    CASE WHEN g %% 4 = 0 THEN NULL ELSE 'user' || g || '@Example.org' END,
    (ARRAY['<1L', '1-3L', '3-5L', '>5L'])[g %% 4 + 1],
    (ARRAY['low', 'medium', 'high'])[g %% 3 + 1], g %% 11, g %% 3,
    CASE WHEN g %% 6 = 0 THEN NULL ELSE date '2024-01-01' + (g %% 400) END,
    ((g %% 1000) / 1000.0)::numeric(5,4)
FROM generate_series(%(lo)s::int, %(hi)s::int) g
"""

GOLDEN = """
INSERT INTO public.golden_records (citizen_id, jan_aadhaar, aadhaar, full_name, date_of_birth, gender, district_id,
    address, mobile, email, income_band, vulnerability_level, verification_status)
SELECT g, lpad((2000000000 + g)::text, 10, '0'), lpad((300000000000 + g)::text, 12, '0'), 'Golden ' || g,
    date '1960-01-01' + (g %% 15000), (ARRAY['f', 'm', 'x'])[g %% 3 + 1], (g %% 33)::smallint, g || ' Main Road',
    '8' || lpad((g * 31 %% 1000000000)::text, 9, '0'), 'g' || g || '@mail.example.in',
    (ARRAY['<1L', '1-3L'])[g %% 2 + 1], 'low', 'verified'
FROM generate_series(%(lo)s::int, %(hi)s::int) g
"""

SCHEMES = """
INSERT INTO eligibility.scheme_master (scheme_code, scheme_name, department, category, description, min_age, max_age,
    benefit_amount, status)
SELECT 'S' || lpad(g::text, 3, '0'), 'Scheme ' || g, 'Dept ' || (g %% 5), 'cat' || (g %% 3),
    CASE WHEN g %% 4 = 0 THEN NULL ELSE 'About scheme ' || g END, 18, 60 + g %% 10, (g * 100.5)::numeric(12,2),
    CASE WHEN g %% 10 = 0 THEN 'withdrawn' ELSE 'active' END
FROM generate_series(1, %(n)s::int) g
"""


def same_table_pair(warehouse: str, citizen: str, table: str, types: Mapping[str, str]) -> PairSpec:
    """The two-table comparison of ``table`` (keyed on ``id``, alike in both databases) from warehouse to citizen."""
    return generic_pair(
        source_dsn=warehouse,
        target_dsn=citizen,
        source_table=table,
        target_table=table,
        key=["id"],
        source_types=types,
        target_types=types,
    ).spec
