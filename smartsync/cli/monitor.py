"""``smartsync monitor [--port N]``: the exporter of what the flows cannot report about themselves."""

from __future__ import annotations

import logging
import signal
import time
from types import FrameType

import typer

from smartsync.cli.console import console, handle_errors
from smartsync.core.catalog import load_catalog
from smartsync.core.settings import load_settings


@handle_errors
def run(
    port: int = typer.Option(9109, "--port", min=1, max=65535, help="Port of /metrics"),
    interval: float = typer.Option(15.0, "--interval", min=1.0, help="Seconds between two looks"),
) -> None:
    """Serve sync lag, offset lag, connector and replication-slot state on /metrics (docs/operations.md)."""
    from prometheus_client import start_http_server

    from smartsync.monitoring.exporter import Monitor

    # As smartsync_monitor where SMARTSYNC_MONITOR_*_DSN are set: the targets' keys and positions, the slots.
    settings = load_settings(("warehouse_dsn", "citizen_dsn", "kafka_bootstrap"), component="monitor")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    monitor = Monitor(load_catalog(), settings)
    stopped = False

    def _stop(_sig: int, _frame: FrameType | None) -> None:
        nonlocal stopped
        stopped = True

    signal.signal(signal.SIGTERM, _stop)
    start_http_server(port)
    connect = settings.connect_url or "not set (SMARTSYNC_CONNECT_URL): connectors unmonitored"
    console.print(f"monitor on :{port}/metrics every {interval:g} s; Kafka Connect {connect}")
    try:
        while not stopped:
            started = time.monotonic()
            monitor.poll()
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    finally:
        monitor.close()
