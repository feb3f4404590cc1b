"""Dead letters of the warehouse → citizen direction, sealed at rest with AES-256-GCM.

Their original messages carry unmasked personal data (the masking happens after decoding), and a
dead-letter topic keeps them for weeks. Keys come from ``SMARTSYNC_DEAD_LETTER_KEYS``, a JSON object
of key id to base64 of 32 random bytes; the first key seals, every key opens, so keys rotate by
putting a new one first and dropping the old one once its letters are replayed or expired. The
key id travels in a header; the nonce is the first 12 bytes of the sealed bytes; the associated
data binds a ciphertext to its key id and part (key or value), so parts cannot be swapped.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from smartsync.core.catalog import Direction
from smartsync.core.errors import ConfigurationError, SourceError
from smartsync.core.settings import load_settings

KEYS_VAR = "SMARTSYNC_DEAD_LETTER_KEYS"
H_KEY_ID = "smartsync.sealed.key_id"
SEALED_DIRECTIONS = frozenset({Direction.WAREHOUSE_TO_CITIZEN})
_NONCE = 12
_HINT = (
    f'set {KEYS_VAR} to a JSON object such as {{"2026-11": "<base64 of 32 random bytes>"}} '
    "(`python -c 'import base64, os; print(base64.b64encode(os.urandom(32)).decode())'`)"
)


@dataclass(frozen=True)
class Keyring:
    """Key id → AES-256 key; ``current`` seals."""

    keys: dict[str, bytes] = field(repr=False)
    current: str

    def seal(self, part: str, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        nonce = os.urandom(_NONCE)
        return nonce + AESGCM(self.keys[self.current]).encrypt(nonce, data, _aad(self.current, part))

    def open(self, key_id: str, part: str, data: bytes | None) -> bytes | None:
        if data is None:
            return None
        if key_id not in self.keys:
            msg = f"a dead letter is sealed with key {key_id!r}, which {KEYS_VAR} does not hold"
            raise ConfigurationError(msg, hint="add that key back (after the new one) until its letters are replayed")
        try:
            return AESGCM(self.keys[key_id]).decrypt(data[:_NONCE], data[_NONCE:], _aad(key_id, part))
        except InvalidTag:
            msg = f"a dead letter sealed with key {key_id!r} does not open: altered, or another key under that id"
            raise SourceError(msg, hint="check the key of that id; the letter stays on the topic") from None


def _aad(key_id: str, part: str) -> bytes:
    return f"smartsync-dead-letter:{key_id}:{part}".encode()


def parse_keys(raw: str) -> Keyring:
    """The keyring of ``SMARTSYNC_DEAD_LETTER_KEYS``; errors name the setting and key id, never a key."""
    try:
        entries = json.loads(raw)
    except ValueError:
        entries = None
    if not isinstance(entries, dict) or not entries:
        msg = f"setting {KEYS_VAR}: must be a non-empty JSON object of key id to base64 key"
        raise ConfigurationError(msg, hint=_HINT)
    keys: dict[str, bytes] = {}
    for key_id, encoded in entries.items():
        try:
            key = base64.b64decode(str(encoded), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            msg = f"setting {KEYS_VAR}: key {key_id!r} is not base64 of 32 bytes"
            raise ConfigurationError(msg, hint=_HINT)
        keys[str(key_id)] = key
    return Keyring(keys, next(iter(keys)))


def keyring(raw: str | None = None) -> Keyring | None:
    """The configured keyring (``raw`` or the environment), or None when no key is set."""
    text = load_settings(needs=()).dead_letter_keys.get_secret_value() if raw is None else raw
    return parse_keys(text) if text.strip() else None


def sealer_for(direction: Direction) -> Keyring | None:
    """The keyring a direction's dead letters are sealed with; required where they hold personal data."""
    if direction not in SEALED_DIRECTIONS:
        return None
    ring = keyring()
    if ring is None:
        msg = f"setting {KEYS_VAR}: required: {direction.value} dead letters hold personal data and are sealed"
        raise ConfigurationError(msg, hint=_HINT)
    return ring
