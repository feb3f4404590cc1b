# SmartSync's one task runner. CI calls `make test` word for word (see .ci/run).
.PHONY: setup demo test lint unit integration bench clean

setup:
	@bash scripts/bootstrap.sh

# The main job: bring the stack up, load synthetic data and show the syncs at work.
demo: setup
	.venv/bin/smartsync demo

# Everything CI checks: lint, types, unit and integration tests on the real stack.
test: setup lint
	.venv/bin/pytest -q tests

lint: setup
	.venv/bin/ruff check .
	.venv/bin/mypy

unit: setup
	.venv/bin/pytest -q tests/unit

integration: setup
	.venv/bin/pytest -q tests/integration

bench: setup
	@for b in bench/bench_*.py; do echo "== $$b"; .venv/bin/python $$b || exit 1; done

clean:
	-.venv/bin/smartsync stack down --purge
