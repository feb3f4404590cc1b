# SmartSync's runtime image: the dataflows, the callback service and the batch jobs.
# PostgreSQL, Kafka and Debezium run as their own services in the cluster; point SmartSync
# at them with SMARTSYNC_WAREHOUSE_DSN, SMARTSYNC_CITIZEN_DSN and SMARTSYNC_KAFKA_BOOTSTRAP.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY smartsync ./smartsync
COPY dataflows ./dataflows
COPY connectors ./connectors
COPY masking ./masking
COPY reconcile ./reconcile
RUN python -m venv /opt/smartsync \
 && /opt/smartsync/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/smartsync/bin/pip install --no-cache-dir .

FROM python:3.11-slim-bookworm
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
