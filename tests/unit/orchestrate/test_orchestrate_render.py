"""Airflow DAG files and Kubernetes CronJobs rendered from the catalog (pure; Airflow loads them in integration)."""

from __future__ import annotations

import ast

import kubernetes_validate

from smartsync.core.catalog import load_catalog
from smartsync.orchestrate.airflow import AirflowParams, dag_id, expected_schedules, render_dags
from smartsync.orchestrate.cronjobs import STARTING_DEADLINE_S, CronJobParams, render_cronjobs

CAT = load_catalog()


def test_one_dag_per_job_that_runs_the_scheduler_policy_once() -> None:
    files = render_dags(CAT, AirflowParams(smartsync="/srv/smartsync/venv/bin/smartsync"))
    assert sorted(files) == sorted(f"{dag_id(s.job)}.py" for _, s in CAT.jobs())
    for _, schedule in CAT.jobs():
        text = files[f"{dag_id(schedule.job)}.py"]
        ast.parse(text)  # a valid Python file
        assert f"CronTriggerTimetable({schedule.cron!r}, timezone='UTC')" in text
        assert "max_active_runs=1" in text and "catchup=False" in text and "'retries': 2" in text
        assert f"/srv/smartsync/venv/bin/smartsync scheduler run --once {schedule.job} --scheduled-for" in text
        assert f"interval=timedelta(minutes={schedule.expected_minutes})" in text  # the SLA as a deadline
        assert "smartsync scheduler window" in text and "soft_fail=True" in text
    assert expected_schedules(CAT)["smartsync_weekly_reconciliation"] == "0 3 * * 0"


def test_an_env_file_is_sourced_before_each_command() -> None:
    text = render_dags(CAT, AirflowParams(env_file="/etc/smartsync/env"))["smartsync_feedback_daily.py"]
    assert "set -a && . /etc/smartsync/env && set +a && /opt/smartsync/venv/bin/smartsync scheduler run" in text


def test_cronjobs_forbid_overlap_and_have_a_starting_deadline() -> None:
    docs = render_cronjobs(CAT, CronJobParams())
    assert len(docs) == len(CAT.jobs())
    for doc, (_, schedule) in zip(docs, CAT.jobs(), strict=True):
        spec = doc["spec"]
        assert spec["schedule"] == schedule.cron and spec["timeZone"] == "Etc/UTC"
        assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] == STARTING_DEADLINE_S
        container = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert container["args"][:4] == ["scheduler", "run", "--once", schedule.job]
        kubernetes_validate.validate(doc, "1.33.0", strict=True)
