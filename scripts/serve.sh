#!/usr/bin/env bash
# Serve the platform on the embedded default: SQLite, in-memory channel layer,
# reference data and the demo network loaded, on http://127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/venv.sh ""
unset DATABASE_URL REDIS_URL
export DEBUG="${DEBUG:-1}"
PORT="${PORT:-8000}"
# The loaders stay quiet so that the addresses and the demo logins end the output.
export LOG_LEVEL="${LOG_LEVEL:-WARNING}"
bash scripts/npm.sh || true
echo "==> compiling translations"
.venv/bin/python manage.py compile_catalogs >/dev/null
echo "==> migrating the database (var/helpdesk.sqlite3)"
.venv/bin/python manage.py migrate --noinput -v0
echo "==> loading reference data"
.venv/bin/python manage.py load_reference_data >/dev/null
echo "==> loading the demo network (open around the clock, for trying it out)"
.venv/bin/python manage.py load_demo_network --always-open --quiet
echo "==> simulating eight weeks of support history in three regions for the statistics demo (once)"
.venv/bin/python manage.py simulate_traffic --weeks 8 --seed 1 --regions 11 12 19 --if-empty >/dev/null
.venv/bin/python manage.py rollup_stats >/dev/null
echo
echo "Customer page:     http://127.0.0.1:${PORT}/"
echo "Supporter console: http://127.0.0.1:${PORT}/console/"
echo "Admin:             http://127.0.0.1:${PORT}/admin/"
echo "API docs:          http://127.0.0.1:${PORT}/api/docs/"
echo "Statistics:        http://127.0.0.1:${PORT}/stats/  (e.g. coord-pohjois-karjala)"
if [ "${PHONE_DEMO:-}" = "1" ]; then
  echo "Phone (demo):      PHONE_DEMO=1 .venv/bin/python manage.py simulate_call --url http://127.0.0.1:${PORT} --from +358131234567 --digits 1"
fi
echo "(another port: PORT=8001 make serve)"
echo
.venv/bin/python manage.py demo_logins
exec .venv/bin/python -m uvicorn helpdesk.asgi:application --host 127.0.0.1 --port "$PORT" --lifespan on \
  --ws-per-message-deflate false --ws-ping-interval 0 --log-level warning
