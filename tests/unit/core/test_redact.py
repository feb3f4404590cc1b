"""No secrets or row values in what SmartSync prints or records."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from connectors.debezium.envelope import integer_value, type_error, value_shape
from smartsync.core.redact import db_error, redact_secrets, safe_error_text

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://smartsync:s3cr%t@127.0.0.1:5432/smart_citizen?connect_timeout=5", "s3cr%t"),
        ("invalid dsn: 'postgresql://u:p%zz@h/db'", "p%zz"),
        ("host=db user=sink password=hunter2 dbname=smart_citizen", "hunter2"),
        ("host=db password='with space' dbname=x", "with space"),
        ("postgresql://h/db?user=u&password=qwerty1", "qwerty1"),
        ("sasl.password=kafka-secret ssl.key.password=keypw", "kafka-secret"),
    ],
)
def test_dsn_passwords_are_redacted(text: str, secret: str) -> None:
    out = redact_secrets(text)
    assert secret not in out
    assert "***" in out


def test_a_dsn_without_a_password_is_left_alone() -> None:
    assert redact_secrets("postgresql://smartsync@127.0.0.1/db") == "postgresql://smartsync@127.0.0.1/db"


def test_a_dead_letter_reason_carries_the_type_and_length_never_the_value() -> None:
    with pytest.raises(Exception, match="type error") as caught:
        integer_value("aadhaar", "234567890124")
    assert "234567890124" not in str(caught.value)
    assert "str of length 12" in str(caught.value)
    assert "234567890124" not in type_error("x", "a string", 234567890124).message
    assert value_shape(234567890124) == "int of 12 digits"
    assert value_shape(None) == "null"
    assert value_shape({"a": 1}) == "dict of length 1"


def test_job_record_text_keeps_the_first_line_without_secrets() -> None:
    text = 'new row violates check constraint "c"\nDETAIL:  Failing row contains (1, 234567890124, 9876543210).'
    assert safe_error_text(text) == 'new row violates check constraint "c"'
    assert "pw" not in safe_error_text("cannot connect: postgresql://u:pw@h/db")


def test_a_database_error_is_sqlstate_table_and_constraint_only(citizen_like_dsn: str | None = None) -> None:
    class Diag:
        schema_name = "public"
        table_name = "citizens"
        column_name = None
        constraint_name = "citizens_mobile_check"

    class CheckViolation(psycopg.errors.CheckViolation):
        sqlstate = "23514"
        diag = Diag()  # type: ignore[assignment]

        def __str__(self) -> str:
            return "new row violates check constraint\nDETAIL:  Failing row contains (234567890124, 9876543210)."

    text = db_error(CheckViolation())
    assert text == "SQLSTATE 23514 (CheckViolation), table public.citizens, constraint citizens_mobile_check"


def test_a_dsn_with_a_percent_in_its_password_is_never_printed() -> None:
    secret = "pa%zzword"
    env = {
        "PATH": "/usr/bin:/bin",
        "SMARTSYNC_WAREHOUSE_DSN": f"postgresql://u:{secret}@127.0.0.1:1/smart_warehouse",
        "SMARTSYNC_CITIZEN_DSN": f"postgresql://u:{secret}@127.0.0.1:1/smart_citizen",
    }
    for debug in ([], ["--debug"]):
        done = subprocess.run(  # noqa: S603 — our own CLI
            [str(Path(sys.executable).parent / "smartsync"), *debug, "db", "migrate"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            cwd=REPO,
        )
        assert done.returncode == 1
        assert secret not in done.stdout + done.stderr, done.stderr
