"""Text that leaves SmartSync (logs, errors, job records, reports) without secrets or row values.

``redact_secrets`` hides passwords in DSNs (URL and key=value forms, percent signs included) and
token-like settings; ``db_error`` reduces a database error to its SQLSTATE, constraint and table,
because PostgreSQL's DETAIL ("Failing row contains (...)") and some primary messages quote values.
"""

from __future__ import annotations

import re

MASK = "***"

# scheme://user:password@host  (the password may hold anything but '@' or whitespace, '%' included)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<secret>[^@\s]+)(?P<tail>@)")
# password=... in libpq key=value DSNs, quoted or not; the same for sasl.password, ssl.key.password and friends
_KEY_PASSWORD = re.compile(
    r"(?P<head>\b(?:password|passwd|sasl\.password|ssl\.key\.password|ssl\.keystore\.password|"
    r"ssl\.truststore\.password|token|secret)\s*[=:]\s*)(?P<secret>'(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\s,;&]+)",
    re.IGNORECASE,
)
# ?password=... in a URL's query string
_QUERY_PASSWORD = re.compile(r"(?P<head>[?&]password=)(?P<secret>[^&\s]+)", re.IGNORECASE)


def redact_secrets(text: str) -> str:
    """``text`` with every DSN password and secret-looking assignment replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}{m['tail']}", text)
    text = _QUERY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)
    return _KEY_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", text)


def db_error(exc: BaseException) -> str:
    """A database error as SQLSTATE, error class, table and constraint: no DETAIL, no values.

    Works for psycopg errors (``sqlstate``, ``diag``); anything else is its type and redacted first line.
    """
    sqlstate = getattr(exc, "sqlstate", None)
    diag = getattr(exc, "diag", None)
    if sqlstate is None:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return f"{type(exc).__name__}: {redact_secrets(first)}" if first else type(exc).__name__
    parts = [f"SQLSTATE {sqlstate} ({type(exc).__name__})"]
    schema, table = getattr(diag, "schema_name", None), getattr(diag, "table_name", None)
    if table:
        parts.append(f"table {schema}.{table}" if schema else f"table {table}")
    column = getattr(diag, "column_name", None)
    if column:
        parts.append(f"column {column}")
    constraint = getattr(diag, "constraint_name", None)
    if constraint:
        parts.append(f"constraint {constraint}")
    return ", ".join(parts)


def safe_error_text(text: str) -> str:
    """An error text fit for records read widely (job runs, reports): its first line, secrets hidden.

    PostgreSQL puts row values on the lines after the first (DETAIL: Failing row contains (...)).
    """
    first = text.strip().splitlines()[0] if text.strip() else ""
    return redact_secrets(first)
