"""Who may post callbacks, how often, and which records they may not move: pure logic, no HTTP.

Callers are named in ``SMARTSYNC_CALLBACK_TOKENS``, a JSON object of caller id to bearer token, or
to ``{"token": ..., "kinds": [sync, ...]}`` to limit a caller to its kinds of callback. Only
SHA-256 digests of the tokens are kept; a presented token is compared with every caller's digest
in constant time, so neither the answer nor its timing says which caller or how much matched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from smartsync.core.errors import ConfigurationError

TOKENS_VAR = "SMARTSYNC_CALLBACK_TOKENS"
MIN_TOKEN_CHARS = 24
_HINT = (
    f'set {TOKENS_VAR} to a JSON object such as {{"forecast-service": "<random token>"}} '
    "(`python -c 'import secrets; print(secrets.token_urlsafe(32))'` makes one), "
    "or pass --no-auth for a local demo"
)


@dataclass(frozen=True)
class Caller:
    name: str
    digest: bytes = field(repr=False)
    kinds: frozenset[str] | None = None  # None: every kind of callback

    def may_post(self, sync: str) -> bool:
        return self.kinds is None or sync in self.kinds


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _problem(text: str) -> ConfigurationError:
    # Never echo the value: it holds the tokens.
    return ConfigurationError(f"setting {TOKENS_VAR}: {text}", hint=_HINT)


def parse_callers(raw: str, known_kinds: Iterable[str]) -> tuple[Caller, ...]:
    """The callers of ``SMARTSYNC_CALLBACK_TOKENS``; fails naming the setting (never its value)."""
    known = frozenset(known_kinds)
    if not raw.strip():
        msg = "not set; the callback service refuses to start without credentials"
        raise _problem(msg)
    try:
        entries = json.loads(raw)
    except ValueError:
        msg = "not valid JSON"
        raise _problem(msg) from None
    if not isinstance(entries, dict) or not entries:
        msg = "must be a non-empty JSON object of caller id to token"
        raise _problem(msg)
    callers: list[Caller] = []
    seen: set[bytes] = set()
    for name, entry in entries.items():
        token, kinds = (entry, None) if isinstance(entry, str) else _rich_entry(name, entry, known)
        if len(token) < MIN_TOKEN_CHARS:
            msg = f"caller {name!r}: the token must have at least {MIN_TOKEN_CHARS} characters"
            raise _problem(msg)
        digest = _digest(token)
        if digest in seen:
            msg = f"caller {name!r}: shares its token with another caller; give each caller its own"
            raise _problem(msg)
        seen.add(digest)
        callers.append(Caller(name, digest, kinds))
    return tuple(callers)


def _rich_entry(name: str, entry: object, known: frozenset[str]) -> tuple[str, frozenset[str]]:
    if not isinstance(entry, dict) or not isinstance(entry.get("token"), str) or set(entry) - {"token", "kinds"}:
        msg = f'caller {name!r}: expected a token string or {{"token": "...", "kinds": [...]}}'
        raise _problem(msg)
    kinds = entry.get("kinds", sorted(known))
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        msg = f"caller {name!r}: kinds must be a non-empty list of callback syncs"
        raise _problem(msg)
    unknown = sorted(set(kinds) - known)
    if unknown:
        msg = f"caller {name!r}: unknown kinds {unknown}; known: {sorted(known)}"
        raise _problem(msg)
    return entry["token"], frozenset(kinds)


class Authenticator:
    """Bearer token → caller, in time that does not depend on which caller (or none) matched."""

    def __init__(self, callers: Iterable[Caller]) -> None:
        self.callers = tuple(callers)

    def identify(self, authorization: str | None) -> Caller | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        presented = _digest(token.strip())
        found: Caller | None = None
        for caller in self.callers:  # no early exit: every digest is compared
            if hmac.compare_digest(presented, caller.digest):
                found = caller
        return found


class RateLimiter:
    """A token bucket per caller: ``rate`` callbacks a second, up to ``burst`` at once."""

    def __init__(self, rate_per_s: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.burst = float(burst)
        self._now = clock
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, caller: str, n: int = 1) -> float:
        """0 when ``n`` callbacks may go now; otherwise the seconds to wait (nothing is taken)."""
        now = self._now()
        level, since = self._buckets.get(caller, (self.burst, now))
        level = min(self.burst, level + (now - since) * self.rate)
        if n <= level:
            self._buckets[caller] = (level - n, now)
            return 0.0
        self._buckets[caller] = (level, now)
        return (min(n, self.burst) - level) / self.rate


class OwnerMemory:
    """The citizen of each record id this process accepted, bounded (oldest forgotten first).

    The service holds no database connection, so this catches a citizen change among what it has
    seen; the portal's trigger (``smartsync/core/schema.py``) refuses every other one.
    """

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._owners: OrderedDict[tuple[str, str], int] = OrderedDict()

    def conflict(self, sync: str, records: Iterable[tuple[str, int]]) -> str | None:
        """A record among ``records`` (id, citizen) that another citizen already owns, or None."""
        batch: dict[str, int] = {}
        for record_id, citizen in records:
            owner = batch.get(record_id, self._owners.get((sync, record_id), citizen))
            if owner != citizen:
                return record_id
            batch[record_id] = citizen
        return None

    def remember(self, sync: str, records: Iterable[tuple[str, int]]) -> None:
        for record_id, citizen in records:
            self._owners[(sync, record_id)] = citizen
            self._owners.move_to_end((sync, record_id))
        while len(self._owners) > self.capacity:
            self._owners.popitem(last=False)
