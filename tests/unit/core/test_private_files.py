"""Files that may hold data or secrets are 0600 from the moment they exist."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

from reconcile.model import Report
from reconcile.render import write_report
from smartsync.core.files import make_private, private_umask, write_private


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_write_private_is_0600_under_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        target = tmp_path / "deep" / "secret.txt"
        write_private(target, "pw")
        assert _mode(target) == 0o600
        target.chmod(0o644)
        write_private(target, b"again")  # an existing readable file is replaced by a private one
        assert _mode(target) == 0o600
        assert target.read_bytes() == b"again"
    finally:
        os.umask(old)


def test_a_written_report_is_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "report.md"
        write_report(Report("daily", datetime.now(UTC), ()), path)
        assert _mode(path) == 0o600
    finally:
        os.umask(old)


def test_files_made_in_a_private_umask_and_old_trees_are_private(tmp_path: Path) -> None:
    with private_umask():
        (tmp_path / "made").write_text("x")
    assert _mode(tmp_path / "made") == 0o600
    old = tmp_path / "kafka-data" / "topic-0"
    old.mkdir(parents=True)
    (old / "0.log").write_text("pii")
    (old / "0.log").chmod(0o644)
    old.chmod(0o755)
    make_private(tmp_path)
    assert _mode(old / "0.log") == 0o600
    assert _mode(old) == 0o700
