"""Kubernetes CronJobs from the catalog: one per batch job, running ``smartsync scheduler run --once JOB``.

``concurrencyPolicy: Forbid`` (never two runs of a job at once; the advisory lock backs it up),
``startingDeadlineSeconds`` (a firing missed while the controller was down starts late, once, or
not at all once the deadline passed: the next firing folds it in), ``timeZone: Etc/UTC``, a run
deadline long enough to wait out the maintenance window, and the restricted Pod Security profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smartsync.core.catalog import Catalog, Schedule

# A firing may start this late after its time (controller down, cluster busy); later it is dropped.
STARTING_DEADLINE_S = 3600
RUN_AS = 10001


@dataclass(frozen=True)
class CronJobParams:
    image: str = "ghcr.io/example/smartsync:latest"
    namespace: str = "smartsync"
    env_secret: str = "smartsync-env"  # noqa: S105 — the name of a Secret holding SMARTSYNC_* settings


def cronjob_name(job: str) -> str:
    return "smartsync-" + job.replace("_", "-")


def cronjob(catalog: Catalog, schedule: Schedule, params: CronJobParams) -> dict[str, Any]:
    w = catalog.maintenance
    window_s = (w.end_hour_utc - w.start_hour_utc) * 3600
    active_deadline = window_s + max(30, schedule.expected_minutes * 4) * 60
    container = {
        "name": "job",
        "image": params.image,
        "args": ["scheduler", "run", "--once", schedule.job, "--metrics-port", "0"],
        "envFrom": [{"secretRef": {"name": params.env_secret}}],
        "env": [{"name": "HOME", "value": "/tmp"}],  # noqa: S108 — an emptyDir, the only writable place
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"memory": "2Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": cronjob_name(schedule.job),
            "namespace": params.namespace,
            "labels": {"app.kubernetes.io/name": "smartsync", "app.kubernetes.io/component": "batch"},
            "annotations": {"smartsync/description": schedule.description},
        },
        "spec": {
            "schedule": schedule.cron,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": STARTING_DEADLINE_S,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 5,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": active_deadline,
                    "template": {
                        "metadata": {"labels": {"app.kubernetes.io/name": "smartsync", "smartsync/job": schedule.job}},
                        "spec": {
                            "restartPolicy": "Never",
                            "automountServiceAccountToken": False,
                            "securityContext": {
                                "runAsNonRoot": True,
                                "runAsUser": RUN_AS,
                                "runAsGroup": RUN_AS,
                                "seccompProfile": {"type": "RuntimeDefault"},
                            },
                            "containers": [container],
                            "volumes": [{"name": "tmp", "emptyDir": {}}],
                        },
                    },
                }
            },
        },
    }


def render_cronjobs(catalog: Catalog, params: CronJobParams) -> list[dict[str, Any]]:
    return [cronjob(catalog, schedule, params) for _, schedule in catalog.jobs()]
