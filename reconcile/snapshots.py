"""Kept snapshots: each side of a comparison as Parquet, pruned by age, and diffed over time.

A comparison (``reconcile.engine.compare_pair``) hands its two loaded DuckDB tables to
``Keeper``, which writes one Parquet file per side under
``SMARTSYNC_SNAPSHOT_DIR/<sync>/<taken>/`` (files 0600, folders 0700) with a ``meta.json``
naming what the columns are. A snapshot holds the scan key (the key itself for one integer
key column, else a 64-bit hash of the key values), the row hash or one hash per clear column,
and the masked forms of masked columns: never a clear personal value.

``changes`` diffs two snapshots of the same side with DuckDB, reading only the files: which
keys were inserted, deleted or changed, and in which columns (clear columns when both
snapshots carry column hashes, masked columns always). ``prune`` drops snapshots older than the
retention; those taken as evidence (the weekly reconciliation, ``evidence()``) are kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from reconcile.model import PairSpec
from reconcile.store import SIDES, DiffStore, column_names
from smartsync.core.errors import ReconcileError
from smartsync.core.settings import Settings

META = "meta.json"
_EVIDENCE: contextvars.ContextVar[str | None] = contextvars.ContextVar("snapshot_evidence", default=None)


@contextlib.contextmanager
def evidence(reason: str) -> Iterator[None]:
    """Snapshots taken inside are kept past the retention (the weekly reconciliation's evidence)."""
    token = _EVIDENCE.set(reason)
    try:
        yield
    finally:
        _EVIDENCE.reset(token)


def safe_name(name: str) -> str:
    """A sync or pair name as one folder name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "pair"


@dataclass(frozen=True)
class SnapshotPolicy:
    root: Path
    retention_days: int = 14

    @classmethod
    def of(cls, settings: Settings) -> SnapshotPolicy:
        return cls(settings.snapshot_dir, settings.snapshot_retention_days)


@dataclass(frozen=True)
class Snapshot:
    """One kept comparison: its folder, when it was taken, and what its columns are."""

    path: Path
    taken_at: datetime
    meta: dict[str, Any]

    @property
    def run(self) -> str:
        return self.path.name

    def file(self, side: str) -> Path:
        return self.path / f"{side}.parquet"


class Keeper:
    """Writes both sides of a comparison as Parquet (the engine's ``on_sides``), then prunes."""

    def __init__(self, policy: SnapshotPolicy, spec: PairSpec, *, now: datetime | None = None) -> None:
        self.policy, self.spec = policy, spec
        self.now = now or datetime.now(UTC)
        self.kept: Snapshot | None = None

    def __call__(self, store: DiffStore) -> None:
        folder = self.policy.root / safe_name(self.spec.name)
        _private_dir(folder)
        stamp = self.now.strftime("%Y%m%dT%H%M%S.%fZ")
        path = folder / stamp
        _private_dir(path)
        for side in SIDES:
            target = path / f"{side}.parquet"
            store.export(side, target)
            target.chmod(0o600)
        meta = {
            "sync": self.spec.name,
            "taken_at": self.now.isoformat(),
            "key": list(self.spec.key),
            "integer_key": self.spec.integer_key,
            "columns": dict(column_names(self.spec, per_column=store.per_column)),
            "row_hash_only": not store.per_column,
            "evidence": _EVIDENCE.get(),
        }
        _write_private(path / META, json.dumps(meta, indent=1))
        self.kept = Snapshot(path, self.now, meta)
        prune(self.policy, self.spec.name, now=self.now)


def _private_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.chmod(0o700)


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def snapshots_of(policy: SnapshotPolicy, name: str) -> list[Snapshot]:
    """The kept snapshots of ``name``, oldest first (unreadable folders are skipped)."""
    folder = policy.root / safe_name(name)
    found: list[Snapshot] = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        try:
            meta = json.loads((path / META).read_text())
            found.append(Snapshot(path, datetime.fromisoformat(meta["taken_at"]), meta))
        except (OSError, ValueError, KeyError):
            continue
    return sorted(found, key=lambda s: s.taken_at)


def prune(policy: SnapshotPolicy, name: str, *, now: datetime) -> list[Path]:
    """Drop ``name``'s snapshots older than the retention, except evidence and the newest one."""
    cutoff = now - timedelta(days=policy.retention_days)
    kept = snapshots_of(policy, name)
    dropped = [s.path for s in kept[:-1] if s.taken_at < cutoff and not s.meta.get("evidence")]
    for path in dropped:
        shutil.rmtree(path, ignore_errors=True)
    return dropped


def pick_since(snaps: list[Snapshot], since: str) -> Snapshot:
    """The snapshot named ``since`` (its run folder), or the newest taken at or before the time ``since``."""
    for snap in snaps:
        if snap.run == since:
            return snap
    try:
        when = datetime.fromisoformat(since)
    except ValueError:
        msg = f"no kept snapshot {since!r}, and it is not a time"
        raise ReconcileError(msg, hint="give a run from `smartsync reconcile changes --list` or an ISO time") from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    before = [s for s in snaps if s.taken_at <= when]
    if not before:
        msg = f"no snapshot was kept at or before {when.isoformat()}"
        raise ReconcileError(msg, hint="list the kept snapshots with `smartsync reconcile changes --list`")
    return before[-1]


@dataclass(frozen=True)
class Changes:
    """How one side changed between two snapshots (keys are scan keys: see the module docstring)."""

    sync: str
    side: str
    since: str
    until: str
    inserted: list[int]
    deleted: list[int]
    changed: dict[int, list[str]]  # key → changed columns ("*" when only the row hash says so)
    by_column: dict[str, int]
    key_is_hashed: bool

    def as_json(self, limit: int) -> dict[str, Any]:
        return {
            "sync": self.sync,
            "side": self.side,
            "since": self.since,
            "until": self.until,
            "key_is_hashed": self.key_is_hashed,
            "inserted": len(self.inserted),
            "deleted": len(self.deleted),
            "changed": len(self.changed),
            "changed_by_column": self.by_column,
            "inserted_keys": self.inserted[:limit],
            "deleted_keys": self.deleted[:limit],
            "changed_keys": {str(k): v for k, v in list(self.changed.items())[:limit]},
        }


def changes(old: Snapshot, new: Snapshot, side: str, *, memory_limit: str = "512MB") -> Changes:
    """Diff ``side`` between two kept snapshots with DuckDB, from the files alone."""
    a, b = old.file(side), new.file(side)
    for path in (a, b):
        if not path.is_file():
            msg = f"the snapshot {path.parent.name} has no {side} file"
            raise ReconcileError(msg, hint="pick another run with --since")
    db = duckdb.connect(":memory:", config={"memory_limit": memory_limit, "threads": 2})
    try:
        db.execute("SET preserve_insertion_order = false")
        names_a, names_b = old.meta.get("columns", {}), new.meta.get("columns", {})
        shared = [col for col, name in names_b.items() if names_a.get(col) == name]
        compared = [*shared, *([] if "h" in shared else ["h"])] if _has_row_hash(db, a, b) else shared
        keys = db.execute(
            "SELECT coalesce(n.k, o.k), o.k IS NULL, n.k IS NULL, "
            + ", ".join([f"o.{c} IS DISTINCT FROM n.{c}" for c in compared] or ["false"])
            + f" FROM read_parquet('{_lit(a)}') o FULL OUTER JOIN read_parquet('{_lit(b)}') n ON o.k = n.k"
            + " WHERE o.k IS NULL OR n.k IS NULL OR "
            + " OR ".join([f"o.{c} IS DISTINCT FROM n.{c}" for c in compared] or ["false"])
            + " ORDER BY 1"
        ).fetchall()
    finally:
        db.close()
    inserted, deleted, changed = [], [], {}
    by_column: dict[str, int] = {}
    for row in keys:
        key, is_new, is_gone, flags = int(row[0]), row[1], row[2], row[3:]
        if is_new:
            inserted.append(key)
        elif is_gone:
            deleted.append(key)
        else:
            # "*": the row hash of the clear columns differs, and no column hashes say which.
            cols = sorted({names_b.get(c, "*") for c, hit in zip(compared, flags, strict=True) if hit})
            changed[key] = cols
            for c in cols:
                by_column[c] = by_column.get(c, 0) + 1
    return Changes(
        sync=new.meta.get("sync", ""),
        side=side,
        since=old.run,
        until=new.run,
        inserted=inserted,
        deleted=deleted,
        changed=changed,
        by_column=dict(sorted(by_column.items())),
        key_is_hashed=not new.meta.get("integer_key", False),
    )


def _has_row_hash(db: duckdb.DuckDBPyConnection, a: Path, b: Path) -> bool:
    cols = [{r[0] for r in db.execute(f"DESCRIBE SELECT * FROM read_parquet('{_lit(p)}')").fetchall()} for p in (a, b)]
    return "h" in cols[0] and "h" in cols[1]


def _lit(path: Path) -> str:
    return str(path).replace("'", "''")
