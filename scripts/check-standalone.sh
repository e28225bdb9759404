#!/usr/bin/env bash
# Prove the repository stands alone: nothing it runs or tests reads the team's reference folder beside the
# checkout (the shared reference folder). Two checks, both cheap:
#   1. no file of the checkout names that folder (the SOURCE.md provenance notes may say where data came from);
#   2. the simulator's strict-mode tests pass in a copy of the checkout that has nothing beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

pattern='\.\./shared|shared/reference'
if git grep --untracked -nIE "$pattern" -- . ':!*SOURCE.md' ':!scripts/check-standalone.sh'; then
  echo "[standalone] the files above point outside the repository; copy what they need into it (with a SOURCE.md)" >&2
  exit 1
fi

copy_parent=$(mktemp -d)
trap 'rm -rf "$copy_parent"' EXIT
copy="$copy_parent/engage-sync"
mkdir "$copy"
# The working tree's files as git sees them (tracked plus new, not ignored), so uncommitted work is checked too.
git ls-files -z --cached --others --exclude-standard -- . ':!.venv' \
  | tar --null --files-from - --ignore-failed-read -cf - | tar -xf - -C "$copy"
test ! -e "$copy_parent/shared"
echo "[standalone] running the strict simulator tests in $copy (nothing beside it)"
cd "$copy"
PYTHONDONTWRITEBYTECODE=1 "$root/.venv/bin/python" -m pytest -q -p no:cacheprovider \
  tests/simulator/test_ews_conformance.py tests/simulator/test_ews_ids.py tests/simulator/test_platform_strict.py "$@"
