#!/usr/bin/env bash
# `make run`: start the embedded FerretDB unless MONGODB_URL is set, seed the tutorials, serve
# the API in the foreground. Ctrl-C stops everything this script started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py="$root/.venv/bin/python"
started_db=""

stop_all() {
  if [ -n "$started_db" ]; then
    "$py" -m app.embedded_server stop || true
  fi
}
trap stop_all EXIT INT TERM

if [ -z "${MONGODB_URL:-}" ]; then
  if ! url=$("$py" -m app.embedded_server url 2>/dev/null); then
    url=$("$py" -m app.embedded_server start)
    started_db=1
  fi
  echo "embedded FerretDB at $url"
fi

"$py" -m app migrate
"$py" -m app seed
"$py" -m uvicorn app.main:asgi --factory --host 127.0.0.1 --port "${PORT:-8000}" --no-access-log
