"""Payloads of the callback API, one pydantic model per callback sync.

A model's fields are the columns of its sync's source table (``smartsync.core.tables``), with the
constraints the target columns need: a payload that validates here can be written to the
portal without a type or constraint error, so a bad callback is refused at the edge with a
422 naming the field, never turned into a dead letter later. ``check_models`` refuses to
start the service when a model and the catalog disagree.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from smartsync.core.catalog import Catalog, Trigger
from smartsync.core.errors import ConfigurationError
from smartsync.core.tables import SCHEMA

BIGINT_MAX = 2**63 - 1


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: such a value would fail in the sink, far from its sender.
    if "\x00" in value:
        msg = "must not contain the NUL character"
        raise ValueError(msg)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
CitizenId = Annotated[int, Field(gt=0, le=BIGINT_MAX, strict=True, description="The citizen (bigint, > 0)")]


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class ForecastCallback(BaseModel):
    """A benefit forecast the forecast service generated (``forecast.benefit_forecasts``)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "forecast_id": "6f1c2a52-2b8e-4d0c-9a57-3c1b7d9e4f10",
                    "citizen_id": 123,
                    "scheme_code": "OLD_AGE_PENSION",
                    "forecast_amount": "18000.00",
                    "forecast_period": "2027-Q1",
                    "confidence": "0.870",
                    "generated_at": "2026-11-21T09:30:00+05:30",
                }
            ]
        },
    )

    forecast_id: UUID = Field(description="Identity of the forecast; a re-sent forecast keeps its id")
    citizen_id: CitizenId
    scheme_code: Text = Field(min_length=1, max_length=64)
    forecast_amount: Decimal = Field(
        ge=0, max_digits=12, decimal_places=2, description="numeric(12,2), >= 0; a JSON number or a decimal string"
    )
    forecast_period: Text = Field(min_length=1, max_length=32, description="e.g. 2027-Q1 or 2027-03")
    confidence: Decimal = Field(ge=0, le=1, max_digits=4, decimal_places=3, description="numeric(4,3) in [0, 1]")
    generated_at: AwareDatetime | None = Field(
        default=None, description="ISO-8601 with a timezone; defaults to the time the service accepted the callback"
    )


class AlertCallback(BaseModel):
    """An alert an ML service raised (``public.ml_alerts`` of the warehouse)."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "alert_id": "0b6a3f9e-5f7d-4c61-8f0e-2d4b8a1c9e77",
                    "citizen_id": 123,
                    "source_model": "AI-PLATFORM-09",
                    "alert_type": "proactive_inclusion",
                    "severity": "high",
                    "message": "Likely eligible for OLD_AGE_PENSION but has not applied",
                    "created_at": "2026-11-21T04:00:00Z",
                }
            ]
        },
    )

    alert_id: UUID = Field(description="Identity of the alert; a re-sent alert keeps its id")
    citizen_id: CitizenId
    source_model: str = Field(
        pattern=r"^AI-PLATFORM-[0-9]{2}$", description="The ML model that raised it, e.g. AI-PLATFORM-07, -09, -14"
    )
    alert_type: str = Field(
        min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$", description="snake_case, e.g. benefit_expiry"
    )
    severity: Severity
    message: Text = Field(min_length=1, max_length=2000)
    created_at: AwareDatetime | None = Field(
        default=None, description="ISO-8601 with a timezone; defaults to the time the service accepted the callback"
    )


# Sync name → the payload it accepts. The route, the topic and the envelope all follow from the sync.
PAYLOADS: dict[str, type[BaseModel]] = {
    "benefit_forecasts": ForecastCallback,
    "ml_alerts": AlertCallback,
}


def check_models(catalog: Catalog) -> None:
    """Refuse to start when a payload model and its catalog sync disagree on columns."""
    problems: list[str] = []
    callback_syncs = {s.name for s in catalog.syncs if s.trigger is Trigger.CALLBACK}
    for name in sorted(callback_syncs ^ set(PAYLOADS)):
        problems.append(f"sync {name!r}: the catalog and the callback API disagree on whether it is a callback sync")
    for name in sorted(callback_syncs & set(PAYLOADS)):
        sync = catalog.sync(name)
        source = SCHEMA.table(sync.source_database, sync.source)
        fields = set(PAYLOADS[name].model_fields)
        if fields != set(source.column_names):
            problems.append(
                f"sync {name!r}: payload fields {sorted(fields)} differ from the columns of {sync.source} "
                f"{sorted(source.column_names)}"
            )
        for tcol, col in sync.columns.items():
            if col.source is None:
                problems.append(f"sync {name!r}: column {tcol!r} has no source column to take from a callback")
    if problems:
        raise ConfigurationError(
            "; ".join(problems), hint="update connectors/callbacks/models.py together with the catalog"
        )
