"""A bad environment is one line that says what to do, found before anything starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from smartsync.core.errors import StackError
from smartsync.devstack.localstack import java, kafka, postgres, processes


def test_missing_java_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="java not found") as info:
        java._java()
    assert info.value.hint == "apt-get install -y openjdk-17-jre-headless"


def test_missing_postgres_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(postgres, "PG_BIN_CANDIDATES", (tmp_path,))
    with pytest.raises(StackError, match="PostgreSQL 15 server binaries not found") as info:
        postgres._pg_bin()
    assert "apt-get install -y postgresql-15" in str(info.value)


def test_missing_maven_names_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(java, "LIB", tmp_path / "lib")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(StackError, match="mvn not found"):
        java.ensure_jars()


def test_maven_failure_points_at_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A pom that asks for an artifact no repository has: Maven fails as it would offline.
    pom = tmp_path / "pom.xml"
    pom.write_text(
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>t</groupId><artifactId>t</artifactId><version>1</version>"
        "<dependencies><dependency><groupId>smartsync.invalid</groupId><artifactId>none</artifactId>"
        "<version>0</version></dependency></dependencies></project>"
    )
    monkeypatch.setattr(java, "LIB", tmp_path / "lib")
    monkeypatch.setattr(java, "POM", pom)
    monkeypatch.setenv("MAVEN_OPTS", "-Dmaven.repo.local=" + str(tmp_path / "m2"))
    monkeypatch.setenv("MAVEN_ARGS", "--offline")
    with pytest.raises(StackError, match="Maven could not fetch the stack's jars") as info:
        java.ensure_jars()
    assert "Maven Central" in str(info.value)
    assert not (tmp_path / "lib" / ".complete").exists()


def test_a_taken_port_is_refused_before_anything_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        monkeypatch.setenv("SMARTSYNC_STACK_PG_PORT", str(port))
        with pytest.raises(StackError, match=f"port {port} \\(SMARTSYNC_STACK_PG_PORT\\) is already taken"):
            processes._choose_port("SMARTSYNC_STACK_PG_PORT")


def test_a_port_that_is_not_a_number_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMARTSYNC_STACK_KAFKA_PORT", "ninety")
    with pytest.raises(StackError, match="is not a port number"):
        processes._choose_port("SMARTSYNC_STACK_KAFKA_PORT")


def test_cluster_ids_never_look_like_an_option() -> None:
    ids = {kafka._cluster_id() for _ in range(5000)}
    assert len(ids) == 5000
    assert all(len(cid) == 22 and not cid.startswith("-") for cid in ids)
