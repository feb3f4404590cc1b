"""The processes and ports of the stack: spawn, signal, wait for, and pick free loopback ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from smartsync.core.errors import StackError


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
