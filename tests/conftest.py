"""Session-wide fixtures: one real stack (PostgreSQL, Kafka, Debezium) per test session.

A running stack (``smartsync stack up``) is reused and left running; otherwise the session
starts a secure one (SASL_SSL, SCRAM-SHA-512: what CI always runs against) and stops it at the end.
Its ``SMARTSYNC_*`` settings, the Kafka properties file included, are in ``os.environ`` for the
session, so subprocesses and every Kafka client built by ``connectors.kafka.config`` reach it.
Integration tests never skip: when the stack cannot start, they fail with the stack's one-line error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from smartsync.core.errors import StackError
from smartsync.devstack import localstack
from smartsync.devstack.localstack import StackState


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests that disturb the shared stack (a broker restart) run after the others, and the main
    # job, which loads data into the shared source tables, runs last.
    def rank(item: pytest.Item) -> int:
        if item.get_closest_marker("main_job"):
            return 2
        return 1 if item.get_closest_marker("disruptive") else 0

    items.sort(key=rank)


@pytest.fixture(scope="session")
def stack() -> Iterator[StackState]:
    try:
        with localstack.running_stack(secure=True) as state:
            saved = {k: os.environ.get(k) for k in state.env()}
            os.environ.update(state.env())
            try:
                yield state
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
    except StackError as exc:
        pytest.fail(f"the local stack could not start: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def warehouse_dsn(stack: StackState) -> str:
    return stack.dsn("smart_warehouse")


@pytest.fixture(scope="session")
def citizen_dsn(stack: StackState) -> str:
    return stack.dsn("smart_citizen")


@pytest.fixture(scope="session")
def kafka_bootstrap(stack: StackState) -> str:
    return stack.bootstrap
