"""Orchestrator artifacts rendered from the catalog: Apache Airflow DAGs and Kubernetes CronJobs.

Every rendered job runs ``smartsync scheduler run --once JOB`` (``reconcile.scheduled.run_scheduled``):
the same policy as the built-in scheduler (maintenance window, advisory lock, no second run of a
firing that succeeded, the weekly run fixes), so any of the three can run the batch jobs and
moving between them never runs a firing twice.
"""
