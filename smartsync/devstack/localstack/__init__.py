"""The local stack: real PostgreSQL 15, Kafka (KRaft) and Debezium on loopback, no Docker.

``up`` is idempotent: a healthy running stack is left alone; anything half-started or
stale is stopped and started again. It returns only once a sentinel change has travelled
database → Debezium → Kafka in both databases. ``down`` stops every process it started
and drops the replication slots, also after a killed run. Every failure is a
``StackError`` with one line that says what to do, and nothing is left running.

Layout: jars in ``<repo>/.stack/lib`` (fetched once by Maven), run state in
``$SMARTSYNC_STACK_DIR`` (default ``<repo>/.stack/run``).

- ``state``: the stack folder and ``StackState`` (ports, secrets, pids);
- ``processes``: spawning, signalling and waiting for processes, loopback ports;
- ``postgres``: the PostgreSQL cluster, its databases and replication slots;
- ``java``: Java, the jars, the JVM command lines and the leftovers of killed runs;
- ``kafka``: the broker, Kafka Connect with Debezium, and the sentinel change;
- ``security``: the secure stack's local CA and broker certificate, SCRAM users and client properties;
- ``lifecycle``: ``up``, ``down``, ``status`` and ``running_stack``.
"""

from smartsync.devstack.localstack.java import LIB, POM, _java_cmd, ensure_jars
from smartsync.devstack.localstack.kafka import (
    _start_kafka,
    connect_worker_security,
    stack_client_config,
    wait_for_sentinel,
)
from smartsync.devstack.localstack.lifecycle import ComponentStatus, down, running_stack, status, up
from smartsync.devstack.localstack.processes import _alive
from smartsync.devstack.localstack.state import ADMIN_USER, REPO, Progress, StackState, read_state, stack_dir

# ``_alive``, ``_java_cmd`` and ``_start_kafka`` are here for the flow tests and benchmarks that drive
# the stack's processes directly.
__all__ = [
    "ADMIN_USER",
    "LIB",
    "POM",
    "REPO",
    "ComponentStatus",
    "Progress",
    "StackState",
    "_alive",
    "_java_cmd",
    "_start_kafka",
    "connect_worker_security",
    "down",
    "ensure_jars",
    "read_state",
    "running_stack",
    "stack_client_config",
    "stack_dir",
    "status",
    "up",
    "wait_for_sentinel",
]
