"""``smartsync callbacks serve | openapi``: the HTTP callback service."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from smartsync.cli.console import console, err_console, handle_errors
from smartsync.core.errors import ConfigurationError

if TYPE_CHECKING:
    from smartsync.core.settings import Settings

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
    no_auth: Annotated[  # noqa: FBT002
        bool, typer.Option("--no-auth", help="Accept callbacks without a token: local demos only, never production.")
    ] = False,
) -> None:
    """Serve the callback API until Ctrl-C (needs SMARTSYNC_KAFKA_BOOTSTRAP and SMARTSYNC_CALLBACK_TOKENS)."""
    # Imported here so the rest of the CLI starts without the web stack.
    import ssl

    import uvicorn

    from connectors.callbacks import create_app
    from connectors.callbacks.gate import header_timeout_protocol
    from connectors.callbacks.models import PAYLOADS
    from connectors.callbacks.producer import check_topics
    from dataflows.runner import follow_supervisor
    from smartsync.core.catalog import load_catalog
    from smartsync.core.settings import load_settings

    follow_supervisor()
    settings = load_settings(needs=("kafka_bootstrap",) if no_auth else ("kafka_bootstrap", "callback_tokens"))
    if no_auth:
        err_console.print(
            "[bold red]WARNING: --no-auth: anyone who reaches this port can write into citizens' alerts and "
            "forecasts. Local demos only.[/bold red]"
        )
    tls = _tls_options(settings)
    catalog = load_catalog()
    warning = check_topics(settings.kafka_bootstrap, catalog, sorted(PAYLOADS))
    if warning:
        err_console.print(f"[yellow]warning:[/yellow] {warning}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    application = create_app(settings, ack_timeout_s=ack_timeout, catalog=catalog, authenticate=not no_auth)
    scheme = "https" if tls else "http"
    mtls = " (client certificates required)" if tls.get("ssl_cert_reqs") == ssl.CERT_REQUIRED else ""
    console.print(f"callbacks on {scheme}://{host}:{port}{mtls} → Kafka {settings.kafka_bootstrap}")
    uvicorn.run(
        application,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
        http=header_timeout_protocol(settings.callback_header_timeout_s),
        limit_concurrency=settings.callback_max_concurrency,
        h11_max_incomplete_event_size=16 * 1024,
        **tls,
    )


def _tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's TLS options: a server certificate, and with a client CA, mutual TLS."""
    import ssl

    cert, key, client_ca = settings.callback_tls_cert, settings.callback_tls_key, settings.callback_tls_client_ca
    if cert is None and key is None and client_ca is None:
        return {}
    if cert is None or key is None:
        msg = "setting SMARTSYNC_CALLBACK_TLS_CERT and SMARTSYNC_CALLBACK_TLS_KEY: both are needed for TLS"
        raise ConfigurationError(msg, hint="set both paths (PEM), or neither for plain HTTP behind a TLS proxy")
    for var, path in (("CERT", cert), ("KEY", key), ("CLIENT_CA", client_ca)):
        if path is not None and not path.is_file():
            msg = f"setting SMARTSYNC_CALLBACK_TLS_{var}: no file {path}"
            raise ConfigurationError(msg, hint="fix the path")
    options: dict[str, Any] = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    if client_ca is not None:
        options |= {"ssl_ca_certs": str(client_ca), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options


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
