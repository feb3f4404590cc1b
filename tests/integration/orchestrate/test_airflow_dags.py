"""The rendered DAGs in a real Apache Airflow 3.3.2 (its own venv, scripts/airflow-venv.sh), and one run end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

from reconcile.cron import previous_run
from smartsync.core.catalog import load_catalog
from smartsync.orchestrate.airflow import AirflowParams, expected_schedules, render_dags
from tests.integration.reconcile.reconcile_fixtures import SCHEMES, execute, reset

ROOT = Path(__file__).resolve().parents[3]
AIRFLOW_VENV = ROOT / "build" / "airflow-venv"
SMARTSYNC = str(Path(sys.executable).parent / "smartsync")

LOAD = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {d.dag_id: [getattr(d.timetable, "_expression", None), d.max_active_runs, d.catchup,
                        sorted(d.task_ids)] for d in bag.dags.values()},
}))
"""


def _airflow_env(home: Path) -> dict[str, str]:
    env = os.environ.copy()
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(home / "dags"),
        AIRFLOW__CORE__UNIT_TEST_MODE="False",
    )
    return env


def _install() -> None:
    subprocess.run(["bash", str(ROOT / "scripts" / "airflow-venv.sh")], check=True, timeout=900)  # noqa: S603, S607


def _dags(home: Path) -> Path:
    folder = home / "dags"
    folder.mkdir(parents=True)
    for name, text in render_dags(load_catalog(), AirflowParams(smartsync=SMARTSYNC)).items():
        (folder / name).write_text(text)
    return folder


def test_airflow_loads_every_dag_with_the_catalog_schedules(tmp_path: Path) -> None:
    _install()
    folder = _dags(tmp_path)
    out = subprocess.run(  # noqa: S603
        [str(AIRFLOW_VENV / "bin" / "python"), "-c", LOAD, str(folder)],
        env=_airflow_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded["errors"] == {}
    crons = {dag: spec[0] for dag, spec in loaded["dags"].items()}
    assert crons == expected_schedules(load_catalog())
    assert all(spec[1:] == [1, False, ["outside_maintenance_window", "run"]] for spec in loaded["dags"].values())


def test_one_dag_runs_end_to_end_against_the_stack(tmp_path: Path, warehouse_dsn: str, citizen_dsn: str) -> None:
    _install()
    _dags(tmp_path)
    reset(warehouse_dsn, load_catalog().sync("scheme_master").source_database)
    reset(citizen_dsn, load_catalog().sync("scheme_master").target_database)
    execute(warehouse_dsn, SCHEMES, {"n": 20})
    env = _airflow_env(tmp_path)
    airflow = str(AIRFLOW_VENV / "bin" / "airflow")
    subprocess.run([airflow, "db", "migrate"], env=env, capture_output=True, timeout=600, check=True)  # noqa: S603
    firing = previous_run("0 0 * * *", datetime.now(UTC)) - timedelta(days=1)
    # `airflow tasks test` runs a task of one DAG run in-process, for the logical date given. (`airflow dags
    # test` of Airflow 3.3.2 runs the DAG, then fails on DAGs with a deadline: "'dict' object has no
    # attribute 'hex'" in DeadlineAlert.get_by_id.)
    for task in ("outside_maintenance_window", "run"):
        run = subprocess.run(  # noqa: S603
            [airflow, "tasks", "test", "smartsync_scheme_master_daily", task, firing.isoformat()],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert "Command exited with return code 0" in run.stdout + run.stderr
    with psycopg.connect(citizen_dsn) as conn:
        recorded = conn.execute(
            "SELECT scheduled_for, status FROM smartsync.job_runs WHERE job = 'scheme_master_daily'"
        ).fetchall()
        schemes = conn.execute("SELECT count(*) FROM public.schemes").fetchone()
    assert recorded == [(firing, "success")]  # the run stands for Airflow's logical date
    assert schemes == (18,)
