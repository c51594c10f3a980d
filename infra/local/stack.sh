#!/usr/bin/env bash
# The local stack's emulator: moto in server mode, pinned, in a virtualenv of the data directory.
#   stack.sh install   create the venv and install requirements.txt (once per change)
#   stack.sh start     install, then start moto on 127.0.0.1:$SLM_LOCAL_PORT (default 5140) if not running
#   stack.sh stop      stop it
#   stack.sh status    say whether it answers
# Resources are created by `slm local up` (from template.yaml), not here.
#
# The state (venv, pid and log files) goes to $SLM_DATA_DIR, by default .local in the checkout
# this script lies in; the venv to $SLM_VENV, by default $SLM_DATA_DIR/venv (point it at an
# existing one to share it). moto_server.py and requirements.txt lie beside this script: in the
# checkout, or where an installed `slm` writes them (<data dir>/emulator).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
STATE="${SLM_DATA_DIR:-$(cd "$HERE/../.." && pwd)/.local}"
VENV="${SLM_VENV:-$STATE/venv}"
PORT="${SLM_LOCAL_PORT:-5140}"
URL="http://127.0.0.1:$PORT"
REQUIREMENTS="$HERE/requirements.txt"

answers() {
  python3 - "$URL" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)
except Exception:
    sys.exit(1)
PY
}

install() {
  mkdir -p "$STATE"
  local stamp="$VENV/.requirements.sha256"
  local want
  want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
  if [[ -x "$VENV/bin/moto_server" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  echo "slm: installing the local stack's Python tools into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" > "$stamp"
}

start() {
  install
  if answers; then
    enable_step_functions
    return 0
  fi
  echo "slm: starting moto on $URL" >&2
  # moto with the local stack's corrections where it answers unlike S3 (see the script).
  nohup "$VENV/bin/python" "$HERE/moto_server.py" -H 127.0.0.1 -p "$PORT" > "$STATE/moto-$PORT.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 100); do
    if answers; then
      # Ours, unless another start won the port at the same moment (then ours has exited).
      if kill -0 "$pid" 2>/dev/null; then
        echo "$pid" > "$STATE/moto-$PORT.pid"
      fi
      enable_step_functions
      return 0
    fi
    sleep 0.2
  done
  echo "slm: moto did not answer on $URL; see $STATE/moto-$PORT.log" >&2
  exit 1
}

# Real executions of state machines (service integrations included), before anything is created.
enable_step_functions() {
  python3 - "$URL" <<'PY'
import json, sys, urllib.request
body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
req = urllib.request.Request(sys.argv[1] + "/moto-api/config", data=body, headers={"Content-Type": "application/json"}, method="POST")
urllib.request.urlopen(req, timeout=5)
PY
}

# Stops the emulator on this port: the one started with this data directory (its pid file), and
# any other this script started on the port (found by its command line, from any checkout or data
# directory), so that a stop always frees it.
stop() {
  local pids=""
  if [[ -f "$STATE/moto-$PORT.pid" ]]; then
    pids="$(cat "$STATE/moto-$PORT.pid")"
  fi
  pids="$pids $(pgrep -f "moto_server\.py -H 127\.0\.0\.1 -p $PORT\$" || true)"
  for pid in $pids; do
    kill "$pid" 2>/dev/null || true
  done
  # A busy emulator can take a while to exit; it must be gone before another one binds the port.
  for _ in $(seq 1 50); do
    local alive=""
    for pid in $pids; do
      if kill -0 "$pid" 2>/dev/null; then alive=1; fi
    done
    [[ -z "$alive" ]] && break
    sleep 0.2
  done
  for pid in $pids; do
    kill -9 "$pid" 2>/dev/null || true
  done
  rm -f "$STATE/moto-$PORT.pid"
}

status() {
  if answers; then echo "moto answers on $URL"; else echo "moto is not running on $URL"; exit 3; fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
