"""The local stack: real PostgreSQL 15, Kafka (KRaft) and Debezium on loopback, no Docker.

``up`` is idempotent: a healthy running stack is left alone; anything half-started or
stale is stopped and started again. It returns only once a sentinel change has travelled
database → Debezium → Kafka in both databases. ``down`` stops every process it started
and drops the replication slots, also after a killed run. Every failure is a
``StackError`` with one line that says what to do, and nothing is left running.

Layout: jars in ``<repo>/.stack/lib`` (fetched once by Maven), run state in
``$SMARTSYNC_STACK_DIR`` (default ``<repo>/.stack/run``).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient

from connectors.debezium.connector import CDC_ROLE, CONNECTOR_NAMES, connector_config, heartbeat_topic
from connectors.kafka.topics import create_topics
from smartsync.core.catalog import Catalog, load_catalog
from smartsync.core.errors import ConfigurationError, StackError
from smartsync.core.schema import HEARTBEAT_TABLE, migrate
from smartsync.core.tables import Database

REPO = Path(__file__).resolve().parents[2]
LIB = REPO / ".stack" / "lib"
POM = REPO / "stack" / "maven" / "pom.xml"
PG_BIN_CANDIDATES = (Path("/usr/lib/postgresql/15/bin"),)
ADMIN_USER = "smartsync"

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class StackState:
    """What a running stack is: ports, secrets and process ids, kept in ``state.json``."""

    pg_port: int
    kafka_port: int
    controller_port: int
    connect_port: int
    admin_password: str
    cdc_password: str
    pg_data: str
    pids: dict[str, int] = field(default_factory=dict)

    def dsn(self, database: Database | str) -> str:
        return f"postgresql://{ADMIN_USER}:{self.admin_password}@127.0.0.1:{self.pg_port}/{database}?connect_timeout=5"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def env(self) -> dict[str, str]:
        return {
            "SMARTSYNC_WAREHOUSE_DSN": self.dsn(Database.WAREHOUSE),
            "SMARTSYNC_CITIZEN_DSN": self.dsn(Database.CITIZEN),
            "SMARTSYNC_KAFKA_BOOTSTRAP": self.bootstrap,
        }


def stack_dir() -> Path:
    return Path(os.environ.get("SMARTSYNC_STACK_DIR", REPO / ".stack" / "run")).resolve()


def _state_path() -> Path:
    return stack_dir() / "state.json"


def read_state() -> StackState | None:
    path = _state_path()
    if not path.exists():
        return None
    try:
        return StackState(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        msg = f"stack state file {path} is unreadable ({exc})"
        raise StackError(msg, hint="run `smartsync stack down` to clear it") from None


def _write_state(state: StackState) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=2))
    tmp.chmod(0o600)
    tmp.replace(path)


# ── processes ───────────────────────────────────────────────────────────────────────────


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited child not yet reaped) is not alive.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    """Signal the process and, when it leads one (as everything ``_spawn`` starts does), its group."""
    with contextlib.suppress(ProcessLookupError):
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)


def _terminate(pid: int, timeout: float = 20.0) -> None:
    if not _alive(pid):
        return
    _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    if _alive(pid):
        _signal(pid, signal.SIGKILL)


def _java_marker() -> str:
    """The argument that marks a JVM as this stack folder's own (see ``_java_cmd``)."""
    return f"-Dsmartsync.log={stack_dir() / 'logs'}/"


def _leftover_jvms() -> list[int]:
    """Kafka and Connect processes of this stack folder that no state file knows of any more."""
    marker = _java_marker().encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            args = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(arg.startswith(marker) for arg in args):
            found.append(int(proc.name))
    return found


def _stop_leftovers(progress: Progress) -> None:
    # A run killed together with its state file (a deleted checkout, a fresh clone at the same
    # path) leaves a broker and a Connect worker that keep writing into this folder: Connect's
    # offsets file would point a new connector at a replication slot that no longer exists.
    for pid in _leftover_jvms():
        progress(f"stopping a Kafka/Connect process (pid {pid}) left by an earlier run of this stack folder")
        _terminate(pid)


def _spawn(args: list[str], log: Path, *, env: dict[str, str] | None = None) -> int:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(  # noqa: S603 — our own fixed command lines
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    return proc.pid


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _choose_port(env_var: str) -> int:
    wanted = os.environ.get(env_var)
    if not wanted:
        return _free_port()
    if not wanted.isdigit():
        msg = f"{env_var}={wanted!r} is not a port number"
        raise StackError(msg, hint="unset it or give a number")
    if not _port_free(int(wanted)):
        msg = f"port {wanted} ({env_var}) is already taken on 127.0.0.1"
        raise StackError(
            msg,
            hint=f"stop what listens there (`ss -ltnp 'sport = :{wanted}'`) or unset {env_var}",
        )
    return int(wanted)


def _wait_for(what: str, check: Callable[[], bool], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    where = f" (log: {log})" if log else ""
    msg = f"{what} did not become ready within {timeout:.0f}s{where}"
    raise StackError(msg, hint="read the log and retry `smartsync stack up`")


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# ── prerequisites ──────────────────────────────────────────────────────────────────────


def _pg_bin() -> Path:
    for candidate in PG_BIN_CANDIDATES:
        if (candidate / "postgres").exists():
            return candidate
    msg = "PostgreSQL 15 server binaries not found under /usr/lib/postgresql/15/bin"
    raise StackError(
        msg,
        hint="apt-get update && apt-get install -y postgresql-15",
    )


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        msg = "java not found on PATH (Kafka and Debezium need Java 17)"
        raise StackError(msg, hint="apt-get install -y openjdk-17-jre-headless")
    return java


def ensure_jars(progress: Progress = _quiet) -> None:
    """Fetch Kafka, Connect and Debezium from Maven Central once; later runs use the cache."""
    marker = LIB / ".complete"
    plugin = LIB / "connect-plugins" / "debezium-connector-postgres"
    if marker.exists() and any((LIB / "kafka").glob("kafka_2.13-*.jar")) and any(plugin.glob("*.jar")):
        return
    mvn = shutil.which("mvn")
    if mvn is None:
        msg = "mvn not found on PATH (it fetches Kafka and Debezium)"
        raise StackError(msg, hint="apt-get install -y maven")
    progress("fetching Kafka and Debezium jars with Maven (once)")
    log = LIB.parent / "maven.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        done = subprocess.run(  # noqa: S603 — our own fixed command line
            [mvn, "-B", "-q", "-f", str(POM), "package"], stdout=out, stderr=subprocess.STDOUT, check=False
        )
    if done.returncode != 0 or not any(plugin.glob("*.jar")):
        msg = f"Maven could not fetch the stack's jars (log: {log})"
        raise StackError(msg, hint="check access to Maven Central, then retry")
    marker.touch()


# ── PostgreSQL ─────────────────────────────────────────────────────────────────────────


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
        with psycopg.connect(state.dsn(db), autocommit=True) as conn:
            schemas = sorted({t.split(".")[0] for t in catalog.captured_tables(db)} | {"smartsync"})
            for schema in schemas:
                conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {CDC_ROLE}")
                conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {CDC_ROLE}")


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


# ── Kafka and Connect ──────────────────────────────────────────────────────────────────

_LOG4J2 = """\
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = ${sys:smartsync.log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
logger.debezium.name = io.debezium
logger.debezium.level = INFO
logger.kafka.name = kafka.server.KafkaRaftServer
logger.kafka.level = INFO
"""


def _java_cmd(heap: str, main: str, *args: str, log: Path) -> list[str]:
    config = stack_dir() / "log4j2.properties"
    config.write_text(_LOG4J2)
    return [
        _java(),
        f"-Xmx{heap}",
        f"-Xms{heap}",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={config}",
        f"-Dsmartsync.log={log}",
        "-cp",
        f"{LIB / 'kafka'}/*",
        main,
        *args,
    ]


def _start_kafka(state: StackState, progress: Progress) -> None:
    if _alive(state.pids.get("kafka")) and _listening(state.kafka_port):
        return
    run = stack_dir()
    data = run / "kafka-data"
    props = run / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{state.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{state.kafka_port},CONTROLLER://127.0.0.1:{state.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{state.kafka_port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=5",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                # Catalog topics are created with their partition counts before Connect starts;
                # Debezium's heartbeat topics are created on first use.
                "auto.create.topics.enable=true",
                "log.retention.hours=168",
                "",
            ]
        )
    )
    log = run / "logs" / "kafka.log"
    if not (data / "meta.properties").exists():
        progress("formatting Kafka storage (KRaft)")
        cid = _cluster_id()
        done = subprocess.run(  # noqa: S603
            _java_cmd(
                "256m", "kafka.tools.StorageTool", "format", "-t", cid, "-c", str(props), "--ignore-formatted", log=log
            ),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            msg = f"Kafka storage format failed: {(done.stderr or done.stdout).strip()[-300:]}"
            raise StackError(msg, hint=f"delete {data} and retry")
    progress(f"starting Kafka (KRaft) on {state.bootstrap}")
    state.pids["kafka"] = _spawn(_java_cmd("512m", "kafka.Kafka", str(props), log=log), run / "logs" / "kafka.out")
    _write_state(state)
    _wait_for("Kafka broker", lambda: _alive(state.pids["kafka"]) and _broker_ready(state), 60, log)


def _cluster_id() -> str:
    """A KRaft cluster id as Kafka makes them: base64url of a UUID, never starting with '-'
    (the storage tool would read that as an option)."""
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _broker_ready(state: StackState) -> bool:
    if not _listening(state.kafka_port):
        return False
    try:
        meta = AdminClient({"bootstrap.servers": state.bootstrap, "log_level": 3}).list_topics(timeout=2)
    except Exception:  # noqa: BLE001 — any failure means "not yet"
        return False
    return bool(meta.brokers)


def _start_connect(state: StackState, catalog: Catalog, progress: Progress) -> None:
    if _alive(state.pids.get("connect")) and _connectors_running(state):
        return
    run = stack_dir()
    worker = run / "connect-worker.properties"
    worker.write_text(
        "\n".join(
            [
                f"bootstrap.servers={state.bootstrap}",
                "key.converter=org.apache.kafka.connect.json.JsonConverter",
                "value.converter=org.apache.kafka.connect.json.JsonConverter",
                "key.converter.schemas.enable=false",
                "value.converter.schemas.enable=false",
                f"offset.storage.file.filename={run / 'connect.offsets'}",
                "offset.flush.interval.ms=1000",
                f"plugin.path={LIB / 'connect-plugins'}",
                "plugin.discovery=hybrid_warn",
                f"listeners=http://127.0.0.1:{state.connect_port}",
                "producer.linger.ms=5",
                "producer.compression.type=lz4",
                "",
            ]
        )
    )
    connector_files = []
    for db in Database:
        path = run / f"connector-{db.value}.properties"
        path.write_text("\n".join(f"{k}={v}" for k, v in connector_config(db, catalog, hostname="127.0.0.1", port=state.pg_port, password=state.cdc_password).items()) + "\n")
        path.chmod(0o600)
        connector_files.append(str(path))
    progress("starting Kafka Connect with the Debezium PostgreSQL connectors")
    log = run / "logs" / "connect.log"
    cmd = _java_cmd("768m", "org.apache.kafka.connect.cli.ConnectStandalone", str(worker), *connector_files, log=log)
    state.pids["connect"] = _spawn(cmd, run / "logs" / "connect.out")
    _write_state(state)
    _wait_for("Kafka Connect", lambda: _alive(state.pids["connect"]) and _connectors_running(state), 90, log)


def _connectors_running(state: StackState) -> bool:
    for name in CONNECTOR_NAMES.values():
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{state.connect_port}/connectors/{name}/status", timeout=2
            ) as resp:
                status = json.loads(resp.read())
        except (OSError, ValueError):
            return False
        tasks = status.get("tasks", [])
        if status.get("connector", {}).get("state") != "RUNNING" or not tasks:
            return False
        if any(t.get("state") == "FAILED" for t in tasks):
            trace = tasks[0].get("trace", "").splitlines()[:1]
            msg = f"Debezium connector {name} failed: {trace}"
            raise StackError(msg, hint=f"see {stack_dir() / 'logs' / 'connect.log'}")
        if any(t.get("state") != "RUNNING" for t in tasks):
            return False
    return True


def wait_for_sentinel(state: StackState, catalog: Catalog, timeout: float = 60) -> float:
    """Update the heartbeat row in both databases and wait for both changes on Kafka."""
    started = time.monotonic()
    token = secrets.token_hex(8)
    topics = {db: heartbeat_topic(db, catalog) for db in Database}
    consumer = Consumer(
        {"bootstrap.servers": state.bootstrap, "group.id": f"smartsync-sentinel-{token}", "enable.auto.commit": False}
    )
    try:
        # Start from the end of each topic, so only a change made now counts.
        parts = []
        for topic in topics.values():
            _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
            parts.append(TopicPartition(topic, 0, high))
        consumer.assign(parts)
        stamp = f"2000-01-01 00:00:{int(token[:4], 16) % 60:02d}+00"
        seen: set[str] = set()
        last_poke = 0.0
        while time.monotonic() - started < timeout:
            if time.monotonic() - last_poke > 3:
                # Re-poke until seen: the first change may land before the slot exists.
                for db, topic in topics.items():
                    if topic not in seen:
                        with psycopg.connect(state.dsn(db), autocommit=True) as conn:
                            conn.execute(f"UPDATE {HEARTBEAT_TABLE} SET beat_at = %s WHERE id = 1", (stamp,))
                last_poke = time.monotonic()
            msg = consumer.poll(0.5)
            if msg is None or msg.error() or msg.value() is None:
                continue
            after = (json.loads(msg.value() or b"null") or {}).get("after") or {}
            if str(after.get("beat_at", "")).startswith("2000-01-01T00:00:"):
                seen.add(str(msg.topic()))
            if len(seen) == len(topics):
                return time.monotonic() - started
    finally:
        consumer.close()
    msg_0 = f"no change event reached Kafka within {timeout:.0f}s"
    raise StackError(msg_0, hint=f"see {stack_dir() / 'logs' / 'connect.log'}")


# ── up / down / status ─────────────────────────────────────────────────────────────────


def _healthy(state: StackState) -> bool:
    return (
        _postgres_running(Path(state.pg_data))
        and _alive(state.pids.get("kafka"))
        and _listening(state.kafka_port)
        and _alive(state.pids.get("connect"))
        and _connectors_running(state)
    )


def up(progress: Progress = _quiet, catalog: Catalog | None = None) -> StackState:
    """Start the stack (or find it running) and return its state once changes flow."""
    catalog = catalog or load_catalog()
    existing = read_state()
    if existing is not None:
        with contextlib.suppress(StackError):
            if _healthy(existing):
                progress("stack already running")
                return existing
        progress("cleaning up a previous run that is not healthy")
        down(progress)
    _pg_bin()
    _java()
    ensure_jars(progress)
    _stop_leftovers(progress)
    run = stack_dir()
    run.mkdir(parents=True, exist_ok=True)
    previous = existing
    state = StackState(
        pg_port=_choose_port("SMARTSYNC_STACK_PG_PORT"),
        kafka_port=_choose_port("SMARTSYNC_STACK_KAFKA_PORT"),
        controller_port=_free_port(),
        connect_port=_choose_port("SMARTSYNC_STACK_CONNECT_PORT"),
        # The cluster keeps the admin password it was initialised with.
        admin_password=previous.admin_password if previous else secrets.token_urlsafe(18),
        cdc_password=secrets.token_urlsafe(18),
        pg_data=str(_pg_data_dir()),
    )
    pw_file = run / "admin.pw"
    if previous is None:
        state.admin_password = _claim_cluster(Path(state.pg_data), pw_file, progress) or state.admin_password
    pw_file.write_text(state.admin_password)
    pw_file.chmod(0o600)
    _write_state(state)
    try:
        _start_postgres(state, progress)
        _migrate_databases(state, catalog, progress)
        _drop_slots(state)
        _start_kafka(state, progress)
        try:
            create_topics(state.bootstrap, catalog)
        except ConfigurationError as exc:
            raise StackError(exc.message, hint="check the Kafka log") from None
        _start_connect(state, catalog, progress)
        progress("waiting for a sentinel change to travel database → Debezium → Kafka")
        wait_for_sentinel(state, catalog)
    except BaseException:
        down(progress)
        raise
    progress("stack is up")
    return state


def down(progress: Progress = _quiet, *, purge: bool = False) -> None:
    """Stop everything the stack started and drop its replication slots; ``purge`` deletes its data too."""
    try:
        state = read_state()
    except StackError:
        # Without a readable state there is nothing to stop by pid; start afresh next time.
        progress(f"removing the unreadable state file {_state_path()}")
        _state_path().unlink(missing_ok=True)
        state = None
    if state is not None:
        _stop(state, progress)
    _stop_leftovers(progress)
    data = Path(state.pg_data) if state else _pg_data_dir()
    if state is None and _postgres_running(data):
        progress("stopping PostgreSQL (no state file knows of it any more)")
        _pg_ctl(data, "stop", "-m", "fast", "-w", "-t", "60")
    if purge:
        progress("deleting the stack's databases and Kafka data")
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(stack_dir(), ignore_errors=True)


def _stop(state: StackState, progress: Progress) -> None:
    for name in ("connect", "kafka"):
        pid = state.pids.get(name)
        if pid and _alive(pid):
            progress(f"stopping {name}")
            _terminate(pid)
    data = Path(state.pg_data)
    if _postgres_running(data):
        _drop_slots(state)
        progress("stopping PostgreSQL")
        _pg_ctl(data, "stop", "-m", "fast", "-w", "-t", "60")
    # Offsets and slots are reset together, or Debezium would resume from a slot that is gone.
    (stack_dir() / "connect.offsets").unlink(missing_ok=True)
    _state_path().unlink(missing_ok=True)


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    running: bool
    detail: str


def status() -> list[ComponentStatus]:
    state = read_state()
    if state is None:
        return [ComponentStatus(n, running=False, detail="not started") for n in ("postgres", "kafka", "connect")]
    connect_ok = False
    with contextlib.suppress(StackError):
        connect_ok = _alive(state.pids.get("connect")) and _connectors_running(state)
    return [
        ComponentStatus("postgres", _postgres_running(Path(state.pg_data)), f"127.0.0.1:{state.pg_port}"),
        ComponentStatus("kafka", _alive(state.pids.get("kafka")) and _listening(state.kafka_port), state.bootstrap),
        ComponentStatus(
            "connect", connect_ok, f"http://127.0.0.1:{state.connect_port} ({', '.join(CONNECTOR_NAMES.values())})"
        ),
    ]


@contextlib.contextmanager
def running_stack(progress: Progress = _quiet) -> Iterator[StackState]:
    """A stack for the duration of the block: reuses a running one, else starts one and purges it after."""
    existing = read_state()
    if existing is not None:
        with contextlib.suppress(StackError):
            if _healthy(existing):
                yield existing
                return
    state = up(progress)
    try:
        yield state
    finally:
        # Nothing outlives a stack the block started: its data would only be found stale later.
        down(progress, purge=True)
