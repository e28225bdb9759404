#!/usr/bin/env bash
# Run every benchmark in bench/ (each prints its own figures and its same-run baseline ratio).
# `bash bench/run.sh simulator` runs only the ones whose file name contains "simulator".
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-}
for script in bench/*_bench.py; do
  [[ -z "$filter" || "$script" == *"$filter"* ]] || continue
  echo "=== $script"
  DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-tests.settings} .venv/bin/python "$script"
done
