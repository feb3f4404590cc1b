#!/usr/bin/env bash
# Apache Airflow 3.3.2 in a virtual environment of its own (build/airflow-venv), so its pins never
# touch the project's. Installed from requirements/airflow.txt (every package pinned and hashed);
# quick when nothing changed. The tests of the rendered DAGs call it (CI: on a fresh machine).
#   scripts/airflow-venv.sh            install or reuse
#   scripts/airflow-venv.sh --relock   regenerate requirements/airflow.txt first
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${SMARTSYNC_AIRFLOW_VENV:-build/airflow-venv}
LOCK=requirements/airflow.txt
UV=.venv/bin/uv
if [ "${1:-}" = "--relock" ]; then
    echo "apache-airflow==3.3.2" | "$UV" pip compile --quiet --python-version 3.11 \
        --python-platform x86_64-unknown-linux-gnu --generate-hashes --no-header -o "$LOCK" -
fi
want=$(sha256sum "$LOCK" | cut -d' ' -f1)
if [ -x "$VENV/bin/airflow" ] && [ "$(cat "$VENV/.lock-sha256" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
rm -rf "$VENV"
"$UV" venv --quiet --python .venv/bin/python "$VENV"
VIRTUAL_ENV="$VENV" "$UV" pip install --quiet --require-hashes --no-deps -r "$LOCK"
echo "$want" > "$VENV/.lock-sha256"
