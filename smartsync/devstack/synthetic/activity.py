"""Column generators of what citizens do: applications, ML alerts, documents, feedback and portal sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from smartsync.devstack.synthetic import ids, vocab
from smartsync.devstack.synthetic.draw import (
    F64,
    I64,
    US_PER_DAY,
    US_PER_HOUR,
    ColumnFn,
    Nullable,
    _after,
    _cat,
    _choice,
    _fill,
    _null_where,
    _previous_day,
    _random_citizen,
    _random_scheme,
    _recent,
    _row_id,
    _take,
    _text,
    _uniform_time,
    _weighted,
)

if TYPE_CHECKING:
    from smartsync.devstack.synthetic.generator import Chunk


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


APPLICATION: dict[str, ColumnFn] = {
    "application_id": _row_id,
    "status": _status_from(vocab.DECISION_STATUSES),
    "decision": _decision,
    "decision_reason": _decision_reason,
    "risk_score": _risk_score,
    "decided_at": _decided_at,
    "updated_at": _decision_updated_at,
}

SUBMISSION: dict[str, ColumnFn] = {
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


ALERT: dict[str, ColumnFn] = {
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


DOCUMENT: dict[str, ColumnFn] = {
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


FEEDBACK: dict[str, ColumnFn] = {
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


BEHAVIOUR: dict[str, ColumnFn] = {
    "event_id": _row_id,
    "citizen_id": _session_citizen,
    "session_id": lambda c: pc.take(ids.uuid4_strings(c.rng("session_id"), c.n), _session_start_rows(c)),
    "feature": lambda c: _weighted(c.rng("feature"), c.n, vocab.FEATURES),
    "action": lambda c: _weighted(c.rng("action"), c.n, vocab.ACTIONS),
    "duration_ms": _duration_ms,
    "occurred_at": _occurred_at,
}
