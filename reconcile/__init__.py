"""Batch path: snapshots, the DuckDB diff, batch jobs, schedules and reports."""
