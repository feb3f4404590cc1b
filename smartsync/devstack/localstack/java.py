"""The JVM side: Java itself, the Kafka/Connect/Debezium jars fetched by Maven, and the command lines of
the stack's JVMs (each marked with its stack folder, so a run's leftovers can be found and stopped)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from smartsync.core.errors import StackError
from smartsync.devstack.localstack.processes import _terminate
from smartsync.devstack.localstack.state import REPO, Progress, _quiet, stack_dir

LIB = REPO / ".stack" / "lib"
POM = REPO / "stack" / "maven" / "pom.xml"


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
