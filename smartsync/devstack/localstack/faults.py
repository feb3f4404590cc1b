"""Faults on a running stack: the broker or Kafka Connect killed without warning, then started again.

The flow tests and the chaos suite (tests/integration/chaos) drive the stack through these, so they
never depend on how a part is started (its listeners, security, command line): that stays in
``kafka``. Each restart returns once the part serves again; ``wait_for_sentinel`` then proves that
change events flow end to end.
"""

from __future__ import annotations

import signal
import time
from typing import Literal

from smartsync.core.catalog import Catalog
from smartsync.core.errors import StackError
from smartsync.devstack.localstack.kafka import _start_connect, _start_kafka
from smartsync.devstack.localstack.processes import _alive, _signal
from smartsync.devstack.localstack.state import Progress, StackState, _quiet, read_state

Part = Literal["kafka", "connect"]


def current_state() -> StackState:
    """The running stack's state (ports, pids) as ``state.json`` has it now."""
    state = read_state()
    if state is None:
        msg = "no local stack state found"
        raise StackError(msg, hint="run `smartsync stack up` first")
    return state


def kill(part: Part, timeout: float = 20.0) -> StackState:
    """SIGKILL one part (its whole process group: no clean shutdown) and wait until it is gone."""
    state = current_state()
    pid = state.pids.get(part)
    if pid is None or not _alive(pid):
        msg = f"the stack's {part} is not running"
        raise StackError(msg, hint="run `smartsync stack up` first")
    _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            msg = f"the stack's {part} (pid {pid}) survived SIGKILL for {timeout:.0f}s"
            raise StackError(msg, hint="see `smartsync stack status`")
        time.sleep(0.1)
    return state


def restart_kafka(progress: Progress = _quiet) -> StackState:
    """Start the broker again on its ports and data (a no-op while it runs); returns the updated state."""
    state = current_state()
    _start_kafka(state, progress)
    return state


def restart_connect(catalog: Catalog, progress: Progress = _quiet) -> StackState:
    """Start Kafka Connect with the Debezium connectors again (a no-op while they run); returns the updated state."""
    state = current_state()
    _start_connect(state, catalog, progress)
    return state
