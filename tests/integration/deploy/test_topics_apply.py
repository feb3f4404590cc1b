"""``smartsync kafka topics apply`` against the local single-broker stack (replication factor 1 there)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from connectors.kafka.topics import wanted_topics
from smartsync.cli.main import app
from smartsync.core.catalog import load_catalog
from smartsync.devstack.localstack import StackState


def _apply(stack: StackState, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["kafka", "topics", "apply", *args], env=stack.env())
    return result.exit_code, result.output


def test_dry_run_plans_every_catalog_topic_and_changes_nothing(stack: StackState) -> None:
    code, output = _apply(stack, "--replication-factor", "1", "--min-insync-replicas", "1", "--dry-run", "--json")
    assert code == 0, output
    plan = json.loads(output)
    assert plan["applied"] is False
    actions = {a["topic"]: a for a in plan["actions"]}
    assert set(actions) == set(wanted_topics(load_catalog()))
    # `stack up` created them all with at least the catalog's partitions.
    assert all(a["action"] in {"unchanged", "configure"} for a in actions.values())
    assert all(a["current_partitions"] >= a["partitions"] for a in actions.values())


def test_apply_is_idempotent(stack: StackState) -> None:
    for _ in range(2):
        code, output = _apply(stack, "--replication-factor", "1", "--min-insync-replicas", "1", "--json")
        assert code == 0, output
    plan = json.loads(output)
    assert plan["applied"] is True
    assert {a["action"] for a in plan["actions"]} == {"unchanged"}


def test_more_replicas_than_brokers_is_a_warning_in_the_plan(stack: StackState) -> None:
    code, output = _apply(stack, "--replication-factor", "3", "--min-insync-replicas", "2", "--dry-run")
    assert code == 0, output
    assert "has 1 replicas, 3 asked for: reassign its partitions" in " ".join(output.split())


def test_min_insync_above_the_replication_factor_is_refused(stack: StackState) -> None:
    code, output = _apply(stack, "--replication-factor", "1", "--min-insync-replicas", "2", "--dry-run")
    assert code == 1
    assert "min.insync.replicas 2 must be between 1 and the replication factor 1" in " ".join(output.split())
