"""The HTTP callback service: forecasts and ML alerts in, confirmed Kafka writes out.

``create_app(settings)`` builds the FastAPI app; ``smartsync callbacks serve`` runs it.
"""

from __future__ import annotations

from connectors.callbacks.app import create_app

__all__ = ["create_app"]
