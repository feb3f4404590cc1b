"""The top-N state of eligibility hints: pure, one citizen at a time."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.debezium.envelope import Origin
from connectors.postgres.apply import RowChange
from connectors.postgres.writer import TargetChange
from dataflows.top_n import CANDIDATES_PER_SLOT, Evaluation, TopState, top_items, top_n_step
from dataflows.wiring import _TopN
from smartsync.core.catalog import TopN, load_catalog

_SPEC = load_catalog().sync("eligibility_hints").top_n
assert _SPEC is not None
SPEC: TopN = _SPEC
ORIGIN = Origin("t", 0, 0, None, b"")


def _ev(scheme: str, score: str | None, pos: int, status: str = "eligible") -> Evaluation:
    key = (9, scheme)
    if score is None:
        return Evaluation("eligibility_hints", "9", key, None, None, None, pos, None, ORIGIN)
    row = {"citizen_id": 9, "scheme_code": scheme, "eligibility_score": Decimal(score), "status": status}
    return Evaluation("eligibility_hints", "9", key, Decimal(score), status, row, pos, None, ORIGIN)


def _run(evs: list[Evaluation], spec: TopN = SPEC) -> tuple[TopState, list[RowChange]]:
    state: TopState | None = None
    out: list[RowChange] = []
    for ev in evs:
        state, changes = top_n_step(state, ev, spec)
        out.extend(changes)
    assert state is not None
    return state, out


def _apply(changes: list[RowChange]) -> dict[tuple[Any, ...], Any]:
    table: dict[tuple[Any, ...], Any] = {}
    for ch in changes:
        if ch.row is None:
            table.pop(ch.key, None)
        else:
            table[ch.key] = ch.row
    return table


def test_the_first_five_eligible_schemes_enter() -> None:
    _, out = _run([_ev(f"S{i}", f"0.{i}", i) for i in range(1, 6)])
    assert [c.key for c in out] == [(9, f"S{i}") for i in range(1, 6)]
    assert all(c.row is not None for c in out)


def test_a_better_scheme_pushes_the_weakest_out() -> None:
    _, out = _run([_ev(f"S{i}", f"0.{i}", i) for i in range(1, 7)])
    last = out[-2:]
    assert last[0] == RowChange((9, "S1"), None, 6, None)
    assert last[1].key == (9, "S6")
    assert last[1].position == 6


def test_a_scheme_turning_not_eligible_leaves_and_the_next_one_reenters_with_a_newer_position() -> None:
    state, _ = _run([_ev(f"S{i}", f"0.{i}", i) for i in range(1, 7)])
    state, out = top_n_step(state, _ev("S6", "0.6", 7, status="not_eligible"), SPEC)
    assert RowChange((9, "S6"), None, 7, None) in out
    assert [c.key for c in out if c.row is not None] == [(9, "S1")]
    assert all(c.position == 7 for c in out)


def test_a_deleted_evaluation_leaves_the_top() -> None:
    state, _ = _run([_ev("A", "0.9", 1), _ev("B", "0.5", 2)])
    state, out = top_n_step(state, _ev("A", None, 3), SPEC)
    assert out == [RowChange((9, "A"), None, 3, None)]
    assert top_items(state, SPEC) == [(9, "B")]


def test_a_stale_or_repeated_evaluation_changes_nothing() -> None:
    state, _ = _run([_ev("A", "0.9", 5)])
    assert top_n_step(state, _ev("A", "0.1", 4), SPEC)[1] == []
    assert top_n_step(state, _ev("A", "0.9", 5), SPEC)[1] == []


def test_an_update_inside_the_top_is_rewritten_and_outside_is_silent() -> None:
    state, _ = _run([_ev(f"S{i}", f"0.{i}", i) for i in range(1, 7)])
    _, inside = top_n_step(state, _ev("S5", "0.55", 8), SPEC)
    assert [c.key for c in inside] == [(9, "S5")]
    _, outside = top_n_step(state, _ev("S1", "0.15", 9), SPEC)
    assert outside == []


scores = st.sampled_from(["0.1", "0.2", "0.3", "0.5", "0.7", "0.9", None])
steps = st.lists(st.tuples(st.sampled_from("ABCDEFGH"), scores, st.booleans()), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(steps)
def test_applying_the_changes_always_gives_the_true_top_n(seq: list[tuple[str, str | None, bool]]) -> None:
    evs = [_ev(s, score, i + 1, "eligible" if ok else "not_eligible") for i, (s, score, ok) in enumerate(seq)]
    state, out = _run(evs)
    truth: dict[str, tuple[Decimal, str]] = {}
    for s, score, ok in seq:
        if score is None:
            truth.pop(s, None)
        else:
            truth[s] = (Decimal(score), "eligible" if ok else "not_eligible")
    ranked = sorted(((-v[0], s) for s, v in truth.items() if v[1] == "eligible"))[: SPEC.n]
    assert set(_apply(out)) == {(9, s) for _, s in ranked}
    assert set(top_items(state, SPEC)) == {(9, s) for _, s in ranked}
    positions = [c.position for c in out]
    assert positions == sorted(positions)


def test_the_state_of_a_group_stays_bounded_however_many_items_it_sees() -> None:
    rng = random.Random(7)
    state: TopState | None = None
    bound = SPEC.n * CANDIDATES_PER_SLOT
    for pos in range(1, 20_001):
        scheme = f"S{rng.randrange(2_000)}"
        score = None if rng.random() < 0.1 else f"0.{rng.randrange(1, 1000):03d}"
        state, _ = top_n_step(state, _ev(scheme, score, pos, rng.choice(["eligible", "not_eligible"])), SPEC)
        assert len(state) <= bound
    assert state is not None
    assert len(top_items(state, SPEC)) == SPEC.n


def test_a_group_with_nothing_that_can_reach_the_top_is_discarded() -> None:
    build = _TopN({"eligibility_hints": SPEC}, "warehouse_to_citizen", 0)
    logic = build(None)
    _, discard = logic.on_item(_ev("A", "0.9", 1))
    assert discard is False
    out, discard = logic.on_item(_ev("A", "0.9", 2, status="not_eligible"))
    assert discard is True  # Bytewax drops the key's state
    assert [c.change.row for batch in out for c in batch if isinstance(c, TargetChange)] == [None]
    logic = build(None)
    logic.on_item(_ev("B", "0.4", 3))
    _, discard = logic.on_item(_ev("B", None, 4))
    assert discard is True
