#!/bin/sh
# Regenerate requirements.lock: the exact version of every package, transitive ones included,
# that README's commands and .ci/run install (`pip install -c requirements.lock ...`).
# pyproject.toml keeps ranges for people who install the package; the lock is what we test.
#
# Run it on purpose, after `scripts/test-newest.sh` has passed: it resolves the newest versions
# that pyproject.toml allows, for every platform and every Python rpdev supports.
set -eu
cd "$(dirname "$0")/.."
tools="${TMPDIR:-/tmp}/rpdev-lock-tools"
[ -x "$tools/bin/uv" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q uv; }
"$tools/bin/uv" pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
  --index-url https://pypi.org/simple --no-header --quiet -o requirements.lock
{
  printf '%s\n' "# The lock: every version a fresh install gets. Made by scripts/lock.sh; do not edit by hand."
  cat requirements.lock
} > requirements.lock.tmp && mv requirements.lock.tmp requirements.lock
echo "requirements.lock: $(grep -c '==' requirements.lock) packages pinned"
