"""Every test under tests/integration runs against the real stack (never skipped)."""

from __future__ import annotations

import pytest

from smartsync.devstack.localstack import StackState


@pytest.fixture(autouse=True)
def _needs_stack(stack: StackState) -> StackState:
    return stack
