"""Up, down, status: the stack as a whole, started in order and stopped completely."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from connectors.debezium.connector import CONNECTOR_NAMES
from connectors.kafka.config import CONFIG_FILE_VAR
from connectors.kafka.topics import create_topics
from smartsync.core.catalog import Catalog, load_catalog
from smartsync.core.errors import ConfigurationError, StackError
from smartsync.core.files import make_private, private_umask, write_private
from smartsync.core.roles import FLOW_SOURCE_ROLE, MONITOR_ROLE, RECONCILER_ROLE, SINK_ROLES
from smartsync.devstack.localstack import security
from smartsync.devstack.localstack.java import _java, _stop_leftovers, ensure_jars
from smartsync.devstack.localstack.kafka import (
    _connectors_running,
    _formatted_secure,
    _start_connect,
    _start_kafka,
    wait_for_sentinel,
)
from smartsync.devstack.localstack.postgres import (
    _claim_cluster,
    _drop_slots,
    _migrate_databases,
    _pg_bin,
    _pg_ctl,
    _pg_data_dir,
    _postgres_running,
    _start_postgres,
)
from smartsync.devstack.localstack.processes import _alive, _choose_port, _free_port, _listening, _terminate
from smartsync.devstack.localstack.state import (
    Progress,
    StackState,
    _quiet,
    _state_path,
    _write_state,
    read_state,
    stack_dir,
)


def _healthy(state: StackState) -> bool:
    return (
        _postgres_running(Path(state.pg_data))
        and _alive(state.pids.get("kafka"))
        and _listening(state.kafka_port)
        and _alive(state.pids.get("connect"))
        and _connectors_running(state)
    )


def up(progress: Progress = _quiet, catalog: Catalog | None = None, *, secure: bool | None = None) -> StackState:
    """Start the stack (or find it running) and return its state once changes flow.

    ``secure``: Kafka's client listener is SASL_SSL with SCRAM-SHA-512 (``security``); False is plaintext;
    None keeps what the stack folder's last run was, also after ``down`` (plaintext for a new or purged one).
    A running stack of the other kind is stopped and started again as asked.

    Under umask 077: every file it or its servers create (passwords, configs, Kafka's data, logs) is 0600.
    """
    with private_umask():
        return _up(progress, catalog, secure=secure)


def _up(progress: Progress, catalog: Catalog | None, *, secure: bool | None) -> StackState:
    catalog = catalog or load_catalog()
    existing = read_state()
    if existing is not None:
        if secure is None:
            secure = existing.secure
        with contextlib.suppress(StackError):
            if existing.secure == secure and _healthy(existing):
                progress(f"stack already running ({_kind(existing)})")
                return existing
        if existing.secure != secure:
            progress(f"stopping the running stack to start it {'secure' if secure else 'plaintext'}")
        else:
            progress("cleaning up a previous run that is not healthy")
        down(progress)
    _pg_bin()
    _java()
    ensure_jars(progress)
    _stop_leftovers(progress)
    run = stack_dir()
    run.mkdir(parents=True, exist_ok=True)
    make_private(run)  # also what an older run left readable (Kafka's data files)
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
        # Unsaid, a stack folder keeps the kind its Kafka data was formatted for (also after `down`).
        secure=_formatted_secure() if secure is None else secure,
        role_passwords={
            role: secrets.token_urlsafe(18)
            for role in (*SINK_ROLES.values(), RECONCILER_ROLE, FLOW_SOURCE_ROLE, MONITOR_ROLE)
        },
    )
    if state.secure:
        security.ensure_certificates(run)
        state.kafka_config_file = str(security.write_client_properties(run, security.kafka_users(run)))
    pw_file = run / "admin.pw"
    if previous is None:
        state.admin_password = _claim_cluster(Path(state.pg_data), pw_file, progress) or state.admin_password
    write_private(pw_file, state.admin_password)
    _write_state(state)
    try:
        _start_postgres(state, progress)
        _migrate_databases(state, catalog, progress)
        _drop_slots(state)
        _start_kafka(state, progress)
        try:
            with _kafka_settings(state):
                create_topics(state.bootstrap, catalog)
        except ConfigurationError as exc:
            raise StackError(exc.message, hint="check the Kafka log") from None
        _start_connect(state, catalog, progress)
        progress("waiting for a sentinel change to travel database → Debezium → Kafka")
        wait_for_sentinel(state, catalog)
    except BaseException:
        down(progress)
        raise
    progress(f"stack is up ({_kind(state)})")
    return state


def _kind(state: StackState) -> str:
    return "secure: SASL_SSL, SCRAM-SHA-512" if state.secure else "INSECURE: plaintext Kafka, no authentication"


@contextlib.contextmanager
def _kafka_settings(state: StackState) -> Iterator[None]:
    """This process's Kafka clients use the stack's security while the stack sets itself up."""
    saved = os.environ.get(CONFIG_FILE_VAR)
    if state.secure:
        os.environ[CONFIG_FILE_VAR] = state.kafka_config_file
    else:
        os.environ.pop(CONFIG_FILE_VAR, None)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(CONFIG_FILE_VAR, None)
        else:
            os.environ[CONFIG_FILE_VAR] = saved


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
    kafka_running = _alive(state.pids.get("kafka")) and _listening(state.kafka_port)
    return [
        ComponentStatus("postgres", _postgres_running(Path(state.pg_data)), f"127.0.0.1:{state.pg_port}"),
        ComponentStatus("kafka", kafka_running, f"{state.bootstrap} ({_kind(state)})"),
        ComponentStatus(
            "connect", connect_ok, f"http://127.0.0.1:{state.connect_port} ({', '.join(CONNECTOR_NAMES.values())})"
        ),
    ]


@contextlib.contextmanager
def running_stack(progress: Progress = _quiet, *, secure: bool | None = None) -> Iterator[StackState]:
    """A stack for the duration of the block: reuses a running one (secure or not), else starts one (``secure``
    as in ``up``) and purges it after."""
    existing = read_state()
    if existing is not None:
        with contextlib.suppress(StackError):
            if _healthy(existing):
                yield existing
                return
    state = up(progress, secure=secure)
    try:
        yield state
    finally:
        # Nothing outlives a stack the block started: its data would only be found stale later.
        down(progress, purge=True)
