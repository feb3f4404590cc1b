"""``smartsync callbacks serve | openapi``: the HTTP callback service."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from smartsync.cli.console import console, err_console, handle_errors

app = typer.Typer(no_args_is_help=True, help="The HTTP callback service: forecasts and ML alerts into Kafka.")


@app.command()
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8088,
    ack_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds to wait for Kafka's confirmation before answering 503.")
    ] = 5.0,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,  # noqa: FBT002
) -> None:
    """Serve the callback API until Ctrl-C (needs SMARTSYNC_KAFKA_BOOTSTRAP)."""
    # Imported here so the rest of the CLI starts without the web stack.
    import uvicorn

    from connectors.callbacks import create_app
    from connectors.callbacks.models import PAYLOADS
    from connectors.callbacks.producer import check_topics
    from dataflows.runner import follow_supervisor
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    follow_supervisor()
    settings = load_settings(needs=("kafka_bootstrap",))
    catalog = load_catalog()
    warning = check_topics(settings.kafka_bootstrap, catalog, sorted(PAYLOADS))
    if warning:
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    application = create_app(settings, ack_timeout_s=ack_timeout, catalog=catalog)
    console.print(f"callbacks on http://{host}:{port} → Kafka {settings.kafka_bootstrap} (docs at /docs)")
    uvicorn.run(application, host=host, port=port, access_log=access_log, log_level="info")


@app.command()
@handle_errors
def openapi(
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the schema.")] = Path(
        "docs/openapi.json"
    ),
) -> None:
    """Write the OpenAPI description of the callback API (no Kafka needed)."""
    from connectors.callbacks.app import openapi_schema

    output.write_text(json.dumps(openapi_schema(), indent=2) + "\n")
    console.print(f"wrote {output}")
