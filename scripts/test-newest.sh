#!/bin/sh
# Run the suite against the newest release of every dependency, ignoring the lock, in a venv of
# its own (the project's .venv is left alone). A break found here is ours to fix before users meet
# it; when this passes, refresh the lock with scripts/lock.sh.
set -eu
cd "$(dirname "$0")/.."
venv="${TMPDIR:-/tmp}/rpdev-newest"
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q --upgrade --upgrade-strategy eager -e '.[dev]'
"$venv/bin/pip" list --format=freeze > "$venv/versions.txt"
echo "newest versions: $venv/versions.txt"
"$venv/bin/pytest" "$@"
