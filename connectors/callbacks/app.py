"""The callback service: a FastAPI app built by ``create_app(settings)``.

Each callback passes the gate (``gate.py``: bearer token 401, caller's kinds 403, rate 429, body
timeout 408), is validated (422 naming the field at fault), checked against the citizen its id
was accepted for before (409), encoded as the catalog says and written to its sync's topic; the
answer is 202 only once Kafka confirmed the write, 503 with the reason when it did not within the
acknowledgement timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from pydantic import BaseModel, Field

from connectors.callbacks.auth import Authenticator, OwnerMemory, RateLimiter, parse_callers
from connectors.callbacks.encoding import OutgoingMessage, encode, topic_of
from connectors.callbacks.gate import Gate
from connectors.callbacks.models import PAYLOADS, AlertCallback, ForecastCallback, check_models
from connectors.callbacks.producer import Delivered, Delivery, DeliveryError, KafkaDelivery
from smartsync.core.catalog import Catalog, Sync, load_catalog
from smartsync.core.settings import Settings

log = logging.getLogger(__name__)

RECEIVED = Counter(
    "smartsync_callbacks_received",
    "Callbacks received, by sync and outcome: accepted (202), invalid (422), unavailable (503)",
    ["sync", "outcome"],
)
ACK_SECONDS = Histogram(
    "smartsync_callback_ack_seconds",
    "Time from accepting a callback to Kafka's confirmation of its write (202 answers only)",
    ["sync"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0, 10.0),
)

DEFAULT_ACK_TIMEOUT_S = 5.0
MAX_BATCH = 500
MAX_BODY_BYTES = 2 * 1024 * 1024

FORECASTS_PATH = "/v1/callbacks/benefit-forecasts"
ALERTS_PATH = "/v1/callbacks/ml-alerts"
# Route → sync, for the 422 handler that runs before any endpoint does.
# Sync → the payload field that identifies a record; its citizen may never change (409).
RECORD_ID: dict[str, str] = {"benefit_forecasts": "forecast_id", "ml_alerts": "alert_id"}
ROUTES: dict[str, str] = {
    FORECASTS_PATH: "benefit_forecasts",
    f"{FORECASTS_PATH}/batch": "benefit_forecasts",
    ALERTS_PATH: "ml_alerts",
    f"{ALERTS_PATH}/batch": "ml_alerts",
}

DESCRIPTION = """
Receives benefit forecasts from the forecast service and alerts from the ML services
(AI-PLATFORM-07, -09, -14) and writes each to its sync's Kafka topic, from where the
warehouse → citizen dataflow carries it into `smart_citizen`.

Every callback needs `Authorization: Bearer <token>`, the caller's token from
`SMARTSYNC_CALLBACK_TOKENS`.

* **202** only after Kafka (acks=all, idempotent producer) confirmed the write.
* **401** without a valid bearer token; **403** when the caller may not post this kind.
* **408** when the body did not arrive in time; **413** when it is over 2 MiB.
* **409** when a `forecast_id` / `alert_id` is re-posted for another citizen: a record never moves.
* **422** when the payload does not validate; `message` names the field at fault.
* **429** when the caller is over its rate; wait `Retry-After` seconds.
* **503** when Kafka did not confirm the write in time (broker down, topic missing): nothing
  is guaranteed written, resend later. Resending is safe: the portal upserts by `forecast_id`
  / `alert_id`.

Messages are keyed by `{"citizen_id":N}` (compact JSON) and partitioned with Kafka's murmur2,
so each citizen's callbacks stay in order on one partition.
"""


class Accepted(BaseModel):
    sync: str = Field(description="The catalog sync the callback belongs to")
    topic: str
    partition: int
    offset: int
    key: str = Field(description='The message key, e.g. {"citizen_id":123}')
    accepted_at_us: int = Field(description="When the service accepted it, microseconds since the epoch (source.ts_us)")


class BatchAccepted(BaseModel):
    sync: str
    count: int
    items: list[Accepted]


class FieldProblem(BaseModel):
    field: str = Field(description="The field at fault, e.g. citizen_id or [3].confidence in a batch")
    message: str
    type: str
    loc: list[str | int]


class ValidationProblem(BaseModel):
    message: str = Field(description="Every problem on one line: 'field: reason; …'")
    detail: list[FieldProblem]


class Unavailable(BaseModel):
    detail: str = Field(description="Why the write was not confirmed")


class Problem(BaseModel):
    detail: str


class Health(BaseModel):
    status: str = Field(description="ok, degraded (Kafka unreachable: callbacks get 503) or failing")
    kafka: str = Field(description="up, down, unknown (nothing written yet) or fatal")
    reason: str | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid bearer token"},
    403: {"model": Problem, "description": "The caller may not post this kind of callback"},
    409: {"model": Problem, "description": "The record id was accepted for another citizen"},
    429: {"model": Problem, "description": "Over the caller's rate; retry after Retry-After seconds"},
    422: {"model": ValidationProblem, "description": "The payload does not validate"},
    503: {"model": Unavailable, "description": "Kafka did not confirm the write; resend later"},
}


class AcceptClock:
    """Acceptance times in microseconds, strictly increasing within the process."""

    def __init__(self) -> None:
        self._last = 0

    def now_us(self) -> int:
        self._last = max(time.time_ns() // 1000, self._last + 1)
        return self._last


def field_name(loc: Sequence[str | int]) -> str:
    """``("body", 2, "citizen_id")`` → ``[2].citizen_id``; the body itself → ``body``."""
    parts = list(loc[1:]) if loc and loc[0] == "body" else list(loc)
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def validation_problem(errors: Sequence[Any]) -> ValidationProblem:
    problems = []
    for err in errors:
        loc = list(err.get("loc", ()))
        # A JSON syntax error's location is a character position, not a field.
        field = "body" if err.get("type") == "json_invalid" else field_name(loc)
        problems.append(
            FieldProblem(field=field, message=str(err.get("msg", "")), type=str(err.get("type", "")), loc=loc)
        )
    return ValidationProblem(message="; ".join(f"{p.field}: {p.message}" for p in problems), detail=problems)


class CallbackService:
    """Accepts validated callbacks: encode, write, wait for Kafka's confirmation, count."""

    def __init__(self, syncs: dict[str, Sync], sink: Delivery) -> None:
        self.syncs = syncs
        self.sink = sink
        self.clock = AcceptClock()
        self.owners = OwnerMemory()

    def _check_owners(self, sync_name: str, payloads: Sequence[BaseModel]) -> list[tuple[str, int]]:
        field = RECORD_ID[sync_name]
        records = [(str(getattr(p, field)), int(getattr(p, "citizen_id"))) for p in payloads]  # noqa: B009
        conflict = self.owners.conflict(sync_name, records)
        if conflict is not None:
            RECEIVED.labels(sync_name, "conflict").inc()
            raise HTTPException(
                status_code=409,
                detail=f"{field} {conflict} was accepted for another citizen; a record's citizen never changes",
            )
        return records

    def _unavailable(self, sync_name: str, reason: str) -> HTTPException:
        log.warning("callback for %s not acknowledged: %s", sync_name, reason)
        return HTTPException(status_code=503, detail=reason, headers={"Retry-After": "1"})

    @staticmethod
    def _accepted(sync_name: str, message: OutgoingMessage, done: Delivered, accepted_us: int) -> Accepted:
        return Accepted(
            sync=sync_name,
            topic=done.topic,
            partition=done.partition,
            offset=done.offset,
            key=message.key.decode(),
            accepted_at_us=accepted_us,
        )

    async def accept_one(self, sync_name: str, payload: BaseModel) -> Accepted:
        records = self._check_owners(sync_name, [payload])
        started = time.perf_counter()
        accepted_us = self.clock.now_us()
        message = encode(self.syncs[sync_name], payload, accepted_us)
        try:
            done = await self.sink.send(message)
        except DeliveryError as exc:
            RECEIVED.labels(sync_name, "unavailable").inc()
            raise self._unavailable(sync_name, str(exc)) from None
        ACK_SECONDS.labels(sync_name).observe(time.perf_counter() - started)
        RECEIVED.labels(sync_name, "accepted").inc()
        self.owners.remember(sync_name, records)
        return self._accepted(sync_name, message, done, accepted_us)

    async def accept_many(self, sync_name: str, payloads: Sequence[BaseModel]) -> BatchAccepted:
        records = self._check_owners(sync_name, payloads)
        started = time.perf_counter()
        stamped = [(self.clock.now_us(), p) for p in payloads]
        messages = [(us, encode(self.syncs[sync_name], p, us)) for us, p in stamped]
        # gather starts the sends in list order, so each partition receives them in order.
        results = await asyncio.gather(*(self.sink.send(m) for _, m in messages), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        for failure in failures:
            if not isinstance(failure, DeliveryError):
                raise failure
        RECEIVED.labels(sync_name, "accepted").inc(len(results) - len(failures))
        if failures:
            RECEIVED.labels(sync_name, "unavailable").inc(len(failures))
            raise self._unavailable(
                sync_name,
                f"{len(failures)} of {len(results)} callbacks were not confirmed by Kafka (first: {failures[0]}); "
                "resend the batch (the portal upserts by id)",
            )
        ACK_SECONDS.labels(sync_name).observe(time.perf_counter() - started)
        self.owners.remember(sync_name, records)
        items = [
            self._accepted(sync_name, message, done, us)
            for (us, message), done in zip(messages, results, strict=True)
            if isinstance(done, Delivered)
        ]
        return BatchAccepted(sync=sync_name, count=len(items), items=items)

    def health(self) -> Health:
        state = self.sink.health()
        kafka = state.get("kafka", "unknown")
        status = {"fatal": "failing", "down": "degraded"}.get(kafka, "ok")
        return Health(status=status, kafka=kafka, reason=state.get("reason"))


def create_app(
    settings: Settings,
    *,
    ack_timeout_s: float = DEFAULT_ACK_TIMEOUT_S,
    delivery: Delivery | None = None,
    catalog: Catalog | None = None,
    authenticate: bool = True,
) -> FastAPI:
    """The callback app; the Kafka producer starts with the app's lifespan, not before.

    Without ``SMARTSYNC_CALLBACK_TOKENS`` it refuses to be built unless ``authenticate=False``
    (``serve --no-auth``, local demos only).
    """
    authenticator = (
        Authenticator(parse_callers(settings.callback_tokens.get_secret_value(), PAYLOADS)) if authenticate else None
    )
    catalog = catalog or load_catalog()
    check_models(catalog)
    syncs = {name: catalog.sync(name) for name in PAYLOADS}
    for sync in syncs.values():
        topic_of(sync)
    sink: Delivery = delivery or KafkaDelivery(
        settings.kafka_bootstrap, ack_timeout_s=ack_timeout_s, queue_limit=settings.callback_producer_queue
    )
    service = CallbackService(syncs, sink)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        sink.start()
        try:
            yield
        finally:
            await asyncio.to_thread(sink.close)

    app = FastAPI(
        title="SmartSync callbacks",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
        # SmartSync's metrics are Prometheus (/metrics); FastAPI's own OpenTelemetry spans cost
        # about a fifth of a request's CPU here and nothing would collect them.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        docs_url="/docs" if settings.callback_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if settings.callback_docs else None,
    )
    app.add_middleware(
        Gate,
        routes=ROUTES,
        authenticator=authenticator,
        limiter=RateLimiter(settings.callback_rate_per_s, settings.callback_burst),
        body_timeout_s=settings.callback_body_timeout_s,
        max_body_bytes=MAX_BODY_BYTES,
    )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        RECEIVED.labels(ROUTES.get(request.url.path, "unknown"), "invalid").inc()
        return JSONResponse(status_code=422, content=validation_problem(exc.errors()).model_dump())

    _add_callback_routes(app, service)
    _add_operation_routes(app, service, metrics=settings.callback_metrics)
    return app


def _add_callback_routes(app: FastAPI, service: CallbackService) -> None:
    @app.post(
        FORECASTS_PATH,
        status_code=202,
        response_model=Accepted,
        responses=_ERRORS,
        tags=["callbacks"],
        summary="A benefit forecast (sync benefit_forecasts)",
    )
    async def benefit_forecast(payload: ForecastCallback) -> Accepted:
        return await service.accept_one("benefit_forecasts", payload)

    @app.post(
        f"{FORECASTS_PATH}/batch",
        status_code=202,
        response_model=BatchAccepted,
        responses=_ERRORS,
        tags=["callbacks"],
        summary=f"Up to {MAX_BATCH} benefit forecasts at once, acknowledged together",
    )
    async def benefit_forecasts(
        payloads: Annotated[list[ForecastCallback], Body(min_length=1, max_length=MAX_BATCH)],
    ) -> BatchAccepted:
        return await service.accept_many("benefit_forecasts", payloads)

    @app.post(
        ALERTS_PATH,
        status_code=202,
        response_model=Accepted,
        responses=_ERRORS,
        tags=["callbacks"],
        summary="An ML alert (sync ml_alerts)",
    )
    async def ml_alert(payload: AlertCallback) -> Accepted:
        return await service.accept_one("ml_alerts", payload)

    @app.post(
        f"{ALERTS_PATH}/batch",
        status_code=202,
        response_model=BatchAccepted,
        responses=_ERRORS,
        tags=["callbacks"],
        summary=f"Up to {MAX_BATCH} ML alerts at once, acknowledged together",
    )
    async def ml_alerts(
        payloads: Annotated[list[AlertCallback], Body(min_length=1, max_length=MAX_BATCH)],
    ) -> BatchAccepted:
        return await service.accept_many("ml_alerts", payloads)


def _add_operation_routes(app: FastAPI, service: CallbackService, *, metrics: bool) -> None:
    @app.get(
        "/healthz",
        response_model=Health,
        tags=["operations"],
        summary="Liveness, and whether Kafka answers",
        responses={503: {"model": Health, "description": "The producer failed for good: restart the service"}},
    )
    async def healthz() -> JSONResponse:
        health = service.health()
        return JSONResponse(status_code=503 if health.status == "failing" else 200, content=health.model_dump())

    if not metrics:
        return

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=Response)
    async def prometheus_metrics() -> Response:
        return Response(content=generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def openapi_schema() -> dict[str, Any]:
    """The API's OpenAPI description, built without settings or a broker."""
    placeholder = Settings(warehouse_dsn="unused", citizen_dsn="unused", kafka_bootstrap="unused:9092")
    return create_app(placeholder, authenticate=False).openapi()
