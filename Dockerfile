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
RUN useradd --system --uid 10001 --home-dir /var/lib/smartsync --create-home smartsync
COPY --from=build /opt/smartsync /opt/smartsync
ENV PATH=/opt/smartsync/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SMARTSYNC_RECOVERY_DIR=/var/lib/smartsync/recovery
USER smartsync
WORKDIR /var/lib/smartsync
# Bytewax metrics (one port per process) and the callback API.
EXPOSE 3030 8088
ENTRYPOINT ["smartsync"]
CMD ["--help"]
