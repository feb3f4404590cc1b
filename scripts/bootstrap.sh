#!/usr/bin/env bash
# Prepares a fresh machine for everything SmartSync does, local stack included: the Python
# venv from the locks (scripts/venv.sh), then the stack's Debian packages, postgres user and
# Kafka/Debezium jars (scripts/stack-deps.sh). `make lint` and `make unit` need only the first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
bash scripts/stack-deps.sh
