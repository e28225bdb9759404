#!/usr/bin/env bash
# Run the whole service locally against the Microsoft 365 simulator: no Microsoft account needed.
# Generates its keys once into var/demo.env, migrates, creates the admin login, then runs every process
# in the foreground (Ctrl-C stops them all).
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var

if [ ! -f var/demo.env ]; then
  echo "[demo] generating var/demo.env (keys and the admin password for this checkout)"
  .venv/bin/python - > var/demo.env <<'PY'
import secrets
from cryptography.fernet import Fernet
print(f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}")
print(f"ENGAGE_ENCRYPTION_KEYS={Fernet.generate_key().decode()}")
print(f"DEMO_ADMIN_PASSWORD={secrets.token_urlsafe(12)}")
PY
  chmod 600 var/demo.env
fi
set -a
# shellcheck disable=SC1091
. var/demo.env
DEBUG=1
SESSION_COOKIE_SECURE=0
CSRF_COOKIE_SECURE=0
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/engage_sync}
# Flower reads its credentials from the environment (ops/flower_config.py): never on a command line `ps` shows.
FLOWER_BASIC_AUTH="admin:${DEMO_ADMIN_PASSWORD}"
set +a

db_name=${DATABASE_URL##*/}
if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db_name'" | grep -q 1; then
  echo "[demo] creating database $db_name"
  createdb -h 127.0.0.1 -U postgres "$db_name"
fi
.venv/bin/python manage.py migrate --no-input -v 0

# The Microsoft 365 simulator (HTTPS on loopback, state kept in var/simulator), then the demo brokerage in it.
SIMULATOR_PORT=${SIMULATOR_PORT:-8443}
.venv/bin/python -m simulator --state-dir var/simulator serve --port "$SIMULATOR_PORT" --persist \
  > var/simulator.log 2>&1 &
simulator_pid=$!
trap 'kill "$simulator_pid" 2>/dev/null || true' EXIT
.venv/bin/python -m simulator --state-dir var/simulator --wait 30 seed-demo --json var/demo-brokerage.json
.venv/bin/python manage.py demo_setup --brokerage-json var/demo-brokerage.json  # the password from DEMO_ADMIN_PASSWORD

cat <<MSG

  Engage Sync is starting.
    Admin:   http://127.0.0.1:${WEB_PORT:-8000}/admin/   user: admin   password: $DEMO_ADMIN_PASSWORD
    Flower:  http://127.0.0.1:${FLOWER_PORT:-5555}/      user: admin   password: $DEMO_ADMIN_PASSWORD
    Microsoft 365 simulator: https://127.0.0.1:${SIMULATOR_PORT}/  (python -m simulator --help; log in var/simulator.log)
  (the password is kept in var/demo.env). Ctrl-C stops every process.

MSG
.venv/bin/honcho start -f Procfile
