#!/usr/bin/env bash
# The project's gates, in the order that fails fastest: lint, migrations in step with models, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=tests.settings

echo "== ruff"
.venv/bin/ruff check .
echo "== makemigrations --check"
.venv/bin/python manage.py makemigrations --check --dry-run
echo "== pytest"
.venv/bin/python -m pytest "$@"
