"""The synthetic data generator: identity numbers, determinism, value domains, shared people."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartsync.core.catalog import load_catalog
from smartsync.core.tables import SCHEMA, Database, Table
from smartsync.devstack import synthetic
from smartsync.devstack.synthetic import ids, vocab
from smartsync.devstack.synthetic.draw import HOUSEHOLD
from smartsync.devstack.synthetic.generator import CHUNK_ROWS, arrow_type, make_world
from smartsync.devstack.synthetic.loader import _csv

ANCHOR = datetime(2026, 11, 21, tzinfo=UTC)
CATALOG = load_catalog()


def _source(sync: str) -> Table:
    s = CATALOG.sync(sync)
    return SCHEMA.table(s.source_database, s.source)


def _gen(sync: str, n: int | None = None, seed: int = 7, scale: float = 0.05) -> pa.Table:
    return synthetic.generate(_source(sync), n, seed, scale=scale, anchor=ANCHOR)


# ── Identity numbers ──────────────────────────────────────────────────────────────────


def test_verhoeff_known_values() -> None:
    assert synthetic.verhoeff_valid("2363")  # the textbook example: 236 → check digit 3
    assert not synthetic.verhoeff_valid("2364")
    assert not synthetic.verhoeff_valid("")
    assert not synthetic.verhoeff_valid("12a4")
    digits = np.array([[2, 3, 6]])
    assert ids.verhoeff_check_digit(digits).tolist() == [3]


def test_generated_aadhaar_numbers_are_valid_and_distinct() -> None:
    numbers = ids.aadhaar_numbers(np.arange(20_000, dtype=np.int64), key=11).to_pylist()
    assert len(set(numbers)) == len(numbers)
    for number in numbers:
        assert len(number) == 12
        assert number[0] in "23456789"
        assert synthetic.aadhaar_valid(number)


@given(st.integers(0, 10_000), st.integers(0, 11), st.integers(1, 9))
def test_verhoeff_catches_every_single_digit_error(i: int, pos: int, delta: int) -> None:
    number = ids.aadhaar_numbers(np.array([i], dtype=np.int64), key=3).to_pylist()[0]
    wrong = number[:pos] + str((int(number[pos]) + delta) % 10) + number[pos + 1 :]
    assert not synthetic.verhoeff_valid(wrong)


@given(st.integers(0, 10_000), st.integers(0, 10))
def test_verhoeff_catches_adjacent_transpositions(i: int, pos: int) -> None:
    number = ids.aadhaar_numbers(np.array([i], dtype=np.int64), key=5).to_pylist()[0]
    if number[pos] == number[pos + 1]:
        return
    swapped = number[:pos] + number[pos + 1] + number[pos] + number[pos + 2 :]
    assert not synthetic.verhoeff_valid(swapped)


@pytest.mark.parametrize("span", [1, 2, 7, 1000, 4099])
def test_permute_is_a_permutation(span: int) -> None:
    out = ids.permute(np.arange(span, dtype=np.int64), span, key=9)
    assert sorted(out.tolist()) == list(range(span))


def test_permute_is_keyed() -> None:
    a = ids.permute(np.arange(100, dtype=np.int64), 10**10, key=1)
    b = ids.permute(np.arange(100, dtype=np.int64), 10**10, key=2)
    assert a.tolist() != b.tolist()


def test_uuids_are_version_4() -> None:
    values = ids.uuid4_strings(np.random.default_rng(1), 50).to_pylist()
    assert len(set(values)) == 50
    assert all(uuid.UUID(v).version == 4 for v in values)


# ── Coverage of the catalog and the declarations ──────────────────────────────────────


def test_every_sync_source_table_is_generated() -> None:
    expected = {(s.source_database, s.source) for s in CATALOG.syncs}
    assert {(t.database, t.qualified_name) for t in synthetic.source_tables()} == expected


def test_every_column_has_a_realistic_generator() -> None:
    assert synthetic.unmapped_columns() == []


def test_output_matches_the_declared_columns_and_types() -> None:
    for table in synthetic.source_tables():
        data = synthetic.generate(table, 10, scale=0.01, anchor=ANCHOR)
        declared = synthetic.loaded_columns(table)
        assert data.column_names == [c.name for c in declared]
        for col in declared:
            assert data.schema.field(col.name).type == arrow_type(col.sql_type), (table.qualified_name, col.name)
            if not col.nullable:
                assert data[col.name].null_count == 0, (table.qualified_name, col.name)


def test_primary_keys_are_unique() -> None:
    for table in synthetic.source_tables():
        data = synthetic.generate(table, None, scale=0.2, anchor=ANCHOR)
        keys = data.select(list(table.primary_key)).to_pylist()
        assert len({tuple(k.values()) for k in keys}) == data.num_rows, table.qualified_name


# ── Determinism ───────────────────────────────────────────────────────────────────────


def test_same_seed_same_rows_other_seed_other_rows() -> None:
    for table in synthetic.source_tables():
        a = synthetic.generate(table, 300, 5, scale=0.1, anchor=ANCHOR)
        b = synthetic.generate(table, 300, 5, scale=0.1, anchor=ANCHOR)
        c = synthetic.generate(table, 300, 6, scale=0.1, anchor=ANCHOR)
        assert a.equals(b), table.qualified_name
        assert not a.equals(c), table.qualified_name


def test_first_rows_do_not_depend_on_how_many_are_asked_for() -> None:
    for table in synthetic.source_tables():
        small = synthetic.generate(table, 37, anchor=ANCHOR)
        large = synthetic.generate(table, CHUNK_ROWS + 40, anchor=ANCHOR)
        assert small.equals(large.slice(0, 37)), table.qualified_name
        tail = synthetic.generate(table, CHUNK_ROWS + 3, anchor=ANCHOR).slice(CHUNK_ROWS)
        assert tail.equals(large.slice(CHUNK_ROWS, 3)), table.qualified_name


def test_chunks_hold_whole_households_and_evaluations() -> None:
    assert CHUNK_ROWS % HOUSEHOLD == 0
    assert CHUNK_ROWS % vocab.SCHEMES_PER_EVALUATION == 0


def test_rows_at_scale_follow_the_catalog_volumes() -> None:
    one = synthetic.rows_at_scale(1.0)
    ten = synthetic.rows_at_scale(10.0)
    assert one[_source("golden_records")] == CATALOG.sync("golden_records").volume_per_day == 100_000
    assert one[_source("profile_updates")] == one[_source("golden_records")]  # same people
    assert one[_source("profile_summary")] == one[_source("golden_records")]
    assert one[_source("scheme_master")] == ten[_source("scheme_master")] == 200
    assert one[_source("user_behavior")] == 500_000
    assert one[_source("eligibility_hints")] == 50_000
    assert one[_source("eligibility_hints")] % vocab.SCHEMES_PER_EVALUATION == 0
    for table, rows in one.items():
        if table != _source("scheme_master"):
            assert ten[table] == 10 * rows, table.qualified_name
    with pytest.raises(ValueError, match="positive"):
        synthetic.rows_at_scale(0)


# ── Value domains ─────────────────────────────────────────────────────────────────────

_MOBILE = re.compile(r"^[6-9]\d{9}$")
_JAN = re.compile(r"^[1-9]\d{9}$")
_EMAIL = re.compile(r"^[a-z.]+\d+@[a-z.]+$")


def test_people_columns() -> None:
    rows = _gen("golden_records").to_pylist()
    assert rows[0]["citizen_id"] == 1
    assert [r["citizen_id"] for r in rows] == list(range(1, len(rows) + 1))
    for r in rows:
        assert synthetic.aadhaar_valid(r["aadhaar"])
        assert _JAN.match(r["jan_aadhaar"])
        assert r["mobile"] is None or _MOBILE.match(r["mobile"])
        assert r["email"] is None or _EMAIL.match(r["email"])
        assert 1 <= r["district_id"] <= 33
        assert vocab.DISTRICT_NAMES[r["district_id"] - 1] in r["address"]
        assert r["gender"] in {g for g, _ in vocab.GENDERS}
        assert r["income_band"] in {b for b, _ in vocab.INCOME_BANDS}
        assert r["vulnerability_level"] in vocab.VULNERABILITY_LEVELS
        assert r["verification_status"] in {s for s, _ in vocab.VERIFICATION_STATUSES}
        assert ANCHOR.date() - timedelta(days=100 * 366) < r["date_of_birth"] < ANCHOR.date()
        assert r["updated_at"] < ANCHOR
    assert len({r["aadhaar"] for r in rows}) == len(rows)
    assert len({r["mobile"] for r in rows if r["mobile"]}) == len([r for r in rows if r["mobile"]])
    # Households of four share a Jan Aadhaar, a surname and an address.
    assert rows[0]["jan_aadhaar"] == rows[3]["jan_aadhaar"] != rows[4]["jan_aadhaar"]
    assert rows[0]["address"] == rows[1]["address"]
    assert rows[0]["full_name"].split()[-1] == rows[2]["full_name"].split()[-1]
    assert len(vocab.DISTRICTS) == 33
    assert len({r["district_id"] for r in rows}) > 25


def test_golden_records_profile_360_and_citizens_are_the_same_people() -> None:
    golden = _gen("golden_records")
    citizens = _gen("profile_updates")
    profile = _gen("profile_summary")
    assert citizens.num_rows == golden.num_rows == profile.num_rows
    for name in citizens.column_names:
        assert citizens[name].equals(golden[name]), name
    for name in ("citizen_id", "full_name", "district_id", "jan_aadhaar", "mobile", "email", "income_band"):
        assert profile[name].equals(golden[name]), name


def test_schemes() -> None:
    schemes = _gen("scheme_master").to_pylist()
    assert len(schemes) == 200
    assert len({s["scheme_code"] for s in schemes}) == 200
    withdrawn = [s for s in schemes if s["status"] == "withdrawn"]
    assert 0 < len(withdrawn) < 40
    assert {s["status"] for s in schemes} == {"active", "withdrawn"}
    departments = {d[0]: d for d in vocab.DEPARTMENTS}
    for s in schemes:
        dept = departments[s["department"]]
        assert s["scheme_code"].startswith(f"RJ-{dept[1]}-")
        assert s["category"] in dept[2]
        assert s["benefit_amount"] > 0
        assert (s["min_age"] is None) == (s["max_age"] is None)
        assert s["min_age"] is None or s["min_age"] < s["max_age"]


def test_eligibility_snapshots() -> None:
    snapshots = _gen("eligibility_hints", scale=0.2)
    schemes = _gen("scheme_master").to_pylist()
    active = {s["scheme_code"] for s in schemes if s["status"] == "active"}
    people = synthetic.rows_at_scale(0.2)[_source("golden_records")]
    rows = snapshots.to_pylist()
    per_citizen: dict[int, int] = {}
    for r in rows:
        score = float(r["eligibility_score"])
        assert 0 <= score <= 1
        expected = "eligible" if score >= 0.7 else "possibly_eligible" if score >= 0.4 else "not_eligible"
        assert r["status"] == expected
        assert r["scheme_code"] in active
        assert 1 <= r["citizen_id"] <= people
        assert ANCHOR - timedelta(days=1) <= r["evaluated_at"] < ANCHOR
        per_citizen[r["citizen_id"]] = per_citizen.get(r["citizen_id"], 0) + 1
    assert set(per_citizen.values()) == {vocab.SCHEMES_PER_EVALUATION}
    statuses = pc.value_counts(snapshots["status"]).to_pylist()
    assert {s["values"] for s in statuses} == set(vocab.ELIGIBILITY_STATUSES)


def test_decisions_and_submissions_agree() -> None:
    decisions = _gen("application_decisions", scale=0.5).to_pylist()
    submissions = _gen("application_submissions", scale=0.5).to_pylist()
    assert len(decisions) == 2 * len(submissions)
    agree = 0
    for d, s in zip(decisions, submissions, strict=False):
        assert (d["application_id"], d["citizen_id"], d["scheme_code"]) == (
            s["application_id"],
            s["citizen_id"],
            s["scheme_code"],
        )
        agree += {"pending": "submitted", "in_review": "under_review"}.get(d["status"], d["status"]) == s["status"]
    assert agree > 0.9 * len(submissions)
    for d in decisions:
        assert d["status"] in {s for s, _ in vocab.DECISION_STATUSES}
        decided = d["status"] in {"approved", "rejected"}
        assert (d["decision"] is not None) == decided == (d["decided_at"] is not None)
        assert (d["decision_reason"] is not None) == decided
        assert 0 <= float(d["risk_score"]) <= 1
        assert d["updated_at"] < ANCHOR
    for s in submissions:
        assert s["submitted_at"] <= s["updated_at"] < ANCHOR


def test_documents_of_an_application_belong_to_the_applicant() -> None:
    applicants = {a["application_id"]: a["citizen_id"] for a in _gen("application_submissions", scale=0.2).to_pylist()}
    docs = _gen("document_metadata", scale=0.2).to_pylist()
    linked = [d for d in docs if d["application_id"] is not None]
    assert 0.4 * len(docs) < len(linked) < 0.8 * len(docs)
    for d in linked:
        assert d["citizen_id"] == applicants[d["application_id"]]
    for d in docs:
        assert d["file_name"].startswith(d["document_type"])
        assert d["mime_type"] in {f[0] for f in vocab.DOCUMENT_FORMATS}
        assert d["size_bytes"] > 0


def test_alerts_forecasts_and_feedback() -> None:
    for a in _gen("ml_alerts").to_pylist():
        assert a["source_model"].startswith("AI-PLATFORM-")
        assert "{" not in a["message"]
        assert "RJ-" in a["message"]
        assert a["severity"] in {s for s, _ in vocab.SEVERITIES}
    for f in _gen("benefit_forecasts").to_pylist():
        assert 0.5 <= float(f["confidence"]) <= 1
        assert re.match(r"^\d{4}-\d{2}$", f["forecast_period"])
        assert f["forecast_period"] > ANCHOR.strftime("%Y-%m")
    for f in _gen("feedback", scale=1).to_pylist():
        assert 1 <= f["rating"] <= 5
        assert ANCHOR - timedelta(days=1) <= f["submitted_at"] < ANCHOR


def test_behaviour_events_fill_the_previous_utc_day_in_sessions() -> None:
    events = _gen("user_behavior", scale=0.1).to_pylist()
    day_start = ANCHOR - timedelta(days=1)
    sessions: dict[str, int] = {}
    for e in events:
        assert day_start <= e["occurred_at"] < ANCHOR
        assert e["duration_ms"] > 0
        assert sessions.setdefault(e["session_id"], e["citizen_id"]) == e["citizen_id"]
    assert 3 < len(events) / len(sessions) < 15
    features = {e["feature"] for e in events}
    assert features == {f for f, _ in vocab.FEATURES}


def test_times_are_before_the_anchor_for_every_table() -> None:
    for table in synthetic.source_tables():
        data = synthetic.generate(table, 2_000, scale=0.1, anchor=ANCHOR)
        for col in synthetic.loaded_columns(table):
            if col.sql_type == "timestamptz":
                latest = pc.max(data[col.name]).as_py()
                assert latest is None or latest < ANCHOR, (table.qualified_name, col.name)


def test_csv_is_what_copy_expects() -> None:
    data = synthetic.generate(_source("golden_records"), 3, anchor=ANCHOR)
    lines = _csv(data).decode().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("1,")
    assert ",," in lines[0] or lines[0].count(",") >= len(data.column_names) - 1


def test_world_lookups_use_the_same_rows() -> None:
    world = make_world(7, 0.05, ANCHOR)
    table = _source("application_submissions")
    direct = synthetic.generate(table, None, world=world)["citizen_id"]
    index = np.array([4, 0, 2], dtype=np.int64)
    assert world.column_of("application_submissions", "citizen_id", index).to_pylist() == [
        direct[4].as_py(),
        direct[0].as_py(),
        direct[2].as_py(),
    ]


def test_unknown_table_names_are_refused() -> None:
    with pytest.raises(KeyError, match="not a sync source table"):
        synthetic.resolve_table("public.nope")
    target = CATALOG.sync("golden_records").target
    assert not any(t.qualified_name == target and t.database is Database.CITIZEN for t in synthetic.source_tables())
