"""Every container of the rendered deployment runs a command the CLI really has, with options it accepts.

The flows' ``--process-id``/``--addresses`` and ``smartsync monitor`` are written to the interface
the multi-host flow runner and the monitor will have; until they land, the test of those few
invocations is an expected failure (not strict), and every other invocation must parse.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from typing import Any

import yaml
from typer.testing import CliRunner

from smartsync.cli.deploy import ROOT, rendered
from smartsync.cli.main import app


def _invocations() -> list[list[str]]:
    found: list[list[str]] = []
    for rel, text in rendered().items():
        if rel.suffix != ".yaml":
            continue
        for doc in yaml.safe_load_all(text):
            if rel.parts[0] == "kubernetes" and doc.get("kind") in {"StatefulSet", "Deployment", "Job"}:
                pod = doc["spec"]["template"]["spec"]
                found += [c["args"] for c in [*pod.get("initContainers", []), *pod["containers"]]]
            if rel.name == "compose.yaml":
                found += [c for s in doc["services"].values() if "build" in s for c in _compose_commands(s)]
    return found


def _compose_commands(service: dict[str, Any]) -> list[list[str]]:
    """A SmartSync service's invocations: its ``command``, or each ``smartsync ...`` of its ``sh -c`` entrypoint."""
    if "entrypoint" not in service:
        return [service["command"]]
    shell, flag, script = service["entrypoint"]
    assert (shell, flag) == ("sh", "-c")
    commands = [shlex.split(part) for part in script.split(" && ")]
    assert all(c[0] == "smartsync" for c in commands), script
    return [c[1:] for c in commands]


def _parse(args: list[str]) -> int:
    """Resolve ``smartsync ARGS --help``: the command and every option must exist (else exit 2); nothing runs."""
    concrete = [re.sub(r"\$\((\w+)\)", "0", a) for a in args]
    result = CliRunner().invoke(app, [*concrete, "--help"])
    return result.exit_code


def test_images_are_this_version() -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    images: set[Any] = set()
    for rel, text in rendered().items():
        if rel.parts[0] == "kubernetes" and rel.suffix == ".yaml":
            images |= set(re.findall(r"image: (\S+)", text))
    assert images == {f"smartsync:{version}"}


def test_every_container_command_parses() -> None:
    invocations = _invocations()
    assert len(invocations) >= 10
    assert any("--process-id" in a for a in invocations)  # the flows run one Bytewax process per pod
    assert any("monitor" in a for a in invocations)
    assert ["db", "roles"] in invocations  # the migration Job and compose's migrate set the roles after migrating
    for args in invocations:
        assert _parse(args) == 0, args


def test_a_bad_invocation_is_caught() -> None:
    assert _parse(["flow", "run", "warehouse_to_citizen", "--no-such-option"]) == 2
    assert _parse(["flow", "walk", "warehouse_to_citizen"]) == 2


def test_render_and_topics_commands_exist() -> None:
    assert _parse(["deploy", "render", "--out", "x"]) == 0
    assert _parse(["kafka", "topics", "apply", "--replication-factor", "3", "--dry-run", "--json"]) == 0
