"""Every Kafka client takes its security properties from SMARTSYNC_KAFKA_CONFIG_FILE; secrets are never shown."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connectors.callbacks.producer import producer_config
from connectors.kafka import config as kafka_config
from connectors.kafka.dead_letters import producer_config as dead_letter_producer_config
from smartsync.core.errors import ConfigurationError

SECRET = "scram-secret-value"


@pytest.fixture
def secured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "client.properties"
    path.write_text(
        "# the local secured stack\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=SCRAM-SHA-512\n"
        "sasl.username=smartsync\n"
        f"sasl.password={SECRET}\n"
        "ssl.ca.location=ca.pem\n"
    )
    monkeypatch.setenv(kafka_config.CONFIG_FILE_VAR, str(path))
    return path


def test_every_kind_of_client_gets_the_security_properties(secured: Path) -> None:
    for config in (
        kafka_config.consumer_config("b:1", group_id="g"),
        kafka_config.admin_config("b:1"),
        kafka_config.producer_config("b:1"),
        producer_config("b:1", 1.0),
        dead_letter_producer_config("b:1", "smartsync-dead-letters"),
    ):
        assert config["security.protocol"] == "SASL_SSL"
        assert config["sasl.mechanism"] == "SCRAM-SHA-512"
        assert config["sasl.password"] == SECRET
        assert config["ssl.ca.location"] == str(secured.parent / "ca.pem")  # relative to the file
        assert config["bootstrap.servers"] == "b:1"


def test_without_the_file_clients_are_plain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(kafka_config.CONFIG_FILE_VAR, raising=False)
    config = kafka_config.admin_config("b:1")
    assert config["bootstrap.servers"] == "b:1"
    assert not [k for k in config if k.startswith(("security.", "sasl.", "ssl."))]


def test_librdkafka_logs_go_through_python_logging_at_warning_unless_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSYNC_DEBUG", "")
    quiet = kafka_config.consumer_config("b:1")
    assert quiet["logger"].name == kafka_config.LIBRDKAFKA_LOGGER
    assert quiet["logger"].level == logging.WARNING
    assert quiet["log_level"] == 4
    monkeypatch.setenv("SMARTSYNC_DEBUG", "1")
    loud = kafka_config.consumer_config("b:1")
    assert loud["logger"].level == logging.DEBUG
    assert loud["log_level"] == 7
    monkeypatch.setenv("SMARTSYNC_DEBUG", "")
    kafka_config.consumer_config("b:1")  # back to quiet: the --debug handler on stderr is gone
    assert all(isinstance(h, logging.NullHandler) for h in logging.getLogger(kafka_config.LIBRDKAFKA_LOGGER).handlers)


def test_redacted_hides_secrets(secured: Path) -> None:
    shown = str(kafka_config.redacted(kafka_config.consumer_config("b:1")))
    assert SECRET not in shown
    assert "SASL_SSL" in shown


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"sasl.password {SECRET}\n", "not key=value"),
        (f"enable.auto.commit=false\nsasl.password={SECRET}\n", "enable.auto.commit is not a security property"),
    ],
)
def test_a_bad_file_fails_naming_the_setting_and_line_never_the_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, problem: str
) -> None:
    path = tmp_path / "bad.properties"
    path.write_text(text)
    monkeypatch.setenv(kafka_config.CONFIG_FILE_VAR, str(path))
    with pytest.raises(ConfigurationError) as caught:
        kafka_config.admin_config("b:1")
    assert "SMARTSYNC_KAFKA_CONFIG_FILE" in str(caught.value)
    assert problem in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_missing_file_fails_naming_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(kafka_config.CONFIG_FILE_VAR, str(tmp_path / "nope.properties"))
    with pytest.raises(ConfigurationError, match="SMARTSYNC_KAFKA_CONFIG_FILE: no readable file"):
        kafka_config.consumer_config("b:1")
