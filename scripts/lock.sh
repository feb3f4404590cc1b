#!/usr/bin/env bash
# Regenerates the hash-locked dependency sets from pyproject.toml (run after changing a pin, then
# commit requirements/):
#   requirements/runtime.txt  the [project] dependencies: what the image ships (Dockerfile)
#   requirements/dev.txt      the same plus the test, lint, bench and dev extras: the .venv
#   requirements/build.txt    pip and the build backend (requirements/build.in)
# Existing pins are kept unless pyproject.toml asks otherwise (uv reads the old file as its
# preference); `UPGRADE=1 make lock` moves every unpinned transitive dependency to its newest.
# Locks are universal (markers for other platforms) with Python 3.11 as the floor.
set -euo pipefail
cd "$(dirname "$0")/.."

uv_version=0.13.8
uv=.venv/bin/uv
if ! { [ -x "$uv" ] && "$uv" --version | grep -q "^uv $uv_version\b"; }; then
  # No venv yet (or one from before uv was locked): uv, pinned by version, in a throwaway tool venv
  # under build/, so the project's .venv is still made by scripts/venv.sh with the right Python.
  tool=build/uv-$uv_version
  [ -x "$tool/bin/uv" ] || { python3 -m venv "$tool" && "$tool/bin/python" -m pip install --quiet \
    --disable-pip-version-check "uv==$uv_version"; }
  uv=$tool/bin/uv
fi

common=(--generate-hashes --universal --python-version 3.11 --custom-compile-command "make lock" --quiet)
[ "${UPGRADE:-0}" = 1 ] && common+=(--upgrade)
"$uv" pip compile "${common[@]}" pyproject.toml -o requirements/runtime.txt
# The runtime lock constrains the dev lock, so the venv tests exactly what the image ships.
"$uv" pip compile "${common[@]}" pyproject.toml --extra test --extra lint --extra bench --extra dev \
  -c requirements/runtime.txt -o requirements/dev.txt
"$uv" pip compile "${common[@]}" requirements/build.in -o requirements/build.txt
echo "· locked: $(grep -c '==' requirements/runtime.txt) runtime, $(grep -c '==' requirements/dev.txt) dev, $(grep -c '==' requirements/build.txt) build packages"
