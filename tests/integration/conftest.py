"""Every test under tests/integration runs against the real stack (never skipped)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from smartsync.devstack.localstack import StackState


@pytest.fixture(autouse=True)
def _needs_stack(stack: StackState) -> StackState:
    return stack


@pytest.fixture
def wconn(warehouse_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit session on the warehouse (the source of warehouse_to_citizen)."""
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture
def cconn(citizen_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit session on the citizen portal."""
    with psycopg.connect(citizen_dsn, autocommit=True) as conn:
        yield conn
