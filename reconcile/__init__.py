"""Batch path: snapshots both sides, diffs them (PostgreSQL hashes, a numpy join), fixes, schedules and reports."""
