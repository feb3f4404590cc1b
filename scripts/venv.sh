#!/usr/bin/env bash
# The Python half of the set-up: a .venv with the locked dependencies (requirements/*.txt, every
# package pinned with its hashes) and the project itself, editable. Needs only Python 3.11 or 3.12
# and the package index: no root, no Debian packages. Safe to run again: it does nothing while the
# locks and pyproject.toml are unchanged, and re-installs when they change.
set -euo pipefail
cd "$(dirname "$0")/.."

python=""
for candidate in python3.11 python3.12 python3; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)' 2>/dev/null; then
    python=$candidate
    break
  fi
done
if [ -z "$python" ]; then
  echo "error: SmartSync needs Python 3.11 or 3.12 (bytewax 0.21.1 has no wheels for newer ones)" >&2
  exit 1
fi

locks=(requirements/build.txt requirements/dev.txt)
stamp=.venv/.installed-$(cat pyproject.toml "${locks[@]}" | sha256sum | cut -c1-16)
[ -f "$stamp" ] && exit 0

echo "· installing the locked Python dependencies into .venv ($("$python" --version))"
[ -x .venv/bin/python ] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip --quiet --disable-pip-version-check)
# The installer and the build backend first, so the editable install needs no unpinned download.
"${pip[@]}" install --require-hashes -r requirements/build.txt
"${pip[@]}" install --require-hashes -r requirements/dev.txt

# A package dropped from the lock would otherwise linger in a venv made from an older lock.
normalise() { sed -n 's/^\([A-Za-z0-9._-]*\)==.*/\1/p' | tr 'A-Z_.' 'a-z--' | sort -u; }
stale=$(comm -23 <("${pip[@]}" freeze --exclude-editable | normalise) <(cat "${locks[@]}" | normalise))
if [ -n "$stale" ]; then
  echo "· removing packages no longer in the lock: $(echo $stale)"
  # shellcheck disable=SC2086
  "${pip[@]}" uninstall --yes $stale
fi

# setuptools warns about every editable install; show its output only when the install fails.
if ! log=$("${pip[@]}" install --no-deps --no-build-isolation -e . 2>&1); then
  echo "$log" >&2
  exit 1
fi
if ! "${pip[@]}" check >/dev/null; then
  "${pip[@]}" check >&2 || true
  echo "error: the lock does not satisfy pyproject.toml; run 'make lock' and commit requirements/" >&2
  exit 1
fi
rm -f .venv/.installed-*
touch "$stamp"
