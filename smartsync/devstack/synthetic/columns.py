"""Column generators of the synthetic data, one small function per column, and the table specs.

Each takes a ``Chunk`` (rows ``start .. start + n`` of one table) and returns numpy values,
an Arrow array, or ``Nullable`` values; ``generator.to_arrow`` gives them the column's type.
A generator draws from each random stream of the chunk (``c.rng(name)``) at most once, so
the first rows of a table never depend on how many rows are generated.

The generators live by entity: ``people``, ``schemes`` (with evaluations and forecasts) and
``activity`` (applications, alerts, documents, feedback, portal sessions); ``draw`` holds the
value types and the small vectorised helpers they share.
"""

from __future__ import annotations

from smartsync.devstack.synthetic.activity import ALERT, APPLICATION, BEHAVIOUR, DOCUMENT, FEEDBACK, SUBMISSION
from smartsync.devstack.synthetic.draw import ColumnFn, Spec, _random_citizen, _random_scheme, _recent
from smartsync.devstack.synthetic.people import PERSON
from smartsync.devstack.synthetic.schemes import EVALUATION, FORECAST, SCHEME

# ── Columns shared by most tables, and the specs ──────────────────────────────────────

COMMON: dict[str, ColumnFn] = {
    "citizen_id": _random_citizen,
    "scheme_code": _random_scheme,
    "submitted_at": _recent(30, "submitted_at"),
    "updated_at": _recent(7, "updated_at"),
}


# Sync name → how its source table is generated. The entity decides which tables share rows.
SPECS: dict[str, Spec] = {
    "scheme_master": Spec("scheme", SCHEME),
    "golden_records": Spec("person", PERSON),
    "profile_summary": Spec("person", PERSON),
    "profile_updates": Spec("person", PERSON),
    "eligibility_hints": Spec("evaluation", EVALUATION),
    "benefit_forecasts": Spec("forecast", FORECAST),
    "application_decisions": Spec("application", APPLICATION),
    "ml_alerts": Spec("alert", ALERT),
    "application_submissions": Spec("application", SUBMISSION),
    "document_metadata": Spec("document", DOCUMENT),
    "user_behavior": Spec("behaviour", BEHAVIOUR),
    "feedback": Spec("feedback", FEEDBACK),
}
# Syncs whose source table does not simply scale with the sync's volume (see rows_at_scale).
SIZING: dict[str, str] = {
    "golden_records": "people",
    "profile_summary": "people",
    "profile_updates": "people",
    "scheme_master": "fixed",
    "eligibility_hints": "evaluations",
}
