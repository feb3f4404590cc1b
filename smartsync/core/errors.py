"""The one exception tree of SmartSync.

Every error says what failed, where (table, topic, key) and what to do next. ``transient``
decides whether a caller retries with backoff (an outage) or stops (a terminal error).
"""

from __future__ import annotations


class SmartSyncError(Exception):
    """Root of every error SmartSync raises on purpose."""

    transient = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigurationError(SmartSyncError):
    """Bad settings or a bad catalog: fails at start-up, never retried."""


class CatalogError(ConfigurationError):
    """The sync catalog does not validate."""


class MaskingPolicyError(ConfigurationError):
    """A column would reach the citizen portal without a masking classification."""


class StackError(SmartSyncError):
    """The local stack (PostgreSQL, Kafka, Connect) could not be started or inspected."""


class SourceError(SmartSyncError):
    """Reading from a source database or topic failed."""


class SinkError(SmartSyncError):
    """Writing to a target database or topic failed."""


class TransientSinkError(SinkError):
    """The target is unreachable for now (outage, restart): retry with backoff."""

    transient = True


class ReconcileError(SmartSyncError):
    """A diff or an apply of the batch path could not run."""
