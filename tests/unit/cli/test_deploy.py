"""The Kubernetes manifests, checked by what runs without a cluster: they parse, and every
container runs a command the CLI really has, with options it accepts."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from smartsync.cli.main import app

ROOT = Path(__file__).resolve().parents[3]
MANIFESTS = sorted((ROOT / "deploy" / "kubernetes").glob("*.yaml"))


def _documents() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for path in MANIFESTS:
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d)
    return docs


def _containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    pod = spec.get("template", {}).get("spec", {})
    return list(pod.get("containers", []))


def _parse(args: list[str]) -> int:
    """Resolve ``smartsync ARGS`` with ``--help`` appended: the command and every option name must
    exist (a wrong one exits 2), and nothing runs. Returns the exit code."""
    result = CliRunner().invoke(app, [*args, "--help"])
    if result.exit_code == 0:
        assert f"Usage: smartsync {args[0]} {args[1]} " in " ".join(result.output.split())
    return result.exit_code


def test_manifests_exist_and_parse() -> None:
    kinds = {d["kind"] for d in _documents()}
    assert {"Namespace", "StatefulSet", "Deployment", "Service"} <= kinds


def test_every_container_runs_a_real_command_of_this_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    containers = [c for d in _documents() for c in _containers(d)]
    assert containers
    for container in containers:
        assert container["image"] == f"smartsync:{version}"
        assert _parse(container["args"]) == 0, container["args"]


def test_both_directions_keep_their_recovery_on_a_volume() -> None:
    flows = [d for d in _documents() if d["kind"] == "StatefulSet"]
    assert {tuple(c["args"][:3]) for d in flows for c in _containers(d)} == {
        ("flow", "run", "warehouse_to_citizen"),
        ("flow", "run", "citizen_to_warehouse"),
    }
    for doc in flows:
        (container,) = _containers(doc)
        env = {e["name"]: e.get("value") for e in container["env"]}
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert env["SMARTSYNC_RECOVERY_DIR"] in mounts


def test_one_scheduler_runs_the_batch_jobs() -> None:
    (scheduler,) = [d for d in _documents() if d["metadata"]["name"] == "smartsync-scheduler"]
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"]["type"] == "Recreate"
    (container,) = _containers(scheduler)
    assert container["args"][:2] == ["scheduler", "run"]


def test_a_bad_invocation_is_caught() -> None:
    assert _parse(["flow", "run", "warehouse_to_citizen", "--no-such-option"]) == 2
    assert _parse(["flow", "walk", "warehouse_to_citizen"]) == 2
