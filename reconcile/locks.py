"""One run of a job at a time: a PostgreSQL advisory lock per job, held for the whole run.

The lock lives in the job's record database (the target database of its sync; smart_warehouse
for the weekly reconciliation), next to its ``smartsync.job_runs`` rows, so the lock and the
record of who holds it can never be in two places. It is a session lock on a connection of its
own: when the process dies, PostgreSQL ends the session and frees the lock; TCP keepalives
(``reconcile.connections.Limits``) make that happen within a minute even when the host vanished.

The key is two 32-bit integers: a fixed class for SmartSync jobs and the CRC-32 of the job
name, stable across processes, hosts and PostgreSQL versions (``hashtext`` is not promised to be).
"""

from __future__ import annotations

import contextlib
import zlib
from collections.abc import Iterator
from typing import Any

import psycopg

from reconcile.connections import connect
from smartsync.core.errors import ReconcileError

# "SS" + "jb": the class half of every SmartSync job lock, apart from other applications' locks.
LOCK_CLASS = 0x53536A62  # fits a signed int4


def lock_key(job: str) -> tuple[int, int]:
    """The advisory lock of a job: (class, signed CRC-32 of the name)."""
    crc = zlib.crc32(job.encode())
    return LOCK_CLASS, crc - (1 << 32) if crc >= 1 << 31 else crc


class JobBusyError(ReconcileError):
    """Another run of the same job holds its lock."""


@contextlib.contextmanager
def job_lock(dsn: str, job: str, *, what: str) -> Iterator[psycopg.Connection[Any]]:
    """Hold the job's lock for the block, or raise ``JobBusyError`` at once (never waits)."""
    conn = connect(dsn, what=what)
    try:
        row = conn.execute("SELECT pg_try_advisory_lock(%s, %s)", lock_key(job)).fetchone()
        if not (row and row[0]):
            holder = conn.execute(
                "SELECT a.pid, a.client_addr::text, a.backend_start FROM pg_locks l "
                "JOIN pg_stat_activity a USING (pid) WHERE l.locktype = 'advisory' AND l.classid::bigint = %s "
                "AND l.objid::bigint = %s AND l.granted LIMIT 1",
                (LOCK_CLASS & 0xFFFFFFFF, lock_key(job)[1] & 0xFFFFFFFF),
            ).fetchone()
            # Another role's session shows its pid but no start time without pg_read_all_stats.
            since = f" since {holder[2]:%Y-%m-%d %H:%M:%S} UTC" if holder and holder[2] else ""
            who = f" (session pid {holder[0]}{since})" if holder else ""
            msg = f"job {job} is already running{who}"
            raise JobBusyError(msg, hint="wait for that run to end; a manual and a scheduled run never overlap")
        yield conn
    finally:
        conn.close()  # ends the session: the lock goes with it
