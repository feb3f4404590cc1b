"""The Kubernetes manifests of one overlay, fully rendered: flows, callbacks, scheduler, monitor, the migration Job.

Every pod runs under the restricted Pod Security profile (non-root, read-only root filesystem,
no privilege escalation, no capabilities, seccomp RuntimeDefault) with an emptyDir for /tmp.
"""

from __future__ import annotations

from typing import Any

from smartsync.core.catalog import Direction
from smartsync.deploy.params import (
    CALLBACKS_PORT,
    FLOW_CLUSTER_PORT,
    FLOW_METRICS_PORT,
    FLOW_SECRETS,
    MONITOR_METRICS_PORT,
    RECOVERY_DIR,
    RUN_AS,
    SCHEDULER_METRICS_PORT,
    DeployParams,
    Resources,
    Secret,
    component_name,
)

Manifest = dict[str, Any]
PART_OF = {"app.kubernetes.io/part-of": "smartsync"}
CALLBACKS = "smartsync-callbacks"
SCHEDULER = "smartsync-scheduler"
MONITOR = "smartsync-monitor"
MIGRATE = "smartsync-db-migrate"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"


def labels(component: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": component, **PART_OF}


def _meta(name: str, params: DeployParams, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": params.namespace, "labels": labels(name), **extra}


def flow_addresses(direction: Direction, params: DeployParams) -> str:
    """Every process's cluster address, by its stable headless-Service DNS name, in process-id order."""
    name = component_name(direction)
    return ";".join(
        f"{name}-{i}.{name}.{params.namespace}.svc.cluster.local:{FLOW_CLUSTER_PORT}"
        for i in range(params.flow_replicas)
    )


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# The root filesystem is read-only: Python, libraries and SQLite write only under /tmp.
_BASE_ENV = [
    {"name": "HOME", "value": "/tmp"},  # noqa: S108 — an emptyDir, the only writable place
    {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
]
_TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}  # noqa: S108
_TMP_VOLUME = {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}}


def _container(
    name: str,
    params: DeployParams,
    *,
    args: list[str],
    secret: Secret,
    resources: Resources,
    ports: list[dict[str, Any]],
    env: list[dict[str, Any]] | None = None,
    mounts: list[dict[str, Any]] | None = None,
    probes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": name,
        "image": params.image,
        "imagePullPolicy": params.image_pull_policy,
        "args": args,
        "envFrom": [{"secretRef": {"name": secret.value}}],
        "env": [*_BASE_ENV, *(env or [])],
    }
    if ports:
        container["ports"] = ports
    container.update(probes or {})
    container["resources"] = resources.to_k8s()
    container["securityContext"] = _container_security()
    container["volumeMounts"] = [_TMP_MOUNT, *(mounts or [])]
    return container


def _pod(containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": _pod_security(),
        **extra,
        "containers": containers,
        "volumes": [_TMP_VOLUME],
    }


def _tcp_probes(port: str, *, startup_s: int) -> dict[str, Any]:
    return {
        "startupProbe": {"tcpSocket": {"port": port}, "periodSeconds": 5, "failureThreshold": startup_s // 5},
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 10},
        "livenessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 20, "failureThreshold": 3},
    }


def _http_probes(path: str, port: str) -> dict[str, Any]:
    return {
        "readinessProbe": {"httpGet": {"path": path, "port": port}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": path, "port": port}, "periodSeconds": 20, "failureThreshold": 6},
    }


def _headless(name: str, params: DeployParams, ports: list[dict[str, Any]], *, not_ready: bool = False) -> Manifest:
    spec: dict[str, Any] = {"clusterIP": "None", "selector": labels(name), "ports": ports}
    if not_ready:
        # Bytewax processes must find each other before any of them serves its metrics (is ready).
        spec["publishNotReadyAddresses"] = True
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, params), "spec": spec}


def flow(direction: Direction, params: DeployParams) -> list[Manifest]:
    """One direction: a StatefulSet of N one-process pods, its headless Service and PodDisruptionBudget."""
    name = component_name(direction)
    env: list[dict[str, Any]] = [
        {
            "name": "SMARTSYNC_FLOW_PROCESS_ID",
            "valueFrom": {"fieldRef": {"fieldPath": f"metadata.labels['{POD_INDEX_LABEL}']"}},
        },
        {"name": "SMARTSYNC_FLOW_ADDRESSES", "value": flow_addresses(direction, params)},
        {"name": "SMARTSYNC_RECOVERY_DIR", "value": RECOVERY_DIR},
        {"name": "SMARTSYNC_METRICS_PORT", "value": str(FLOW_METRICS_PORT)},
    ]
    args = [
        "flow",
        "run",
        direction.value,
        "--process-id",
        "$(SMARTSYNC_FLOW_PROCESS_ID)",
        "--addresses",
        "$(SMARTSYNC_FLOW_ADDRESSES)",
        "--workers",
        str(params.flow_workers),
    ]
    container = _container(
        "dataflow",
        params,
        args=args,
        secret=FLOW_SECRETS[direction],
        resources=params.flow_resources,
        ports=[
            {"name": "metrics", "containerPort": FLOW_METRICS_PORT},
            {"name": "cluster", "containerPort": FLOW_CLUSTER_PORT},
        ],
        env=env,
        mounts=[{"name": "recovery", "mountPath": RECOVERY_DIR}],
        # Loading a large recovery store can take minutes before the metrics port opens.
        probes=_tcp_probes("metrics", startup_s=600),
    )
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": params.recovery_storage}},
    }
    if params.storage_class:
        claim["storageClassName"] = params.storage_class
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _meta(name, params),
        "spec": {
            "serviceName": name,
            "replicas": params.flow_replicas,
            # All processes start together: a Bytewax cluster forms only when every process is up.
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": labels(name)},
            "template": {
                "metadata": {"labels": labels(name)},
                "spec": _pod([container], terminationGracePeriodSeconds=30),
            },
            "volumeClaimTemplates": [{"metadata": {"name": "recovery"}, "spec": claim}],
        },
    }
    service = _headless(
        name,
        params,
        [
            {"name": "metrics", "port": FLOW_METRICS_PORT, "targetPort": "metrics"},
            {"name": "cluster", "port": FLOW_CLUSTER_PORT, "targetPort": "cluster"},
        ],
        not_ready=True,
    )
    return [service, statefulset, _pdb(name, params)]


def _pdb(name: str, params: DeployParams) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _meta(name, params),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels(name)}},
    }


def callbacks(params: DeployParams) -> list[Manifest]:
    container = _container(
        "api",
        params,
        args=["callbacks", "serve", "--host", "0.0.0.0", "--port", str(CALLBACKS_PORT)],  # noqa: S104
        secret=Secret.CALLBACKS,
        resources=params.callbacks_resources,
        ports=[{"name": "http", "containerPort": CALLBACKS_PORT}],
        probes=_http_probes("/healthz", "http"),
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(CALLBACKS, params),
        "spec": {
            "replicas": params.callbacks_replicas,
            "selector": {"matchLabels": labels(CALLBACKS)},
            "template": {"metadata": {"labels": labels(CALLBACKS)}, "spec": _pod([container])},
        },
    }
    port = [{"name": "http", "port": CALLBACKS_PORT, "targetPort": "http"}]
    service = {  # for the callers: one virtual address, load-balanced
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(CALLBACKS, params),
        "spec": {"selector": labels(CALLBACKS), "ports": port},
    }
    scrape = _headless(CALLBACKS, params, port)  # for Prometheus: every pod by name
    scrape["metadata"]["name"] = f"{CALLBACKS}-pods"
    return [service, scrape, deployment, _pdb(CALLBACKS, params)]


def _single(
    name: str,
    params: DeployParams,
    *,
    args: list[str],
    secret: Secret,
    resources: Resources,
    port: int,
    grace_s: int,
) -> list[Manifest]:
    container = _container(
        name.removeprefix("smartsync-"),
        params,
        args=args,
        secret=secret,
        resources=resources,
        ports=[{"name": "metrics", "containerPort": port}],
        probes=_http_probes("/metrics", "metrics"),
    )
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(name, params),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # never two at once
            "selector": {"matchLabels": labels(name)},
            "template": {
                "metadata": {"labels": labels(name)},
                "spec": _pod([container], terminationGracePeriodSeconds=grace_s),
            },
        },
    }
    return [_headless(name, params, [{"name": "metrics", "port": port, "targetPort": "metrics"}]), deployment]


def scheduler(params: DeployParams) -> list[Manifest]:
    """One scheduler (Recreate), so no batch job ever runs twice; a long grace lets a running job finish."""
    args = ["scheduler", "run", "--metrics-port", str(SCHEDULER_METRICS_PORT)]
    return _single(
        SCHEDULER,
        params,
        args=args,
        secret=Secret.SCHEDULER,
        resources=params.scheduler_resources,
        port=SCHEDULER_METRICS_PORT,
        grace_s=3600,
    )


def monitor(params: DeployParams) -> list[Manifest]:
    args = ["monitor", "--port", str(MONITOR_METRICS_PORT)]
    return _single(
        MONITOR,
        params,
        args=args,
        secret=Secret.MONITOR,
        resources=params.monitor_resources,
        port=MONITOR_METRICS_PORT,
        grace_s=30,
    )


def migrate_job(params: DeployParams, version: str) -> Manifest:
    """``smartsync db migrate`` then ``smartsync db roles`` as a Job, applied (and waited for) before the
    flows; named by version, so a new release runs it again and an unchanged one leaves it alone.

    The migration is an init container, so the roles (and their grants on the tables it made) are
    set only once it has succeeded; the Secret carries every component's DSN for their passwords.
    """
    name = f"{MIGRATE}-{version.replace('.', '-')}"
    resources = Resources(cpu_request="100m", memory_request="256Mi", cpu_limit="1", memory_limit="512Mi")
    migrate, roles = (
        _container(step, params, args=["db", step], secret=Secret.MIGRATE, resources=resources, ports=[])
        for step in ("migrate", "roles")
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {**_meta(name, params), "labels": labels(MIGRATE)},
        "spec": {
            "backoffLimit": 3,
            "activeDeadlineSeconds": 1800,
            "template": {
                "metadata": {"labels": labels(MIGRATE)},
                "spec": _pod([roles], restartPolicy="Never", initContainers=[migrate]),
            },
        },
    }


def _ports(*ports: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"protocol": protocol, "port": p} for p in ports]


def _policy(name: str, params: DeployParams, selector: dict[str, Any], **spec: Any) -> Manifest:
    types = [t for t, key in (("Ingress", "ingress"), ("Egress", "egress")) if key in spec]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": params.namespace, "labels": PART_OF},
        "spec": {"podSelector": selector, "policyTypes": types, **spec},
    }


def network_policies(params: DeployParams) -> list[Manifest]:
    """Default deny, then each component's own ingress and egress."""
    prometheus = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": params.prometheus_namespace}},
        "podSelector": {"matchLabels": dict(params.prometheus_pod_labels)},
    }
    kafka = {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": params.kafka_namespace}}}],
        "ports": _ports(params.kafka_port),
    }
    postgres: dict[str, Any] = {"ports": _ports(params.postgres_port)}
    if params.postgres_cidrs:
        postgres["to"] = [{"ipBlock": {"cidr": cidr}} for cidr in params.postgres_cidrs]
    dns = {
        "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
        "ports": [*_ports(53, protocol="UDP"), *_ports(53)],
    }
    policies = [
        _policy("smartsync-default-deny", params, {}, ingress=[], egress=[]),
        _policy("smartsync-dns", params, {"matchLabels": PART_OF}, egress=[dns]),
    ]
    for direction in Direction:
        name = component_name(direction)
        peers = {"podSelector": {"matchLabels": labels(name)}}
        policies.append(
            _policy(
                name,
                params,
                {"matchLabels": labels(name)},
                ingress=[
                    {"from": [prometheus], "ports": _ports(FLOW_METRICS_PORT)},
                    {"from": [peers], "ports": _ports(FLOW_CLUSTER_PORT)},
                ],
                egress=[kafka, postgres, {"to": [peers], "ports": _ports(FLOW_CLUSTER_PORT)}],
            )
        )
    callers = [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}
        for ns in params.callback_caller_namespaces
    ]
    policies += [
        _policy(
            CALLBACKS,
            params,
            {"matchLabels": labels(CALLBACKS)},
            ingress=[{"from": [*callers, prometheus], "ports": _ports(CALLBACKS_PORT)}],
            egress=[kafka],
        ),
        _policy(
            SCHEDULER,
            params,
            {"matchLabels": labels(SCHEDULER)},
            ingress=[{"from": [prometheus], "ports": _ports(SCHEDULER_METRICS_PORT)}],
            egress=[postgres],
        ),
        _policy(
            MONITOR,
            params,
            {"matchLabels": labels(MONITOR)},
            ingress=[{"from": [prometheus], "ports": _ports(MONITOR_METRICS_PORT)}],
            egress=[kafka, postgres],
        ),
        _policy(MIGRATE, params, {"matchLabels": labels(MIGRATE)}, egress=[postgres]),
    ]
    return policies


def namespace(params: DeployParams) -> Manifest:
    restricted = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "audit", "warn")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": params.namespace, "labels": {**PART_OF, **restricted}},
    }


def manifests(params: DeployParams, version: str) -> dict[str, list[Manifest]]:
    """The overlay's files (name → documents); ``kustomization.yaml`` lists all but the migration."""
    files: dict[str, list[Manifest]] = {
        "namespace.yaml": [namespace(params)],
        "network-policies.yaml": network_policies(params),
    }
    for direction in Direction:
        files[f"{component_name(direction)}.yaml"] = flow(direction, params)
    files["callbacks.yaml"] = callbacks(params)
    files["scheduler.yaml"] = scheduler(params)
    files["monitor.yaml"] = monitor(params)
    files["migrate/job.yaml"] = [migrate_job(params, version)]
    return files


def kustomization(resources: list[str]) -> Manifest:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization", "resources": resources}
