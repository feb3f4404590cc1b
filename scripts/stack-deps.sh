#!/usr/bin/env bash
# The machine half of the set-up, for the local stack only (make test, integration, demo, bench):
# Debian packages (PostgreSQL 15 server, Java 17, Maven) when missing, the unprivileged postgres
# user the server runs as, and the Kafka/Debezium jars from Maven Central. Needs the .venv
# (scripts/venv.sh) for the jar step. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
[ -x /usr/lib/postgresql/15/bin/postgres ] || need_apt+=(postgresql-15)
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null 2>&1 || need_apt+=(maven)
command -v runuser >/dev/null 2>&1 || need_apt+=(util-linux)
# promtool and amtool for the alert rule tests (tests/unit/monitoring/test_alerting_tools.py). The
# packages' own services are never used: nothing here starts or relies on them.
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v amtool >/dev/null 2>&1 || need_apt+=(prometheus-alertmanager)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "· installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: need root to install ${need_apt[*]} (run: sudo apt-get install -y ${need_apt[*]})" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # A policy-rc.d that refuses keeps the packages' postinst from starting their services.
  own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  [ "$own_policy" -eq 0 ] || rm -f /usr/sbin/policy-rc.d
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
  # The server refuses to run as root; it runs as this unprivileged user.
  useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
fi

if [ ! -x .venv/bin/python ]; then
  echo "error: no .venv yet; run 'make venv' (scripts/venv.sh) first" >&2
  exit 1
fi
.venv/bin/python -c 'from smartsync.devstack.localstack import ensure_jars; ensure_jars(print)'
