"""One direction as two separately started processes on two "hosts" (127.0.0.2 and 127.0.0.3).

Each process is ``smartsync flow run DIRECTION --process-id I --addresses A;B`` with a recovery
directory of its own (as a StatefulSet pod has its own volume). Under load, one host's process
is SIGKILLed: the other stops on its own (a Bytewax cluster cannot lose a process), both are
started again and resume from their recovery shares. A full reconciliation of every sync of
the direction then finds nothing missing, stale or resurrected.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psycopg

from dataflows import runner
from dataflows.testing import person, wait_until
from reconcile.compare import compare
from smartsync.core.catalog import Direction, load_catalog
from smartsync.core.settings import load_settings

DIRECTION = Direction.CITIZEN_TO_WAREHOUSE
HOSTS = ("127.0.0.2", "127.0.0.3")


class Member:
    """One host's ``smartsync flow run --process-id``: its own recovery directory, metrics port and log."""

    def __init__(self, index: int, addresses: str, root: Path) -> None:
        self.index = index
        self.addresses = addresses
        self.recovery = root / f"host-{index}"
        self.log = root / f"host-{index}.log"
        self.metrics_port = runner.free_ports(1)[0]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "SMARTSYNC_RECOVERY_DIR": str(self.recovery),
            "SMARTSYNC_METRICS_PORT": str(self.metrics_port),
            "SMARTSYNC_SNAPSHOT_INTERVAL_S": "1",
        }
        argv = [sys.executable, "-m", "smartsync", "flow", "run", DIRECTION.value, "--workers", "1"]
        argv += ["--process-id", str(self.index), "--addresses", self.addresses]
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # noqa: S603

    def serving(self) -> bool:
        self.check_alive()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=1):
                return True
        except OSError:
            return False

    def check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            msg = f"host {self.index} exited with {self.proc.returncode}:\n{self.log.read_text()[-3000:]}"
            raise AssertionError(msg)

    def kill(self) -> None:
        """SIGKILL the host's supervisor: its flow process follows it (parent-death signal), as in a lost pod."""
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


class Load(threading.Thread):
    """Inserts, updates and deletes of citizens, documents and applications on fresh keys, until stopped."""

    def __init__(self, dsn: str, ids: list[int], seed: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.ids, self.rng = dsn, ids, random.Random(seed)
        self.stopped = threading.Event()
        self.ops = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stopped.is_set():
                    self.step(conn, self.rng.choice(self.ids))
                    self.ops += 1
                    time.sleep(0.003)
        except BaseException as exc:  # noqa: BLE001 — reported by the test
            self.error = exc

    def step(self, conn: psycopg.Connection[Any], key: int) -> None:
        r = self.rng
        table = r.randrange(3)
        if table == 0:
            if conn.execute("SELECT 1 FROM public.citizens WHERE citizen_id = %s", (key,)).fetchone() is None:
                p = person(key)
                conn.execute(
                    "INSERT INTO public.citizens (citizen_id, full_name, district_id, mobile, email, aadhaar) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    (key, p["full_name"], p["district_id"], p["mobile"], p["email"], p["aadhaar"]),
                )
            elif r.random() < 0.2:
                conn.execute("DELETE FROM public.citizens WHERE citizen_id = %s", (key,))
            else:
                conn.execute(
                    "UPDATE public.citizens SET mobile = %s WHERE citizen_id = %s", (f"9{r.randrange(10**9):09d}", key)
                )
        elif table == 1:
            if conn.execute("SELECT 1 FROM public.documents WHERE document_id = %s", (key,)).fetchone() is None:
                conn.execute(
                    "INSERT INTO public.documents (document_id, citizen_id, document_type, file_name, mime_type, "
                    "size_bytes) VALUES (%s, %s, 'photo', 'p.jpg', 'image/jpeg', %s)",
                    (key, key, r.randrange(10**6)),
                )
            elif r.random() < 0.2:
                conn.execute("DELETE FROM public.documents WHERE document_id = %s", (key,))
            else:
                conn.execute(
                    "UPDATE public.documents SET size_bytes = %s WHERE document_id = %s", (r.randrange(10**6), key)
                )
        elif conn.execute("SELECT 1 FROM public.service_applications WHERE application_id = %s", (key,)).fetchone():
            status = r.choice(["in_review", "approved", "rejected"])
            conn.execute("UPDATE public.service_applications SET status = %s WHERE application_id = %s", (status, key))
        else:
            conn.execute(
                "INSERT INTO public.service_applications (application_id, citizen_id, scheme_code, status) "
                "VALUES (%s, %s, 'OAP', 'submitted')",
                (key, key),
            )


def _losses(keys: set[int]) -> list[str]:
    """A full reconciliation of every sync of the direction: what is missing, stale or resurrected.

    Nothing the source holds may be missing anywhere. The shared stack's targets also hold rows
    this sync never wrote (other tests', the warehouse's own): stale and resurrected rows are
    judged on the keys this test changed.
    """
    settings = load_settings()
    found = []
    for sync in load_catalog().event_syncs(DIRECTION):
        diff = compare(sync, settings).diff
        stale = sorted(c.key[0] for c in diff.changed if c.key[0] in keys)
        kept = sorted(k[0] for k in diff.target_only if k[0] in keys)
        if diff.source_only or stale or kept:
            missing = [k[0] for k in diff.source_only]
            found.append(f"{sync.name}: {len(missing)} missing {missing[:10]}, stale {stale}, kept {kept}")
    return found


def test_a_direction_over_two_hosts_survives_losing_one(tmp_path: Path, citizen_dsn: str) -> None:
    ports = [runner.free_ports(1, host)[0] for host in HOSTS]
    addresses = ";".join(f"{host}:{port}" for host, port in zip(HOSTS, ports, strict=True))
    members = [Member(i, addresses, tmp_path) for i in range(len(HOSTS))]
    base = random.randrange(10**8, 9 * 10**8)
    keys = [base + i for i in range(30)]
    load = Load(citizen_dsn, keys, base)
    try:
        for m in members:
            m.start()
        wait_until(lambda: all(m.serving() for m in members), timeout_s=90, what="both hosts' flows up")
        # Each host made only its share of the partitions (1 worker each: 2 partitions over 2 hosts).
        assert runner.read_partitions(members[0].recovery / DIRECTION.value) == {0: 2}
        assert runner.read_partitions(members[1].recovery / DIRECTION.value) == {1: 2}
        load.start()
        time.sleep(4)
        members[1].kill()
        # The surviving process cannot go on without its peer: it stops on its own, loudly.
        survivor = members[0].proc
        assert survivor is not None
        wait_until(lambda: survivor.poll() is not None, timeout_s=30, what="host 0 to stop after host 1 died")
        assert survivor.returncode != 0
        time.sleep(1)  # changes keep coming while no process runs
        for m in members:
            m.start()
        wait_until(lambda: all(m.serving() for m in members), timeout_s=90, what="both hosts' flows up again")
        time.sleep(4)
        load.stopped.set()
        load.join()
        assert load.error is None, load.error
        assert load.ops > 100
        losses = ["not reconciled yet"]

        def reconciled() -> bool:
            losses[:] = _losses(set(keys))
            return not losses

        try:
            wait_until(reconciled, timeout_s=120, every_s=1, what="a clean full reconciliation")
        except AssertionError as exc:
            msg = f"{exc}: {losses}"
            raise AssertionError(msg) from None
        for m in members:
            m.check_alive()
    finally:
        load.stopped.set()
        for m in members:
            m.stop()
