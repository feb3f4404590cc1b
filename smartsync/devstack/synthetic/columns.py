"""Column generators of the synthetic data, one small function per column.

Each takes a ``Chunk`` (rows ``start .. start + n`` of one table) and returns numpy values,
an Arrow array, or ``Nullable`` values; ``generate.to_arrow`` gives them the column's type.
A generator draws from each random stream of the chunk (``c.rng(name)``) at most once, so
the first rows of a table never depend on how many rows are generated.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from smartsync.devstack.synthetic import ids, vocab

if TYPE_CHECKING:
    from smartsync.devstack.synthetic.generator import Chunk

HOUSEHOLD = 4  # citizens i..i+3 (i divisible by 4) share a household: Jan Aadhaar, surname, address

US_PER_DAY = 86_400_000_000
US_PER_HOUR = 3_600_000_000
_EPOCH = date(1970, 1, 1)

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]


class Nullable(NamedTuple):
    """Numpy values with a null mask (True = NULL)."""

    values: npt.NDArray[Any]
    nulls: npt.NDArray[np.bool_]


# pa.Array, a numpy array, or numpy values with a null mask
Values: TypeAlias = Any
ColumnFn = Callable[["Chunk"], Values]


@dataclass(frozen=True)
class Spec:
    """How one source table is generated. Tables of the same entity share their rows' values."""

    entity: str
    columns: Mapping[str, ColumnFn]


# ── Small vectorised helpers ──────────────────────────────────────────────────────────


def _choice(rng: np.random.Generator, n: int, weights: tuple[float, ...] | list[float]) -> npt.NDArray[np.intp]:
    cumulative = np.cumsum(weights, dtype=np.float64)
    return np.searchsorted(cumulative / cumulative[-1], rng.random(n), side="right")


def _weighted(rng: np.random.Generator, n: int, pairs: tuple[tuple[Any, float], ...]) -> pa.Array:
    idx = _choice(rng, n, [w for _, w in pairs])
    return pc.take(pa.array([v for v, _ in pairs]), idx)


def _take(values: tuple[str, ...] | list[str], idx: npt.NDArray[Any]) -> pa.Array:
    return pc.take(pa.array(values, pa.string()), idx)


def _text(values: pa.Array | npt.NDArray[Any]) -> pa.Array:
    return pc.cast(values if isinstance(values, pa.Array) else pa.array(values), pa.string())


def _cat(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _null_where(values: pa.Array, nulls: npt.NDArray[np.bool_]) -> pa.Array:
    return pc.if_else(pa.array(nulls), pa.scalar(None, values.type), values)


def _fill(templates: tuple[str, ...], idx: npt.NDArray[Any], fields: Mapping[str, pa.Array]) -> pa.Array:
    """``templates[idx[i]].format(**{k: fields[k][i]})`` for every row, vectorised."""
    parsed = [list(string.Formatter().parse(t)) for t in templates]
    width = max(len(p) for p in parsed)
    n = len(idx)
    parts: list[pa.Array] = []
    for k in range(width):
        literals = [p[k][0] if k < len(p) else "" for p in parsed]
        parts.append(_take(literals, idx))
        names = [p[k][1] if k < len(p) else None for p in parsed]
        slot = pa.array([""] * n, pa.string())
        for name in {x for x in names if x}:
            hit = np.isin(idx, [i for i, x in enumerate(names) if x == name])
            slot = pc.if_else(pa.array(hit), fields[name], slot)
        parts.append(slot)
    return _cat(*parts)


def _uniform_time(rng: np.random.Generator, n: int, start_us: int, end_us: int) -> I64:
    return start_us + (rng.random(n) * (end_us - start_us)).astype(np.int64)


def _previous_day(c: Chunk, stream: str) -> I64:
    return _uniform_time(c.rng(stream), c.n, c.anchor - US_PER_DAY, c.anchor - 1)


def _recent(days: float, stream: str) -> ColumnFn:
    def fn(c: Chunk) -> I64:
        return _uniform_time(c.rng(stream), c.n, c.anchor - int(days * US_PER_DAY), c.anchor - 1)

    return fn


def _after(base: str, max_hours: float, stream: str) -> ColumnFn:
    """A time up to ``max_hours`` after column ``base``, never past the anchor."""

    def fn(c: Chunk) -> I64:
        start = c.numbers(base).astype(np.int64)
        later = start + (c.rng(stream).random(c.n) * max_hours * US_PER_HOUR).astype(np.int64)
        return np.minimum(later, c.anchor - 1)

    return fn


def _row_id(c: Chunk) -> I64:
    return c.index + 1


def _random_citizen(c: Chunk) -> I64:
    return c.rng("citizen_id").integers(1, c.world.people + 1, size=c.n, dtype=np.int64)


def _random_scheme(c: Chunk) -> pa.Array:
    active = c.world.active_schemes
    return pc.take(active, c.rng("scheme_code").integers(0, len(active), size=c.n))


def _beta(stream: str, a: float, b: float) -> ColumnFn:
    def fn(c: Chunk) -> F64:
        return c.rng(stream).beta(a, b, size=c.n)

    return fn


# ── People: golden records, profile_360 and the portal's citizens ─────────────────────


def _gender(c: Chunk) -> pa.Array:
    return _weighted(c.rng("gender"), c.n, vocab.GENDERS)


def _first_name_idx(c: Chunk) -> npt.NDArray[np.intp]:
    u = c.rng("first_name").random(c.n)
    males, females = len(vocab.MALE_NAMES), len(vocab.FEMALE_NAMES)
    gender = c.numbers("gender")
    male = (u * males).astype(np.intp)
    female = males + (u * females).astype(np.intp)
    anyone = (u * (males + females)).astype(np.intp)
    return np.where(gender == "male", male, np.where(gender == "female", female, anyone))


def _surname_idx(c: Chunk) -> npt.NDArray[np.intp]:
    drawn = c.rng("surname").integers(0, len(vocab.SURNAMES), size=c.n)
    return c.grouped(drawn, HOUSEHOLD)


def _full_name(c: Chunk) -> pa.Array:
    first = _take(vocab.MALE_NAMES + vocab.FEMALE_NAMES, _first_name_idx(c))
    return _cat(first, " ", _take(vocab.SURNAMES, _surname_idx(c)))


def _date_of_birth(c: Chunk) -> I64:
    rng = c.rng("date_of_birth")
    age_days = np.clip(rng.normal(34, 19, size=c.n), 0.5, 99) * 365.25
    return (c.anchor // US_PER_DAY - age_days).astype(np.int64)


def _district_idx(c: Chunk) -> npt.NDArray[np.intp]:
    drawn = _choice(c.rng("district_id"), c.n, [w for _, w, _ in vocab.DISTRICTS])
    return c.grouped(drawn, HOUSEHOLD)


def _district_id(c: Chunk) -> I64:
    return _district_idx(c).astype(np.int64) + 1


def _address(c: Chunk) -> pa.Array:
    district = _district_idx(c)
    house = c.grouped(c.rng("address.house").integers(1, 400, size=c.n), HOUSEHOLD)
    locality = c.grouped(c.rng("address.locality").integers(0, len(vocab.LOCALITIES), size=c.n), HOUSEHOLD)
    pin_tail = c.grouped(c.rng("address.pin").integers(1, 1000, size=c.n), HOUSEHOLD)
    pin_prefix = _take([d[2] for d in vocab.DISTRICTS], district)
    return _cat(
        "H.No. ",
        _text(house),
        ", ",
        _take(vocab.LOCALITIES, locality),
        ", ",
        _take(vocab.DISTRICT_NAMES, district),
        ", Rajasthan ",
        pin_prefix,
        pc.utf8_lpad(_text(pin_tail), 3, "0"),
    )


def _jan_aadhaar(c: Chunk) -> pa.Array:
    household = c.index // HOUSEHOLD
    return _text(ids.jan_aadhaar_ids(household, c.key("jan_aadhaar")))


def _aadhaar(c: Chunk) -> pa.Array:
    return ids.aadhaar_numbers(c.index, c.key("aadhaar"))


def _mobile(c: Chunk) -> pa.Array:
    numbers = _text(ids.mobiles(c.index, c.key("mobile")))
    return _null_where(numbers, c.rng("mobile").random(c.n) < 0.03)


def _email(c: Chunk) -> pa.Array:
    first = _take(vocab.MALE_NAMES + vocab.FEMALE_NAMES, _first_name_idx(c))
    local = _cat(
        pc.replace_substring(pc.utf8_lower(first), " ", ""),
        ".",
        pc.utf8_lower(_take(vocab.SURNAMES, _surname_idx(c))),
        _text(c.index + 1),
    )
    email = _cat(local, "@", _weighted(c.rng("email.domain"), c.n, vocab.EMAIL_DOMAINS))
    return _null_where(email, c.rng("email.null").random(c.n) < 0.15)


def _income_idx(c: Chunk) -> npt.NDArray[np.intp]:
    drawn = _choice(c.rng("income_band"), c.n, [w for _, w in vocab.INCOME_BANDS])
    return c.grouped(drawn, HOUSEHOLD)


def _income_band(c: Chunk) -> pa.Array:
    return _take([b for b, _ in vocab.INCOME_BANDS], _income_idx(c))


def _vulnerability_level(c: Chunk) -> pa.Array:
    # Poorer households are more vulnerable; the noise keeps it from being a pure function.
    score = _income_idx(c) + c.rng("vulnerability_level").normal(0, 0.8, size=c.n)
    level = np.digitize(score, [0.8, 2.2, 3.8])
    return _take(vocab.VULNERABILITY_LEVELS, level)


def _verification_status(c: Chunk) -> pa.Array:
    return _weighted(c.rng("verification_status"), c.n, vocab.VERIFICATION_STATUSES)


def _last_benefit_date(c: Chunk) -> Nullable:
    days = c.anchor // US_PER_DAY - c.rng("last_benefit_date").integers(1, 730, size=c.n)
    return Nullable(days, c.rng("last_benefit_date.null").random(c.n) > 0.55)


_PERSON: dict[str, ColumnFn] = {
    "citizen_id": _row_id,
    "gender": _gender,
    "full_name": _full_name,
    "date_of_birth": _date_of_birth,
    "district_id": _district_id,
    "address": _address,
    "jan_aadhaar": _jan_aadhaar,
    "aadhaar": _aadhaar,
    "mobile": _mobile,
    "email": _email,
    "income_band": _income_band,
    "vulnerability_level": _vulnerability_level,
    "verification_status": _verification_status,
    "eligible_scheme_count": lambda c: c.rng("eligible_scheme_count").poisson(3.0, size=c.n),
    "active_application_count": lambda c: c.rng("active_application_count").poisson(0.4, size=c.n),
    "last_benefit_date": _last_benefit_date,
    "risk_score": _beta("risk_score", 2, 6),
}


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


_SCHEME: dict[str, ColumnFn] = {
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


_EVALUATION: dict[str, ColumnFn] = {
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


_FORECAST: dict[str, ColumnFn] = {
    "forecast_id": lambda c: ids.uuid4_strings(c.rng("forecast_id"), c.n),
    "forecast_amount": lambda c: np.round(c.rng("forecast_amount").lognormal(np.log(8_000), 0.9, size=c.n), 2),
    "forecast_period": _forecast_period,
    "confidence": lambda c: c.rng("confidence").uniform(0.55, 0.99, size=c.n),
    "generated_at": lambda c: _previous_day(c, "generated_at"),
}


# ── Applications: decisions in the warehouse, submissions in the portal ───────────────


def _status_draw(c: Chunk) -> F64:
    # One draw shared by both sides of an application, so their statuses agree.
    return c.rng("status").random(c.n)


def _status_from(pairs: tuple[tuple[str, float], ...]) -> ColumnFn:
    def fn(c: Chunk) -> pa.Array:
        weights = np.array([w for _, w in pairs])
        cumulative = np.cumsum(weights) / weights.sum()
        return _take([s for s, _ in pairs], np.searchsorted(cumulative, _status_draw(c), side="right"))

    return fn


def _decided(c: Chunk) -> npt.NDArray[np.bool_]:
    status = c.numbers("status")
    return np.isin(status, ["approved", "rejected"])


def _decision(c: Chunk) -> pa.Array:
    return _null_where(c.array("status"), ~_decided(c))


def _risk_score(c: Chunk) -> F64:
    low, high = c.rng("risk_score.low").beta(2, 5, size=c.n), c.rng("risk_score.high").beta(5, 2, size=c.n)
    return np.where(c.numbers("status") == "rejected", high, low)


def _decision_reason(c: Chunk) -> pa.Array:
    status = c.numbers("status")
    rejection = _take(
        vocab.REJECTION_REASONS, c.rng("decision_reason").integers(0, len(vocab.REJECTION_REASONS), size=c.n)
    )
    approval = _take(
        vocab.APPROVAL_REASONS, (np.round(c.numbers("risk_score"), 4) >= vocab.STP_RISK_BELOW).astype(np.intp)
    )
    reason = pc.if_else(pa.array(status == "rejected"), rejection, approval)
    return _null_where(reason, ~_decided(c))


def _decided_at(c: Chunk) -> Nullable:
    return Nullable(_after("submitted_at", 240, "decided_at")(c), ~_decided(c))


def _decision_updated_at(c: Chunk) -> I64:
    pending = _after("submitted_at", 48, "updated_at")(c)
    return np.where(_decided(c), c.numbers("decided_at"), pending)


_APPLICATION: dict[str, ColumnFn] = {
    "application_id": _row_id,
    "status": _status_from(vocab.DECISION_STATUSES),
    "decision": _decision,
    "decision_reason": _decision_reason,
    "risk_score": _risk_score,
    "decided_at": _decided_at,
    "updated_at": _decision_updated_at,
}

_SUBMISSION: dict[str, ColumnFn] = {
    "application_id": _row_id,
    "status": _status_from(vocab.SUBMISSION_STATUSES),
    "updated_at": _after("submitted_at", 120, "updated_at"),
}


# ── ML alerts ─────────────────────────────────────────────────────────────────────────

_ALERT_KINDS = [(model, kind, text) for model, kinds in vocab.ALERT_MODELS for kind, text in kinds]


def _alert_kind(c: Chunk) -> npt.NDArray[np.intp]:
    return c.rng("alert_type").integers(0, len(_ALERT_KINDS), size=c.n)


def _alert_message(c: Chunk) -> pa.Array:
    days = _text(c.rng("message").integers(3, 60, size=c.n))
    scheme = c.array("scheme_code")
    return _fill(tuple(k[2] for k in _ALERT_KINDS), _alert_kind(c), {"scheme": scheme, "days": days})


_ALERT: dict[str, ColumnFn] = {
    "alert_id": lambda c: ids.uuid4_strings(c.rng("alert_id"), c.n),
    "source_model": lambda c: _take([k[0] for k in _ALERT_KINDS], _alert_kind(c)),
    "alert_type": lambda c: _take([k[1] for k in _ALERT_KINDS], _alert_kind(c)),
    "severity": lambda c: _weighted(c.rng("severity"), c.n, vocab.SEVERITIES),
    "message": _alert_message,
    "created_at": lambda c: _previous_day(c, "created_at"),
}


# ── Documents ─────────────────────────────────────────────────────────────────────────


def _document_application(c: Chunk) -> Nullable:
    app = c.rng("application_id").integers(1, c.world.portal_applications + 1, size=c.n, dtype=np.int64)
    return Nullable(app, c.rng("application_id.null").random(c.n) >= vocab.DOCUMENTS_WITH_APPLICATION)


def _document_citizen(c: Chunk) -> pa.Array:
    # A document of an application belongs to the applicant.
    app, loose = _document_application(c)
    own = pa.array(_random_citizen(c))
    applicant = c.world.column_of("application_submissions", "citizen_id", app - 1)
    return pc.if_else(pa.array(loose), own, applicant.cast(pa.int64()))


def _document_format(c: Chunk) -> npt.NDArray[np.intp]:
    return _choice(c.rng("mime_type"), c.n, [f[3] for f in vocab.DOCUMENT_FORMATS])


def _file_name(c: Chunk) -> pa.Array:
    ext = _take([f[1] for f in vocab.DOCUMENT_FORMATS], _document_format(c))
    return _cat(c.array("document_type"), "_", _text(c.index + 1), ".", ext)


def _size_bytes(c: Chunk) -> I64:
    median = np.array([f[2] for f in vocab.DOCUMENT_FORMATS], dtype=np.float64)[_document_format(c)]
    size = median * c.rng("size_bytes").lognormal(0, 0.6, size=c.n)
    return np.clip(size, 20_000, 5_000_000).astype(np.int64)


_DOCUMENT: dict[str, ColumnFn] = {
    "document_id": _row_id,
    "citizen_id": _document_citizen,
    "application_id": _document_application,
    "document_type": lambda c: _weighted(c.rng("document_type"), c.n, vocab.DOCUMENT_TYPES),
    "file_name": _file_name,
    "mime_type": lambda c: _take([f[0] for f in vocab.DOCUMENT_FORMATS], _document_format(c)),
    "size_bytes": _size_bytes,
    "verification_status": lambda c: _weighted(c.rng("verification_status"), c.n, vocab.DOCUMENT_STATUSES),
    "uploaded_at": _recent(30, "uploaded_at"),
    "updated_at": _after("uploaded_at", 72, "updated_at"),
}


# ── Feedback ──────────────────────────────────────────────────────────────────────────


def _feedback_comment(c: Chunk) -> pa.Array:
    rating = c.numbers("rating")
    sentiment = np.where(rating <= 2, 0, np.where(rating == 3, 1, 2))
    groups = [vocab.FEEDBACK_COMMENTS[k] for k in ("negative", "neutral", "positive")]
    counts = np.array([len(g) for g in groups])
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pick = offsets[sentiment] + (c.rng("comment").random(c.n) * counts[sentiment]).astype(np.intp)
    text = _take([s for g in groups for s in g], pick)
    return _null_where(text, c.rng("comment.null").random(c.n) < vocab.FEEDBACK_WITHOUT_COMMENT)


_FEEDBACK: dict[str, ColumnFn] = {
    "feedback_id": _row_id,
    "scheme_code": lambda c: _null_where(
        _random_scheme(c), c.rng("no_scheme").random(c.n) < vocab.FEEDBACK_WITHOUT_SCHEME
    ),
    "channel": lambda c: _weighted(c.rng("channel"), c.n, vocab.FEEDBACK_CHANNELS),
    "rating": lambda c: np.array([r for r, _ in vocab.RATINGS])[
        _choice(c.rng("rating"), c.n, [w for _, w in vocab.RATINGS])
    ],
    "comment": _feedback_comment,
    "submitted_at": lambda c: _previous_day(c, "submitted_at"),
}


# ── Portal behaviour: sessions of events over the previous UTC day ────────────────────


def _session_start_rows(c: Chunk) -> npt.NDArray[np.intp]:
    """For each row, the row where its session starts (a session never crosses a chunk)."""
    starts = c.rng("session").random(c.n) < 1 / vocab.EVENTS_PER_SESSION
    starts[0] = True
    first_rows = np.flatnonzero(starts)
    return np.asarray(first_rows[np.cumsum(starts) - 1], dtype=np.intp)


def _session_citizen(c: Chunk) -> I64:
    # Squaring the draw makes some citizens far more active than others.
    u = c.rng("citizen_id").random(c.n)[_session_start_rows(c)]
    rank = np.minimum((u * u * c.world.people).astype(np.int64), c.world.people - 1)
    return ids.permute(rank, c.world.people, c.key("active_citizens")) + 1


def _duration_ms(c: Chunk) -> I64:
    return np.clip(c.rng("duration_ms").lognormal(np.log(4_000), 1.0, size=c.n), 150, 1_800_000).astype(np.int64)


def _occurred_at(c: Chunk) -> I64:
    rows = _session_start_rows(c)
    session_start = _uniform_time(c.rng("occurred_at"), c.n, c.anchor - US_PER_DAY, c.anchor - US_PER_HOUR)[rows]
    gap = c.rng("occurred_at.gap").exponential(2_000_000, size=c.n).astype(np.int64)
    step = c.numbers("duration_ms").astype(np.int64) * 1_000 + gap
    before = np.cumsum(step) - step  # time spent in earlier rows of the chunk
    return np.asarray(np.minimum(session_start + before - before[rows], c.anchor - 1), dtype=np.int64)


_BEHAVIOUR: dict[str, ColumnFn] = {
    "event_id": _row_id,
    "citizen_id": _session_citizen,
    "session_id": lambda c: pc.take(ids.uuid4_strings(c.rng("session_id"), c.n), _session_start_rows(c)),
    "feature": lambda c: _weighted(c.rng("feature"), c.n, vocab.FEATURES),
    "action": lambda c: _weighted(c.rng("action"), c.n, vocab.ACTIONS),
    "duration_ms": _duration_ms,
    "occurred_at": _occurred_at,
}


# ── Columns shared by most tables, and the specs ──────────────────────────────────────

COMMON: dict[str, ColumnFn] = {
    "citizen_id": _random_citizen,
    "scheme_code": _random_scheme,
    "submitted_at": _recent(30, "submitted_at"),
    "updated_at": _recent(7, "updated_at"),
}


# Sync name → how its source table is generated. The entity decides which tables share rows.
SPECS: dict[str, Spec] = {
    "scheme_master": Spec("scheme", _SCHEME),
    "golden_records": Spec("person", _PERSON),
    "profile_summary": Spec("person", _PERSON),
    "profile_updates": Spec("person", _PERSON),
    "eligibility_hints": Spec("evaluation", _EVALUATION),
    "benefit_forecasts": Spec("forecast", _FORECAST),
    "application_decisions": Spec("application", _APPLICATION),
    "ml_alerts": Spec("alert", _ALERT),
    "application_submissions": Spec("application", _SUBMISSION),
    "document_metadata": Spec("document", _DOCUMENT),
    "user_behavior": Spec("behaviour", _BEHAVIOUR),
    "feedback": Spec("feedback", _FEEDBACK),
}
# Syncs whose source table does not simply scale with the sync's volume (see rows_at_scale).
SIZING: dict[str, str] = {
    "golden_records": "people",
    "profile_summary": "people",
    "profile_updates": "people",
    "scheme_master": "fixed",
    "eligibility_hints": "evaluations",
}
