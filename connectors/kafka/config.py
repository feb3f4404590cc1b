"""The configuration of every Kafka client SmartSync makes, built in one place.

Flow consumers, the dead-letter and callback producers, admin clients, topic scanners and the
dead-letter reader all start from ``client_config``, so connection-wide settings are added here
once and reach every client: the brokers, and the security properties (``security.protocol``,
``sasl.*``, ``ssl.*``) of the librdkafka properties file named by ``SMARTSYNC_KAFKA_CONFIG_FILE``
(``key=value`` lines, ``#`` comments; relative paths are relative to the file). The file's values
are never printed: errors name the file and the key, ``redacted`` shows a config safely.

librdkafka's keys contain dots, so overrides are passed as a mapping:
``consumer_config(bootstrap, group_id="g", **{"enable.auto.commit": False})``.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
from pathlib import Path
from typing import Any

from smartsync.core.errors import ConfigurationError
from smartsync.core.settings import load_settings

CONFIG_FILE_VAR = "SMARTSYNC_KAFKA_CONFIG_FILE"
LIBRDKAFKA_LOGGER = "smartsync.kafka.librdkafka"
_SILENT = logging.NullHandler()
_DEBUG_STDERR = logging.StreamHandler(sys.stderr)
# Only connection security belongs in the file: the rest of a client's behaviour is SmartSync's to set.
_ALLOWED_PREFIXES = ("security.protocol", "sasl.", "ssl.", "ssl_", "enable.ssl.", "client.dns.lookup")
_PATH_KEYS = (
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "ssl.keystore.location",
    "ssl.crl.location",
)
_SECRET_WORDS = ("password", "secret", "token", "sasl.oauthbearer.config", "ssl.key.pem", "ssl_key")


def is_secret(key: str) -> bool:
    return any(word in key for word in _SECRET_WORDS)


def redacted(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` fit to print: secret values replaced, callables named."""
    return {k: ("***" if is_secret(k) else v) for k, v in config.items()}


def security_properties(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The properties of ``SMARTSYNC_KAFKA_CONFIG_FILE`` (or ``path``); empty when none is named."""
    if path is None:
        path = load_settings(needs=()).kafka_config_file
    name = os.fspath(path) if path is not None else ""
    if not name:
        return {}
    file = Path(name)
    try:
        stat = file.stat()
    except OSError:
        msg = f"setting {CONFIG_FILE_VAR}: no readable file {file}"
        raise ConfigurationError(msg, hint="point it at a librdkafka properties file, or unset it") from None
    return dict(_read_properties(str(file.resolve()), stat.st_mtime_ns))


@functools.cache
def _read_properties(name: str, _mtime_ns: int) -> tuple[tuple[str, str], ...]:
    file = Path(name)
    props: dict[str, str] = {}
    for number, raw in enumerate(file.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            msg = f"setting {CONFIG_FILE_VAR}: {file} line {number} is not key=value"
            raise ConfigurationError(msg, hint="one librdkafka property per line, e.g. security.protocol=SASL_SSL")
        if not key.startswith(_ALLOWED_PREFIXES):
            msg = f"setting {CONFIG_FILE_VAR}: {file} line {number}: {key} is not a security property"
            raise ConfigurationError(msg, hint="the file holds security.protocol, sasl.* and ssl.* properties only")
        if key in _PATH_KEYS and value and not Path(value).is_absolute():
            value = str(file.parent / value)
        props[key] = value
    return tuple(props.items())


def librdkafka_logger(*, debug: bool) -> logging.Logger:
    """Where librdkafka's own log lines go: Python logging, never straight to stderr.

    Normally WARNING and up, reaching only the handlers a process set up (the flows' and the scheduler's
    logs); a one-shot command sets up none, so a broker that is down is its one error line, not a
    librdkafka line per reconnect. With ``--debug`` (SMARTSYNC_DEBUG) every line, on stderr if nothing
    else shows it.
    """
    log = logging.getLogger(LIBRDKAFKA_LOGGER)
    log.addHandler(_SILENT)  # keeps logging's last-resort handler from printing them (adding twice is a no-op)
    if debug:
        log.addHandler(_DEBUG_STDERR)
    else:
        log.removeHandler(_DEBUG_STDERR)
    log.setLevel(logging.DEBUG if debug else logging.WARNING)
    return log


def client_config(bootstrap: str, *, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """What every client needs to reach the cluster (brokers, security), plus the caller's own properties."""
    debug = load_settings(needs=()).debug
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap,
        **security_properties(),
        "logger": librdkafka_logger(debug=debug),
        "log_level": 7 if debug else 4,  # syslog levels: 7 debug, 4 warning
    }
    if client_id is not None:
        config["client.id"] = client_id
    config.update(overrides)
    return config


def producer_config(bootstrap: str, *, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A durable, ordered producer that partitions as Kafka's Java clients (and so Debezium) do."""
    return client_config(
        bootstrap,
        client_id=client_id,
        **{
            "acks": "all",
            "enable.idempotence": True,
            # Same function as Java's default partitioner for non-null keys, so a key lands on
            # the partition a Java client (or Debezium) would pick.
            "partitioner": "murmur2_random",
            **overrides,
        },
    )


def consumer_config(
    bootstrap: str, *, group_id: str | None = None, client_id: str | None = None, **overrides: Any
) -> dict[str, Any]:
    """A consumer; ``group_id`` is optional because Bytewax's source sets its own."""
    extra: dict[str, Any] = {} if group_id is None else {"group.id": group_id}
    return client_config(bootstrap, client_id=client_id, **extra, **overrides)


def admin_config(bootstrap: str, *, client_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    """An admin client (topic listing, creation, partition growth)."""
    return client_config(bootstrap, client_id=client_id, **overrides)
