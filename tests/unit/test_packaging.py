"""What can be checked of the image and packaging without a container engine."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dockerfile_copies_only_what_exists_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(.+?) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    assert re.search(r"^USER (?!root)\w+", text, flags=re.MULTILINE)
    assert "FROM python:3.11" in text


def test_bytewax_is_pinned_exactly_and_every_package_is_shipped() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = project["project"]["dependencies"]
    assert "bytewax==0.21.1" in deps
    assert all("==" in dep for dep in deps), "dependencies are pinned"
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in ("smartsync", "dataflows", "connectors", "masking", "reconcile"):
        assert f"{package}*" in include
        assert (ROOT / package / "__init__.py").exists()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert ci.strip().splitlines()[-1] == "make test"
