"""Unit tests need nothing running and read no environment.

The session's stack fixture exports the stack's settings (``SMARTSYNC_*``) for the integration
tests, which run first in one session; a unit test sees none of them, as under ``make unit``.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_smartsync_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("SMARTSYNC_")]:
        monkeypatch.delenv(name)
