"""Column generators of schemes, their eligibility evaluations and benefit forecasts."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from smartsync.devstack.synthetic import ids, vocab
from smartsync.devstack.synthetic.draw import (
    _EPOCH,
    F64,
    I64,
    US_PER_DAY,
    ColumnFn,
    Nullable,
    _beta,
    _cat,
    _previous_day,
    _recent,
    _take,
    _text,
)

if TYPE_CHECKING:
    from smartsync.devstack.synthetic.generator import Chunk


# ── Schemes ───────────────────────────────────────────────────────────────────────────


def _department_idx(c: Chunk) -> npt.NDArray[np.intp]:
    return c.rng("department").integers(0, len(vocab.DEPARTMENTS), size=c.n)


_ALL_CATEGORIES = tuple(vocab.SCHEME_CATEGORIES)


def _category_idx(c: Chunk) -> npt.NDArray[np.intp]:
    """Index into ``_ALL_CATEGORIES`` of a category the scheme's department runs."""
    dept = _department_idx(c)
    u = c.rng("category").random(c.n)
    per_dept = [[_ALL_CATEGORIES.index(cat) for cat in d[2]] for d in vocab.DEPARTMENTS]
    counts = np.array([len(p) for p in per_dept])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat = np.array([i for p in per_dept for i in p])
    return np.asarray(flat[offsets[dept] + (u * counts[dept]).astype(np.intp)], dtype=np.intp)


def _scheme_code(c: Chunk) -> pa.Array:
    dept_codes = _take([d[1] for d in vocab.DEPARTMENTS], _department_idx(c))
    return _cat("RJ-", dept_codes, "-", pc.utf8_lpad(_text(c.index + 1), 3, "0"))


def _scheme_subject(c: Chunk) -> pa.Array:
    cat = _category_idx(c)
    subjects = [vocab.SCHEME_CATEGORIES[k][0] for k in _ALL_CATEGORIES]
    u = c.rng("scheme_name").random(c.n)
    counts = np.array([len(s) for s in subjects])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    flat = [s for group in subjects for s in group]
    return _take(flat, offsets[cat] + (u * counts[cat]).astype(np.intp))


def _scheme_name(c: Chunk) -> pa.Array:
    prefix = _take(vocab.SCHEME_PREFIXES, c.rng("scheme_prefix").integers(0, len(vocab.SCHEME_PREFIXES), size=c.n))
    return _cat(prefix, " ", _scheme_subject(c), " Yojana")


def _scheme_description(c: Chunk) -> pa.Array:
    dept = _take([d[0] for d in vocab.DEPARTMENTS], _department_idx(c))
    return _cat(_scheme_subject(c), " for eligible residents of Rajasthan, run by the Department of ", dept)


def _age_bound(which: int) -> ColumnFn:
    def fn(c: Chunk) -> Nullable:
        bounds = [vocab.SCHEME_CATEGORIES[k][1] for k in _ALL_CATEGORIES]
        values = np.array([b[which] if b else 0 for b in bounds])[_category_idx(c)]
        open_ended = np.array([b is None for b in bounds])[_category_idx(c)]
        return Nullable(values, open_ended)

    return fn


def _benefit_amount(c: Chunk) -> F64:
    ranges = np.array([vocab.SCHEME_CATEGORIES[k][2] for k in _ALL_CATEGORIES], dtype=np.float64)[_category_idx(c)]
    u = c.rng("benefit_amount").random(c.n)
    amount = np.exp(np.log(ranges[:, 0]) + u * (np.log(ranges[:, 1]) - np.log(ranges[:, 0])))
    return np.asarray(np.round(amount / 100) * 100, dtype=np.float64)


def _scheme_status(c: Chunk) -> pa.Array:
    withdrawn = c.rng("status").random(c.n) < vocab.WITHDRAWN_SHARE
    return _take(["active", "withdrawn"], withdrawn.astype(np.intp))


SCHEME: dict[str, ColumnFn] = {
    "scheme_code": _scheme_code,
    "scheme_name": _scheme_name,
    "department": lambda c: _take([d[0] for d in vocab.DEPARTMENTS], _department_idx(c)),
    "category": lambda c: _take(_ALL_CATEGORIES, _category_idx(c)),
    "description": _scheme_description,
    "min_age": _age_bound(0),
    "max_age": _age_bound(1),
    "benefit_amount": _benefit_amount,
    "status": _scheme_status,
    "updated_at": _recent(90, "updated_at"),
}


# ── Eligibility snapshots: whole evaluations of a few schemes per citizen ─────────────


def _evaluated_citizen(c: Chunk) -> I64:
    group = c.index // vocab.SCHEMES_PER_EVALUATION
    return ids.permute(group, c.world.people, c.key("citizen_id")) + 1


def _evaluated_scheme(c: Chunk) -> pa.Array:
    # Per citizen: a start and a stride over the active schemes; 4·stride < count keeps
    # the citizen's schemes distinct (the primary key is citizen + scheme).
    active = c.world.active_schemes
    count = len(active)
    per = vocab.SCHEMES_PER_EVALUATION
    start = c.grouped(c.rng("scheme_code.start").integers(0, count, size=c.n), per)
    stride = c.grouped(c.rng("scheme_code.stride").integers(1, max(2, count // per + 1), size=c.n), per)
    return pc.take(active, (start + (c.index % per) * stride) % count)


def _eligibility_status(c: Chunk) -> pa.Array:
    score = np.round(c.numbers("eligibility_score"), 4)
    level = np.where(score >= vocab.ELIGIBLE_FROM, 0, np.where(score >= vocab.POSSIBLY_FROM, 1, 2))
    return _take(vocab.ELIGIBILITY_STATUSES, level)


def _evaluated_at(c: Chunk) -> I64:
    return c.grouped(_previous_day(c, "evaluated_at"), vocab.SCHEMES_PER_EVALUATION)


EVALUATION: dict[str, ColumnFn] = {
    "citizen_id": _evaluated_citizen,
    "scheme_code": _evaluated_scheme,
    "eligibility_score": _beta("eligibility_score", 2, 2),
    "status": _eligibility_status,
    "evaluated_at": _evaluated_at,
    "updated_at": lambda c: c.numbers("evaluated_at"),
}


# ── Forecasts ─────────────────────────────────────────────────────────────────────────


def _forecast_period(c: Chunk) -> pa.Array:
    anchor = _EPOCH + timedelta(days=c.anchor // US_PER_DAY)
    labels = []
    for k in range(1, vocab.FORECAST_MONTHS + 1):
        month = anchor.month - 1 + k
        labels.append(f"{anchor.year + month // 12:04d}-{month % 12 + 1:02d}")
    return _take(labels, c.rng("forecast_period").integers(0, len(labels), size=c.n))


FORECAST: dict[str, ColumnFn] = {
    "forecast_id": lambda c: ids.uuid4_strings(c.rng("forecast_id"), c.n),
    "forecast_amount": lambda c: np.round(c.rng("forecast_amount").lognormal(np.log(8_000), 0.9, size=c.n), 2),
    "forecast_period": _forecast_period,
    "confidence": lambda c: c.rng("confidence").uniform(0.55, 0.99, size=c.n),
    "generated_at": lambda c: _previous_day(c, "generated_at"),
}
