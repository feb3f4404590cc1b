"""The secure stack's files: certificates for loopback, private files, properties SmartSync's reader accepts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

from cryptography import x509

from connectors.kafka.config import security_properties
from smartsync.devstack.localstack import StackState, security


def _state(tmp_path: Path, *, secure: bool) -> StackState:
    props = security.write_client_properties(tmp_path, security.kafka_users(tmp_path)) if secure else None
    return StackState(
        pg_port=1,
        kafka_port=2,
        controller_port=3,
        connect_port=4,
        admin_password="admin-pw",
        cdc_password="cdc-pw",
        pg_data=str(tmp_path / "pg"),
        secure=secure,
        kafka_config_file=str(props or ""),
        role_passwords={
            "smartsync_sink_citizen": "a",
            "smartsync_sink_warehouse": "b",
            "smartsync_reconciler": "c",
            "smartsync_flow_source": "d",
            "smartsync_monitor": "e",
        },
    )


def test_the_broker_certificate_is_for_loopback_and_chains_to_the_local_ca(tmp_path: Path) -> None:
    security.ensure_certificates(tmp_path)
    ca = x509.load_pem_x509_certificate(security.ca_file(tmp_path).read_bytes())
    chain = x509.load_pem_x509_certificates(security.broker_key_file(tmp_path).read_bytes())
    assert b"PRIVATE KEY" in security.broker_key_file(tmp_path).read_bytes()
    leaf = chain[0]
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.IPv4Address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    leaf.verify_directly_issued_by(ca)
    for path in (security.ca_file(tmp_path), security.broker_key_file(tmp_path), security.tls_dir(tmp_path) / "ca.key"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_certificates_are_kept_until_they_near_expiry_and_the_ca_outlives_the_broker_certificate(
    tmp_path: Path,
) -> None:
    security.ensure_certificates(tmp_path)
    first = security.broker_key_file(tmp_path).read_bytes()
    ca = security.ca_file(tmp_path).read_bytes()
    security.ensure_certificates(tmp_path)
    assert security.broker_key_file(tmp_path).read_bytes() == first
    # A year on: a new broker certificate from the CA the clients already trust.
    security.ensure_certificates(tmp_path, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=360))
    assert security.broker_key_file(tmp_path).read_bytes() != first
    assert security.ca_file(tmp_path).read_bytes() == ca
    leaf = x509.load_pem_x509_certificates(security.broker_key_file(tmp_path).read_bytes())[0]
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(ca))
    security.ensure_certificates(tmp_path, now=dt.datetime.now(dt.UTC) + dt.timedelta(days=5 * 365))
    assert security.ca_file(tmp_path).read_bytes() != ca


def test_passwords_are_random_per_folder_kept_and_fit_the_storage_tools_syntax(tmp_path: Path) -> None:
    users = security.kafka_users(tmp_path / "a")
    assert security.kafka_users(tmp_path / "a") == users
    assert security.kafka_users(tmp_path / "b") != users
    assert stat.S_IMODE((tmp_path / "a" / "kafka-users.json").stat().st_mode) == 0o600
    args = security.scram_format_args(users)
    assert args[::2] == ["--add-scram"] * len(security.USERS)
    assert all(p.isalnum() for p in users.values())


def test_the_client_properties_are_what_smartsyncs_reader_accepts(tmp_path: Path) -> None:
    users = security.kafka_users(tmp_path)
    path = security.write_client_properties(tmp_path, users)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert security_properties(path) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": security.CLIENT_USER,
        "sasl.password": users[security.CLIENT_USER],
        "ssl.ca.location": str(security.ca_file(tmp_path)),
    }


def test_connect_and_its_clients_log_in_as_connect(tmp_path: Path) -> None:
    users = security.kafka_users(tmp_path)
    lines = security.connect_worker_properties(tmp_path, users)
    for prefix in ("", "producer.", "consumer.", "admin."):
        assert f"{prefix}security.protocol=SASL_SSL" in lines
        assert any(line.startswith(f"{prefix}sasl.jaas.config=") and security.CONNECT_USER in line for line in lines)


def test_env_names_the_properties_file_only_when_secure(tmp_path: Path) -> None:
    secure = _state(tmp_path, secure=True).env()
    assert secure["SMARTSYNC_KAFKA_CONFIG_FILE"] == str(security.client_properties_file(tmp_path))
    assert not any(p in "".join(secure.values()) for p in security.kafka_users(tmp_path).values())
    assert "SMARTSYNC_KAFKA_CONFIG_FILE" not in _state(tmp_path, secure=False).env()


def test_env_gives_each_component_its_role(tmp_path: Path) -> None:
    env = _state(tmp_path, secure=False).env()
    assert env["SMARTSYNC_SINK_CITIZEN_DSN"].startswith("postgresql://smartsync_sink_citizen:a@")
    assert env["SMARTSYNC_SINK_WAREHOUSE_DSN"].endswith("/smart_warehouse?connect_timeout=5")
    assert env["SMARTSYNC_RECONCILER_CITIZEN_DSN"].startswith("postgresql://smartsync_reconciler:c@")
    assert env["SMARTSYNC_CDC_PASSWORD"] == "cdc-pw"
    assert env["SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN"].startswith("postgresql://smartsync_flow_source:d@")
    assert env["SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN"].endswith("/smart_warehouse?connect_timeout=5")
    assert env["SMARTSYNC_FLOW_SOURCE_CITIZEN_DSN"].endswith("/smart_citizen?connect_timeout=5")
    assert env["SMARTSYNC_MONITOR_WAREHOUSE_DSN"].startswith("postgresql://smartsync_monitor:e@")
    assert env["SMARTSYNC_MONITOR_WAREHOUSE_DSN"].endswith("/smart_warehouse?connect_timeout=5")
    assert env["SMARTSYNC_MONITOR_CITIZEN_DSN"].endswith("/smart_citizen?connect_timeout=5")


def test_a_stack_started_before_the_flow_source_role_exports_no_dsn_for_it(tmp_path: Path) -> None:
    older = _state(tmp_path, secure=False)
    del older.role_passwords["smartsync_flow_source"]
    env = older.env()
    assert "SMARTSYNC_FLOW_SOURCE_WAREHOUSE_DSN" not in env
    assert env["SMARTSYNC_SINK_CITIZEN_DSN"].startswith("postgresql://smartsync_sink_citizen:a@")


def test_a_stack_started_before_the_monitor_role_exports_no_dsn_for_it(tmp_path: Path) -> None:
    older = _state(tmp_path, secure=False)
    del older.role_passwords["smartsync_monitor"]
    env = older.env()
    assert not [name for name in env if name.startswith("SMARTSYNC_MONITOR_")]
    assert env["SMARTSYNC_FLOW_SOURCE_CITIZEN_DSN"].startswith("postgresql://smartsync_flow_source:d@")
