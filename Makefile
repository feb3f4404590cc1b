# SmartSync's one task runner. CI calls `make test` word for word (see .ci/run).
#
# Two set-up steps: `venv` (Python only: the locked dependencies and the project, editable) is all
# that lint and unit need; `stack-deps` (Debian packages, the postgres user, the Kafka/Debezium jars)
# is added by the targets that run the local stack. Both are quick when nothing changed.
.PHONY: setup venv stack-deps lock wheel format hooks demo test lint unit integration bench chaos clean

VENV := .venv/bin

setup: venv stack-deps

venv:
	@bash scripts/venv.sh

stack-deps: venv
	@bash scripts/stack-deps.sh

# Apache Airflow 3.3.2 in build/airflow-venv (pins of its own) for the tests of the rendered DAGs.
airflow-venv: venv
	@bash scripts/airflow-venv.sh

# Regenerate requirements/*.txt (hash-locked) from pyproject.toml; commit them with the change.
lock:
	@bash scripts/lock.sh

# The project's wheel in dist/ (its dependencies come from requirements/runtime.txt; README "Installing").
wheel: venv
	$(VENV)/python -m pip wheel --quiet --no-deps --no-build-isolation --wheel-dir dist .

# The main job: bring the stack up, load synthetic data and show the syncs at work.
demo: venv stack-deps
	$(VENV)/smartsync demo

# Everything CI checks: lint, formatting, types, import contracts, unit and integration tests on the real stack.
test: venv stack-deps lint
	$(VENV)/pytest -q tests

lint: venv
	$(VENV)/ruff check .
	$(VENV)/ruff format --check .
	$(VENV)/mypy
	$(VENV)/lint-imports

unit: venv
	$(VENV)/pytest -q tests/unit

integration: venv stack-deps
	$(VENV)/pytest -q tests/integration

bench: venv stack-deps
	@for b in bench/bench_*.py; do echo "== $$b"; $(VENV)/python $$b || exit 1; done

# The event path's chaos suite in its long form (30 SIGKILLs, a 120 s target outage, the fault scenarios), each
# scenario ending with a full reconciliation; its CI form (tests/integration/chaos) runs in `test` and `integration`.
chaos: venv stack-deps
	$(VENV)/python bench/chaos.py --long --all

# Rewrite the tree in the house format (`make lint` checks it).
format: venv
	$(VENV)/ruff format .

# Git hooks from .pre-commit-config.yaml: ruff and import contracts on commit, mypy on push.
hooks: venv
	$(VENV)/pre-commit install

clean:
	-$(VENV)/smartsync stack down --purge
