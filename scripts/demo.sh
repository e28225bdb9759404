#!/usr/bin/env bash
# Run the whole service locally against the Microsoft 365 simulator: no Microsoft account needed.
# Generates its keys once into var/demo.env, migrates, creates the admin login, then runs every process
# in the foreground. Ctrl-C, SIGTERM (what a process supervisor sends) and SIGHUP stop every one of them.
#
# Overrides (defaults in brackets): WEB_PORT [8000], FLOWER_PORT [5555], SIMULATOR_PORT [8443], DATABASE_URL
# [postgres://postgres@127.0.0.1:5432/engage_sync], DEMO_VAR_DIR [var] (keys, the simulator's state, logs).
set -euo pipefail
cd "$(dirname "$0")/.."
var=${DEMO_VAR_DIR:-var}
mkdir -p "$var"

# Everything started in the background is stopped, and waited for, however this script ends. A supervisor's
# SIGTERM reaches this process alone, and bash runs traps only between commands, so the long-running processes
# run in the background and the script waits on them.
started=()
stop_started() {
  trap - EXIT INT TERM HUP
  local pid
  for pid in "${started[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${started[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_started EXIT
trap 'stop_started; exit 130' INT
trap 'stop_started; exit 143' TERM
trap 'stop_started; exit 129' HUP

if [ ! -f "$var/demo.env" ]; then
  echo "[demo] generating $var/demo.env (keys and the admin password for this checkout)"
  .venv/bin/python - > "$var/demo.env" <<'PY'
import secrets
from cryptography.fernet import Fernet
print(f"DJANGO_SECRET_KEY={secrets.token_urlsafe(50)}")
print(f"ENGAGE_ENCRYPTION_KEYS={Fernet.generate_key().decode()}")
print(f"DEMO_ADMIN_PASSWORD={secrets.token_urlsafe(12)}")
PY
  chmod 600 "$var/demo.env"
fi
set -a
# shellcheck disable=SC1091
. "$var/demo.env"
DEBUG=1
SESSION_COOKIE_SECURE=0
CSRF_COOKIE_SECURE=0
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/engage_sync}
WEB_PORT=${WEB_PORT:-8000}
FLOWER_PORT=${FLOWER_PORT:-5555}
# Flower reads its credentials from the environment (ops/flower_config.py): never on a command line `ps` shows.
FLOWER_BASIC_AUTH="admin:${DEMO_ADMIN_PASSWORD}"
set +a

db_name=${DATABASE_URL##*/}
if ! psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$db_name'" | grep -q 1; then
  echo "[demo] creating database $db_name"
  createdb -h 127.0.0.1 -U postgres "$db_name"
fi
.venv/bin/python manage.py migrate --no-input -v 0

# The Microsoft 365 simulator (HTTPS on loopback, state kept in $var/simulator), then the demo brokerage in it.
SIMULATOR_PORT=${SIMULATOR_PORT:-8443}
.venv/bin/python -m simulator --state-dir "$var/simulator" serve --port "$SIMULATOR_PORT" --persist \
  > "$var/simulator.log" 2>&1 &
started+=($!)
.venv/bin/python -m simulator --state-dir "$var/simulator" --wait 30 seed-demo --json "$var/demo-brokerage.json"
# The admin password comes from DEMO_ADMIN_PASSWORD (exported above), never a command line.
.venv/bin/python manage.py demo_setup --brokerage-json "$var/demo-brokerage.json" --api-key-file "$var/demo-api-key"

cat <<MSG

  Engage Sync is starting.
    Admin:   http://127.0.0.1:${WEB_PORT}/admin/   user: admin   password: $DEMO_ADMIN_PASSWORD
    Flower:  http://127.0.0.1:${FLOWER_PORT}/      user: admin   password: $DEMO_ADMIN_PASSWORD
    CRM API: http://127.0.0.1:${WEB_PORT}/api/     header: Authorization: Api-Key \$(cat $var/demo-api-key)
    Microsoft 365 simulator: https://127.0.0.1:${SIMULATOR_PORT}/  (python -m simulator --help; log in $var/simulator.log)
  (the password is kept in $var/demo.env). Ctrl-C stops every process.

MSG
# honcho stops the Procfile's processes (each in its own process group) on SIGTERM, SIGKILL after 5 s.
.venv/bin/honcho start -f Procfile &
started+=($!)
wait "${started[-1]}"
