#!/usr/bin/env bash
# The project's gates, in the order that fails fastest: lint, migrations in step with models, tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=tests.settings

echo "== ruff"
.venv/bin/ruff check .
echo "== makemigrations --check"
# Models vs migration files only; Django also checks the history of the configured database, which a fresh
# machine does not have yet (the demo creates it), so point that check at PostgreSQL's own database.
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres} .venv/bin/python manage.py makemigrations --check --dry-run
echo "== stands alone (a copy of the checkout with nothing beside it)"
bash scripts/check-standalone.sh
echo "== pytest"
.venv/bin/python -m pytest "$@"
