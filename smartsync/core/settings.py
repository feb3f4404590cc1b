"""Runtime settings: frozen, from ``SMARTSYNC_*`` environment variables.

Nothing is read at import time; call ``load_settings()`` at start-up. A missing or bad value
fails there with one line naming the variable to set.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartsync.core.errors import ConfigurationError
from smartsync.core.tables import Database


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTSYNC_", env_nested_delimiter="__", frozen=True)

    # Each command asks `load_settings` for the connections it needs; empty means "not set".
    warehouse_dsn: SecretStr = Field(default=SecretStr(""), description="libpq DSN of smart_warehouse")
    citizen_dsn: SecretStr = Field(default=SecretStr(""), description="libpq DSN of smart_citizen")
    kafka_bootstrap: str = Field(default="", description="host:port list of the Kafka brokers")
    connect_url: str = Field(
        default="", description="Kafka Connect REST API, e.g. http://connect:8083 (monitor, doctor)"
    )
    # Batch jobs hold at most this many connections per job (the seeds: 5-10).
    batch_max_connections: int = Field(default=5, ge=1, le=10)
    # The diff engine (DuckDB): memory it may hold before spilling to disk, and its threads.
    batch_memory_limit: str = Field(default="512MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB|KiB|MiB|GiB)$")
    batch_engine_threads: int = Field(default=2, ge=1, le=64)
    # Kept comparison snapshots (Parquet, masked forms only; docs/batch-and-reconciliation.md) and spill files.
    snapshot_dir: Path = Field(default=Path(".smartsync/snapshots"))
    snapshot_retention_days: int = Field(default=14, ge=0, description="weekly evidence is kept regardless")
    # Batch connections end a statement, or a session idle inside a transaction, after this long (0: never).
    batch_statement_timeout_s: int = Field(default=1800, ge=0)
    batch_idle_in_transaction_timeout_s: int = Field(default=600, ge=0)
    # A fix that would delete more than this share of a target (and more than the floor) is refused.
    batch_max_delete_pct: float = Field(default=5.0, ge=0, le=100)
    batch_mass_delete_floor_rows: int = Field(default=10, ge=0)
    # Delivery of the weekly reconciliation report: a Slack-compatible webhook and e-mail through SMTP.
    report_webhook_url: SecretStr = Field(default=SecretStr(""))
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = True
    smtp_user: str = ""
    smtp_password: SecretStr = Field(default=SecretStr(""))
    report_email_from: str = ""
    report_email_to: str = Field(default="", description="comma-separated recipients")
    recovery_dir: Path = Field(default=Path(".smartsync/recovery"))
    snapshot_interval_s: int = Field(default=5, ge=1)
    metrics_port: int = Field(default=3030, ge=1, le=65535)
    # The event path's tuning. Messages per Kafka partition poll: bigger batches cost less per event.
    flow_batch_size: int = Field(default=2000, ge=1)
    # A flow process's first-generation GC threshold (Python's default is 700); 0 keeps Python's default.
    flow_gc_threshold: int = Field(default=50_000, ge=0)
    # A top-N group (one citizen's eligibility candidates) not evaluated for this long leaves the flow's state, so
    # memory follows the citizens evaluated recently, not every citizen ever; 0 keeps every group forever. Seven days
    # spans a weekly re-evaluation cycle and at the catalog's volume holds ~75 MB (docs/event-path.md).
    top_n_idle_s: float = Field(default=7 * 86_400, ge=0)
    # One process of a direction spread over hosts (`smartsync flow run --process-id --addresses`): this
    # process's index into the address list, and every process's "host:port" separated by ";".
    flow_process_id: int | None = Field(default=None, ge=0)
    flow_addresses: str = ""
    # The callback service (docs/security.md). Tokens: JSON {"caller": "token"} or
    # {"caller": {"token": "...", "kinds": ["benefit_forecasts"]}}; never logged.
    callback_tokens: SecretStr = Field(default=SecretStr(""))
    callback_rate_per_s: float = Field(default=500.0, gt=0, description="callbacks a second per caller")
    callback_burst: int = Field(default=1000, ge=1, description="callbacks a caller may send at once")
    callback_max_concurrency: int = Field(default=256, ge=1, description="open requests before 503")
    callback_header_timeout_s: float = Field(default=10.0, gt=0)
    callback_body_timeout_s: float = Field(default=30.0, gt=0)
    callback_producer_queue: int = Field(default=20_000, ge=1, description="messages awaiting Kafka before 503")
    callback_docs: bool = Field(default=False, description="serve /docs and /openapi.json")
    callback_metrics: bool = Field(default=True, description="serve /metrics")
    callback_tls_cert: Path | None = None
    callback_tls_key: Path | None = None
    callback_tls_client_ca: Path | None = Field(default=None, description="set: callers need a client certificate")
    # librdkafka security properties (security.protocol, sasl.*, ssl.*) of every Kafka client (kafka/config.py).
    kafka_config_file: Path | None = None
    # Per-component DSNs, each with its own least-privilege role (smartsync/core/roles.py, `smartsync db roles`);
    # unset, a component falls back to SMARTSYNC_WAREHOUSE_DSN / SMARTSYNC_CITIZEN_DSN.
    sink_citizen_dsn: SecretStr = Field(default=SecretStr(""), description="warehouse_to_citizen's sink role")
    sink_warehouse_dsn: SecretStr = Field(default=SecretStr(""), description="citizen_to_warehouse's sink role")
    reconciler_warehouse_dsn: SecretStr = Field(default=SecretStr(""), description="the batch path's role")
    reconciler_citizen_dsn: SecretStr = Field(default=SecretStr(""), description="the batch path's role")
    # Both flows' sessions on their source database (column and identity checks): one role, no table privileges.
    flow_source_warehouse_dsn: SecretStr = Field(default=SecretStr(""), description="warehouse_to_citizen's source")
    flow_source_citizen_dsn: SecretStr = Field(default=SecretStr(""), description="citizen_to_warehouse's source")
    # `smartsync monitor`: the targets' keys and positions, the replication slots; one role, one password in both.
    monitor_warehouse_dsn: SecretStr = Field(default=SecretStr(""), description="smartsync monitor's role")
    monitor_citizen_dsn: SecretStr = Field(default=SecretStr(""), description="smartsync monitor's role")
    cdc_password: SecretStr = Field(default=SecretStr(""), description="password `db roles` gives smartsync_cdc")
    # AES-256-GCM keys for warehouse_to_citizen dead letters: JSON {"key id": "base64 of 32 bytes"}; the first encrypts.
    dead_letter_keys: SecretStr = Field(default=SecretStr(""))
    # `smartsync --debug` sets SMARTSYNC_DEBUG=1: tracebacks, and every log line of librdkafka (kafka/config.py).
    debug: bool = False

    @field_validator("debug", mode="before")
    @classmethod
    def _empty_is_off(cls, value: object) -> object:
        return False if value in ("", None) else value

    def dsn(self, database: Database) -> str:
        secret = self.warehouse_dsn if database is Database.WAREHOUSE else self.citizen_dsn
        return secret.get_secret_value()

    def for_component(self, component: str) -> Settings:
        """These settings with a component's own DSNs where they are set (``sink_citizen``, ``sink_warehouse``,
        ``reconciler``, ``monitor``). ``sink_<target>`` is a flow: its sink role for its target, the flow-source role
        for its source (``sink_citizen``: warehouse_to_citizen). An unset one keeps the shared DSN."""
        own = {shared: getattr(self, mine) for shared, mine in component_dsns(component).items()}
        return self.model_copy(update={k: v for k, v in own.items() if v.get_secret_value()})


def flow_component(target: Database) -> str:
    """The component a flow runs as (``Settings.for_component``): named by the database its sink writes."""
    return f"sink_{target.name.lower()}"


def component_dsns(component: str) -> dict[str, str]:
    """A component's own DSN settings by the shared one each replaces (``warehouse_dsn``: ``monitor_warehouse_dsn``)."""
    return {
        "sink_citizen": {"citizen_dsn": "sink_citizen_dsn", "warehouse_dsn": "flow_source_warehouse_dsn"},
        "sink_warehouse": {"warehouse_dsn": "sink_warehouse_dsn", "citizen_dsn": "flow_source_citizen_dsn"},
        "reconciler": {"warehouse_dsn": "reconciler_warehouse_dsn", "citizen_dsn": "reconciler_citizen_dsn"},
        "monitor": {"warehouse_dsn": "monitor_warehouse_dsn", "citizen_dsn": "monitor_citizen_dsn"},
    }[component]


_HINT = 'run `eval "$(smartsync stack env)"` for the local stack, or export it'
CONNECTIONS = ("warehouse_dsn", "citizen_dsn", "kafka_bootstrap")


def load_settings(needs: Iterable[str] = CONNECTIONS, *, component: str | None = None) -> Settings:
    """Settings from the environment; fails with one line when a needed connection is missing.

    With ``component``, the settings it runs with (``Settings.for_component``): a needed DSN may then come from the
    component's own setting alone, and a missing one names both.
    """
    try:
        settings = Settings()  # values come from the environment
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        var = "SMARTSYNC_" + "__".join(str(p) for p in first["loc"]).upper()
        msg = f"setting {var}: {first['msg'].lower()}"
        raise ConfigurationError(msg, hint=_HINT) from None
    own = component_dsns(component) if component else {}
    if component:
        settings = settings.for_component(component)
    for name in needs:
        value = getattr(settings, name)
        if not (value.get_secret_value() if isinstance(value, SecretStr) else value):
            var = f"SMARTSYNC_{name.upper()}"
            named = f"SMARTSYNC_{own[name].upper()} (or {var})" if name in own else var
            msg = f"setting {named}: field required"
            raise ConfigurationError(msg, hint=_HINT)
    return settings
