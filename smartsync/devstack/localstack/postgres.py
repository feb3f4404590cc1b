"""The stack's PostgreSQL 15 cluster: initdb, start, the two databases with their schema, and replication slots."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg

from connectors.debezium.connector import CDC_ROLE
from smartsync.core.catalog import Catalog
from smartsync.core.errors import StackError
from smartsync.core.roles import roles_sql
from smartsync.core.schema import migrate
from smartsync.core.tables import Database
from smartsync.devstack.localstack.state import ADMIN_USER, Progress, StackState, stack_dir

PG_BIN_CANDIDATES = (Path("/usr/lib/postgresql/15/bin"),)


def _pg_bin() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "postgres").exists():
            return candidate
    msg = "PostgreSQL 15 server binaries not found under /usr/lib/postgresql/15/bin"
    raise StackError(
        msg,
        hint="apt-get update && apt-get install -y postgresql-15",
    )


def _as_postgres() -> list[str]:
    """Prefix that runs a PostgreSQL binary: the server refuses to run as root."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _pg_data_dir() -> Path:
    if os.geteuid() != 0:
        return stack_dir() / "pgdata"
    # As root, the data directory must be owned and reachable by `postgres`: a checkout under
    # a private temp folder is not, so the cluster lives in a folder of its own under /tmp.
    tag = hashlib.sha256(str(stack_dir()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"smartsync-pg-{tag}"


def _init_postgres(data: Path, state: StackState, progress: Progress) -> None:
    if (data / "PG_VERSION").exists():
        return
    progress(f"initialising PostgreSQL cluster in {data}")
    data.mkdir(parents=True, exist_ok=True)
    pwfile = data.parent / f".{data.name}.pw"
    pwfile.write_text(state.admin_password + "\n")
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
        data.chmod(0o700)
    cmd = [
        *_as_postgres(),
        str(_pg_bin() / "initdb"),
        "-D",
        str(data),
        "-U",
        ADMIN_USER,
        f"--pwfile={pwfile}",
        "--auth-local=scram-sha-256",
        "--auth-host=scram-sha-256",
        "-E",
        "UTF8",
        "--locale=C.UTF-8",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    pwfile.unlink(missing_ok=True)
    if done.returncode != 0:
        shutil.rmtree(data, ignore_errors=True)
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        msg = f"initdb failed: {last[0]}"
        raise StackError(msg, hint="check that the `postgres` user exists and can write under /tmp")
    conf = {
        "listen_addresses": "'127.0.0.1'",
        "port": str(state.pg_port),
        "unix_socket_directories": "''",
        "wal_level": "logical",
        "max_wal_senders": "10",
        "max_replication_slots": "10",
        "max_connections": "200",
        "shared_buffers": "256MB",
        "synchronous_commit": "on",
        "fsync": "on",
        "log_min_messages": "warning",
    }
    with (data / "postgresql.auto.conf").open("a") as out:
        out.writelines(f"{k} = {v}\n" for k, v in conf.items())


def _pg_ctl(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [*_as_postgres(), str(_pg_bin() / "pg_ctl"), "-D", str(data), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def _postgres_running(data: Path) -> bool:
    return (data / "PG_VERSION").exists() and _pg_ctl(data, "status").returncode == 0


def _start_postgres(state: StackState, progress: Progress) -> None:
    data = Path(state.pg_data)
    _init_postgres(data, state, progress)
    # The port may have changed since initdb (a fresh pick after a stale run).
    with (data / "postgresql.auto.conf").open("a") as out:
        out.write(f"port = {state.pg_port}\n")
    if _postgres_running(data):
        return
    progress(f"starting PostgreSQL on 127.0.0.1:{state.pg_port}")
    log = stack_dir() / "logs" / "postgres.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.touch()
    if os.geteuid() == 0:
        shutil.chown(log, "postgres", "postgres")
        # runuser cannot open a log under a private checkout; let the server write to its own folder.
        log = data / "server.log"
    done = _pg_ctl(data, "start", "-w", "-t", "60", "-l", str(log))
    if done.returncode != 0:
        msg = f"PostgreSQL did not start: {done.stderr.strip() or done.stdout.strip()} (log: {log})"
        raise StackError(msg, hint="read the log")


def _claim_cluster(data: Path, pw_file: Path, progress: Progress) -> str | None:
    """The admin password of the cluster in ``data``, or None once no usable cluster is left there.

    As root the cluster lives under /tmp, outside the stack folder that keeps its password. When
    that folder is gone (a fresh clone at the same path, a deleted checkout) the cluster left
    behind can no longer be logged into, so it is stopped and removed rather than reused.
    """
    if not (data / "PG_VERSION").exists():
        return None
    if pw_file.exists():
        return pw_file.read_text().strip()
    progress(f"removing the PostgreSQL cluster in {data}: its password went with an earlier stack folder")
    if _postgres_running(data):
        _pg_ctl(data, "stop", "-m", "immediate", "-w", "-t", "60")
    shutil.rmtree(data, ignore_errors=True)
    if data.exists():
        msg = f"could not remove the stale PostgreSQL cluster in {data}"
        raise StackError(msg, hint=f"stop the server using it and delete {data}")
    return None


def _admin_connect(state: StackState, database: str = "postgres") -> psycopg.Connection:
    return psycopg.connect(state.dsn(database), autocommit=True)


def _migrate_databases(state: StackState, catalog: Catalog, progress: Progress) -> None:
    with _admin_connect(state) as conn:
        existing = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        for db in Database:
            if db.value not in existing:
                progress(f"creating database {db.value}")
                conn.execute(f"CREATE DATABASE {db.value}")
        conn.execute(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{CDC_ROLE}') "
            f"THEN CREATE ROLE {CDC_ROLE} LOGIN REPLICATION; END IF; END $$"
        )
        conn.execute(f"ALTER ROLE {CDC_ROLE} PASSWORD '{state.cdc_password}'")
    for db in Database:
        migrate(state.dsn(db), db, catalog)
        # The least-privilege roles of production: Debezium's role reads the captured tables only, the flows'
        # sinks, their source-side checks and the batch path log in as their own roles (StackState.component_env).
        with psycopg.connect(state.dsn(db), autocommit=True) as conn:
            for stmt in roles_sql(db, catalog, {**state.role_passwords, CDC_ROLE: state.cdc_password}):
                conn.execute(stmt.encode())  # generated from the catalog, never user input


def _drop_slots(state: StackState) -> None:
    """Drop our inactive replication slots; a slot of a killed Connect would pin WAL forever."""
    with contextlib.suppress(psycopg.Error), _admin_connect(state) as conn:
        deadline = time.monotonic() + 15
        while True:
            rows = conn.execute(
                "SELECT slot_name, active, active_pid FROM pg_replication_slots WHERE slot_name LIKE 'smartsync_%'"
            ).fetchall()
            for name, active, pid in rows:
                if active and pid:
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                else:
                    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            if not rows or time.monotonic() > deadline:
                return
            time.sleep(0.3)
