"""Batch path: snapshots both sides, diffs them (PostgreSQL hashes, DuckDB joins), fixes, schedules and reports."""
