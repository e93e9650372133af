#!/usr/bin/env bash
# Run the whole test suite against real PostgreSQL and Redis, and the browser
# tests in Debian's Chromium. Starts the services when installed but stopped.
set -uo pipefail
cd "$(dirname "$0")/.."
given_db="${DATABASE_URL:-}"
source scripts/venv.sh "test" || exit 1
set +e

fail() { echo "ERROR: $*" >&2; exit 1; }

# --- PostgreSQL --------------------------------------------------------------
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/helpdesk}"
if [ -z "$given_db" ] && ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    version=$(ls /etc/postgresql | sort -V | tail -n1)
    echo "==> starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
fi
.venv/bin/python - <<'PY' || fail "PostgreSQL does not answer at \$DATABASE_URL ($DATABASE_URL). Install it (Debian: apt-get install postgresql) or set DATABASE_URL to a server where this user may create databases."
import os, psycopg, dj_database_url
cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
psycopg.connect(dbname="postgres", user=cfg["USER"] or None, password=cfg["PASSWORD"] or None,
                host=cfg["HOST"] or None, port=cfg["PORT"] or None, connect_timeout=5).close()
PY

# --- Redis -------------------------------------------------------------------
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379/0}"
redis_ok() { .venv/bin/python -c "import os,redis; redis.Redis.from_url(os.environ['REDIS_URL'], socket_timeout=3).ping()" 2>/dev/null; }
if ! redis_ok; then
  if command -v redis-server >/dev/null 2>&1 && [ "$REDIS_URL" = "redis://127.0.0.1:6379/0" ]; then
    echo "==> starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/helpdesk-redis.log
    for _ in $(seq 1 20); do redis_ok && break; sleep 0.5; done
  fi
  redis_ok || fail "Redis does not answer at \$REDIS_URL ($REDIS_URL). Install it (Debian: apt-get install redis-server) or set REDIS_URL."
fi

# --- coturn for the relay-only video tests (tests/turn.py starts a throwaway one) ---
if [ ! -x /usr/bin/turnserver ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's coturn for the relay-only video tests"
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q coturn) >/tmp/helpdesk-coturn-install.log 2>&1 \
      || fail "could not install coturn (see /tmp/helpdesk-coturn-install.log)"
  else
    fail "the relay-only video tests need Debian's coturn at /usr/bin/turnserver (apt-get install coturn)"
  fi
fi

# --- Chromium for the browser tests -------------------------------------------
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing Debian's chromium for the browser tests"
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) >/tmp/helpdesk-chromium-install.log 2>&1 \
      || fail "could not install chromium (see /tmp/helpdesk-chromium-install.log)"
  else
    fail "the browser tests need Debian's chromium at /usr/bin/chromium (apt-get install chromium)"
  fi
fi

# --- Browser libraries from npm (optional: pages say what is off without them) ---
bash scripts/npm.sh || true
# Test-only libraries (axe-core) into var/npm.
bash scripts/browser_libs.sh || echo "WARNING: browser libraries could not be installed; the axe checks will fail" >&2

# --- Lint, migrations, translations ---------------------------------------------
echo "==> ruff"
.venv/bin/ruff check . || fail "ruff check found problems"
.venv/bin/ruff format --check . || fail "ruff format would change files (run: .venv/bin/ruff format .)"
echo "==> migrations are up to date"
# Development settings for these checks (DEBUG is off by default; the tests
# themselves use tests/settings.py).
DEBUG=1 DATABASE_URL= REDIS_URL= HELPDESK_VAR_DIR="$(mktemp -d)" .venv/bin/python manage.py makemigrations --check --dry-run >/dev/null \
  || fail "models changed without migrations (run: manage.py makemigrations)"
DEBUG=1 .venv/bin/python manage.py compile_catalogs >/dev/null || fail "translation catalogs do not compile"

export TEST_FAST_PASSWORD_HASHER=1
# Our own pub/sub namespace: nothing else on this Redis hears the tests.
export CHANNEL_LAYER_PREFIX="helpdesk-test-$$"
# --- Tests ---------------------------------------------------------------------
# Two test processes by default, one per core (pytest-xdist, whole files per
# process, each with its own test database and channel-layer prefix);
# TEST_WORKERS=1 runs everything in one process.
workers="${TEST_WORKERS:-2}"
parallel=()
if [ "$workers" -gt 1 ] 2>/dev/null; then parallel=(-n "$workers" --dist loadfile); fi
echo "==> pytest (database: $DATABASE_URL, channel layer: Redis pub/sub at $REDIS_URL, processes: ${workers})"
.venv/bin/python -m pytest "${parallel[@]}" "$@"
status=$?
echo "tests used: PostgreSQL at ${DATABASE_URL%%\?*} and the Redis pub/sub channel layer (realtime/layers.py) at $REDIS_URL"
exit $status
