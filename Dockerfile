# SmartSync's runtime image: the dataflows, the callback service and the batch jobs.
# PostgreSQL, Kafka and Debezium run as their own services in the cluster; point SmartSync
# at them with SMARTSYNC_WAREHOUSE_DSN, SMARTSYNC_CITIZEN_DSN and SMARTSYNC_KAFKA_BOOTSTRAP.
#
# Everything installed comes from the hash-locked requirements/runtime.txt (`make lock`), the
# project itself with --no-deps: no test, lint or bench tooling is copied or installed.
# The base image is pinned by tag. Where a registry is reachable, pin its digest as well:
#   docker buildx imagetools inspect python:3.11.14-slim-bookworm   (the "Digest:" line)
# and write FROM python:3.11.14-slim-bookworm@sha256:<digest> in both stages.

FROM python:3.11.14-slim-bookworm AS build
WORKDIR /src
# The build backend and pip, hash-checked, in a venv of their own that stays in this stage.
COPY requirements/build.txt requirements/runtime.txt ./requirements/
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes -r requirements/build.txt
RUN python -m venv /opt/smartsync \
 && /opt/smartsync/bin/pip install --no-cache-dir --require-hashes -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY smartsync ./smartsync
COPY dataflows ./dataflows
COPY connectors ./connectors
COPY masking ./masking
COPY reconcile ./reconcile
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels . \
 && /opt/smartsync/bin/pip install --no-cache-dir --no-deps /wheels/smartsync-*.whl \
 && /opt/smartsync/bin/pip check

FROM python:3.11.14-slim-bookworm
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="smartsync" \
      org.opencontainers.image.description="Keeps smart_warehouse and smart_citizen in sync: dataflows, callback API, scheduler, monitor" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim-bookworm"
RUN useradd --system --uid 10001 --home-dir /var/lib/smartsync --create-home smartsync \
 && install -d -o smartsync -g smartsync /var/lib/smartsync/recovery
COPY --from=build /opt/smartsync /opt/smartsync
ENV PATH=/opt/smartsync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SMARTSYNC_RECOVERY_DIR=/var/lib/smartsync/recovery
USER 10001:10001
WORKDIR /var/lib/smartsync
# Every port SmartSync serves: a flow process's metrics (3030) and cluster port (2101), the callback
# API (8088), the scheduler's metrics (9108), the monitor's (9109).
EXPOSE 3030 2101 8088 9108 9109
# The container is healthy while its HTTP endpoint answers. Each command serves a different one:
# set SMARTSYNC_HEALTHCHECK_URL (deploy/compose/compose.yaml gives each service its own check); the
# default is a flow's metrics.
# Kubernetes ignores HEALTHCHECK and uses the manifests' probes (deploy/kubernetes/).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ.get('SMARTSYNC_HEALTHCHECK_URL', 'http://127.0.0.1:3030/metrics'), timeout=4)"]
ENTRYPOINT ["smartsync"]
CMD ["--help"]
