"""Where a stack lives and what it is: its folder, and the ports, secrets and pids kept in ``state.json``."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from connectors.kafka.config import security_properties
from smartsync.core.errors import StackError
from smartsync.core.files import write_private
from smartsync.core.roles import FLOW_SOURCE_ROLE, MONITOR_ROLE, RECONCILER_ROLE, SINK_ROLES
from smartsync.core.tables import Database

REPO = Path(__file__).resolve().parents[3]
ADMIN_USER = "smartsync"
LOCAL_CALLER = "local-dev"

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
    # A secure stack's broker accepts SASL_SSL (SCRAM-SHA-512) clients only; its clients' librdkafka
    # properties are in ``kafka_config_file`` (0600). Kept here so restarts and ``running_stack`` stay secure.
    secure: bool = False
    kafka_config_file: str = ""
    # Passwords of the least-privilege roles (smartsync/core/roles.py) the stack creates for its flows' sinks, their
    # source-side checks, the batch path and the monitor; ``env`` hands each component its own DSN, so they run as in
    # production, not as the owner.
    role_passwords: dict[str, str] = field(default_factory=dict)

    def dsn(self, database: Database | str) -> str:
        return f"postgresql://{ADMIN_USER}:{self.admin_password}@127.0.0.1:{self.pg_port}/{database}?connect_timeout=5"

    def role_dsn(self, role: str, database: Database | str) -> str:
        """A DSN that logs in as one of the component roles (``role_passwords``)."""
        password = self.role_passwords[role]
        return f"postgresql://{role}:{password}@127.0.0.1:{self.pg_port}/{database}?connect_timeout=5"

    def component_env(self) -> dict[str, str]:
        """Each component's own DSN (its least-privilege role), and the password ``db roles`` gives the CDC role."""
        if not self.role_passwords:
            return {}
        return {
            "SMARTSYNC_SINK_CITIZEN_DSN": self.role_dsn(SINK_ROLES[Database.CITIZEN], Database.CITIZEN),
            "SMARTSYNC_SINK_WAREHOUSE_DSN": self.role_dsn(SINK_ROLES[Database.WAREHOUSE], Database.WAREHOUSE),
            # A stack started before a role existed has no password for it: that component keeps the owner.
            **self._both_dsns("FLOW_SOURCE", FLOW_SOURCE_ROLE),
            **self._both_dsns("MONITOR", MONITOR_ROLE),
            "SMARTSYNC_RECONCILER_WAREHOUSE_DSN": self.role_dsn(RECONCILER_ROLE, Database.WAREHOUSE),
            "SMARTSYNC_RECONCILER_CITIZEN_DSN": self.role_dsn(RECONCILER_ROLE, Database.CITIZEN),
            "SMARTSYNC_CDC_PASSWORD": self.cdc_password,
        }

    def _both_dsns(self, component: str, role: str) -> dict[str, str]:
        """``SMARTSYNC_<COMPONENT>_<DATABASE>_DSN`` of a role that works in both databases, when it has a password."""
        if role not in self.role_passwords:
            return {}
        return {f"SMARTSYNC_{component}_{db.name}_DSN": self.role_dsn(role, db) for db in Database}

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def callback_token(self) -> str:
        """The local callers' bearer token, derived from the stack's own secret (local stack only)."""
        return hashlib.sha256(f"smartsync-callbacks:{self.admin_password}".encode()).hexdigest()

    @property
    def dead_letter_key(self) -> str:
        """The local stack's dead-letter key (base64 of 32 bytes), derived from its own secret."""
        return base64.b64encode(
            hashlib.sha256(f"smartsync-dead-letters:{self.admin_password}".encode()).digest()
        ).decode()

    def kafka_security(self) -> dict[str, str]:
        """The librdkafka security properties of this stack's clients (empty for a plaintext stack)."""
        if not self.secure:
            return {}
        if not Path(self.kafka_config_file).is_file():
            msg = f"the secure stack's Kafka properties file {self.kafka_config_file} is missing"
            raise StackError(msg, hint="run `smartsync stack down`, then `smartsync stack up --secure`")
        return security_properties(self.kafka_config_file)

    def env(self) -> dict[str, str]:
        """The ``SMARTSYNC_*`` settings that point SmartSync at this stack (secrets included: never print them)."""
        security = {"SMARTSYNC_KAFKA_CONFIG_FILE": self.kafka_config_file} if self.secure else {}
        return {
            "SMARTSYNC_WAREHOUSE_DSN": self.dsn(Database.WAREHOUSE),
            "SMARTSYNC_CITIZEN_DSN": self.dsn(Database.CITIZEN),
            "SMARTSYNC_KAFKA_BOOTSTRAP": self.bootstrap,
            "SMARTSYNC_CONNECT_URL": f"http://127.0.0.1:{self.connect_port}",
            "SMARTSYNC_CALLBACK_TOKENS": json.dumps({LOCAL_CALLER: self.callback_token}),
            "SMARTSYNC_DEAD_LETTER_KEYS": json.dumps({"local-1": self.dead_letter_key}),
            **self.component_env(),
            **security,
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
    write_private(_state_path(), json.dumps(asdict(state), indent=2))
