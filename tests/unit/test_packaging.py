"""What can be checked of the image, the locks and the packaging without a container engine."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"smartsync", "dataflows", "connectors", "masking", "reconcile"}
LOCKS = ROOT / "requirements"


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[; ]", requirement, maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def _locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes) of a `uv pip compile --generate-hashes` file."""
    entries: dict[str, tuple[str, list[str]]] = {}
    text = path.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line)
        assert match, f"{path.name}: not pinned exactly: {line.split()[0]}"
        entries[_name(match[1])] = (match[2], re.findall(r"--hash=sha256:[0-9a-f]{64}", line))
    return entries


def test_dockerfile_copies_only_what_exists_and_runs_unprivileged() -> None:
    text = (ROOT / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (?!--from)(.+?) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies missing {path}"
    assert re.search(r"^USER (?!root)\w+", text, flags=re.MULTILINE)
    bases = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert len(bases) == 2, "a build stage and a runtime stage"
    assert len(set(bases)) == 1, "both stages use one base image"
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", bases[0]), "an exact patch release"


def test_dockerfile_installs_the_runtime_lock_and_no_dev_tooling() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes -r requirements/runtime.txt" in text
    installs = [line for line in text.replace("\\\n", " ").splitlines() if "pip install" in line]
    for line in installs:
        for command in line.split("&&"):
            if "pip install" not in command:
                continue
            # Either a hash-checked lock, or the project's own wheel without its dependencies.
            assert "--require-hashes" in command or "--no-deps" in command, command
    assert "requirements/dev.txt" not in text
    assert not re.search(r"\.\[\w", text), "no extras (test, lint, bench, dev) in the image"
    assert not re.search(r"^COPY (\.|tests|bench)\b", text, flags=re.MULTILINE)


def test_bytewax_is_pinned_exactly_and_every_package_is_shipped() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    deps = project["project"]["dependencies"]
    assert "bytewax==0.21.1" in deps
    assert all("==" in dep for dep in deps), "dependencies are pinned"
    include = project["tool"]["setuptools"]["packages"]["find"]["include"]
    for package in PACKAGES:
        assert f"{package}*" in include
        assert (ROOT / package / "__init__.py").exists()


def test_locks_pin_every_package_with_hashes_and_agree_with_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    runtime, dev, build = (_locked(LOCKS / f"{name}.txt") for name in ("runtime", "dev", "build"))
    for lock_name, lock in (("runtime", runtime), ("dev", dev), ("build", build)):
        assert lock, lock_name
        unhashed = sorted(name for name, (_, hashes) in lock.items() if not hashes)
        assert not unhashed, f"requirements/{lock_name}.txt has packages without hashes: {unhashed}"
    stale = "run `make lock` and commit requirements/"
    for dep in project["dependencies"]:
        name, version = _name(dep), dep.split("==")[1]
        assert runtime.get(name, ("?",))[0] == version, f"runtime.txt lacks {dep}: {stale}"
    for extra, deps in project["optional-dependencies"].items():
        for dep in deps:
            name, version = _name(dep), dep.split("==")[1]
            assert dev.get(name, ("?",))[0] == version, f"dev.txt lacks {dep} (extra {extra}): {stale}"
    # The venv tests the very versions the image ships.
    differ = {name: (version, dev.get(name, ("-",))[0]) for name, (version, _) in runtime.items()}
    differ = {name: pair for name, pair in differ.items() if pair[0] != pair[1]}
    assert not differ, f"runtime.txt and dev.txt disagree: {differ}"
    assert {"pip", "setuptools"} <= build.keys()


def test_the_wheel_holds_exactly_the_five_packages(tmp_path: Path) -> None:
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".stack", ".smartsync", "build", "dist", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    out = tmp_path / "wheels"
    build = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out)]
    done = subprocess.run([*build, str(source)], capture_output=True, text=True, check=False)  # noqa: S603 (our own interpreter)
    assert done.returncode == 0, f"the wheel does not build (setuptools from requirements/build.txt?): {done.stderr}"
    (wheel,) = out.glob("smartsync-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names if not name.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == PACKAGES, f"wheel top level: {sorted(top)}"
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "smartsync = smartsync.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme
    assert ci.strip().splitlines()[-1] == "make test"
    assert "set -euo pipefail" in ci


def test_make_test_fails_when_pytest_fails_or_collects_nothing() -> None:
    """pytest exits 5 when it collects no test; nothing in the Makefile may swallow that."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, flags=re.MULTILINE)
    assert recipe
    lines = recipe[1].splitlines()
    assert any("pytest" in line and " tests" in line for line in lines)
    for line in lines:
        assert not line.lstrip().startswith("\t-") and not line.startswith("\t-"), line
        assert "|| true" not in line and "; true" not in line, line
