#!/usr/bin/env bash
# The local stack's emulator, pinned, in a virtualenv of the data directory: moto in server mode
# (the default), or LocalStack's runtime with SLM_EMULATOR=localstack.
#   stack.sh install   create the virtualenv and install the pinned packages (once per change)
#   stack.sh start     install, then start the emulator on 127.0.0.1:$SLM_LOCAL_PORT if not running
#                      (default 5140 for moto, 4566 for LocalStack)
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
EMULATOR="${SLM_EMULATOR:-moto}"
case "$EMULATOR" in
  moto) PORT="${SLM_LOCAL_PORT:-5140}" ;;
  localstack) PORT="${SLM_LOCAL_PORT:-4566}" ;;
  *) echo "slm: SLM_EMULATOR is moto or localstack, not $EMULATOR" >&2; exit 2 ;;
esac
URL="http://127.0.0.1:$PORT"
VENV="${SLM_VENV:-$STATE/venv}"
REQUIREMENTS="$HERE/requirements.txt"

answers() {
  if [[ "$EMULATOR" == localstack ]]; then localstack_answers; return; fi
  python3 - "$URL" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)
except Exception:
    sys.exit(1)
PY
}

install() {
  if [[ "$EMULATOR" == localstack ]]; then localstack_install; return; fi
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
  if [[ "$EMULATOR" == localstack ]]; then localstack_start; return; fi
  if answers; then
    enable_step_functions
    return 0
  fi
  # One that runs but is too busy to answer at once is waited for, not doubled: a second one
  # would fail to bind and leave a pid file naming a process that is gone.
  if pgrep -f "moto_server\.py -H 127\.0\.0\.1 -p $PORT\$" >/dev/null; then
    for _ in $(seq 1 150); do
      if answers; then
        enable_step_functions
        return 0
      fi
      sleep 0.2
    done
    echo "slm: a moto runs on port $PORT but does not answer; stop it first (SLM_LOCAL_PORT=$PORT $0 stop)" >&2
    exit 1
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
# The setting is idempotent: a moto busy with another suite's requests is given time and asked
# again rather than taken for dead.
enable_step_functions() {
  python3 - "$URL" <<'PY'
import json, sys, time, urllib.request
body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
for attempt in range(1, 5):
    try:
        req = urllib.request.Request(sys.argv[1] + "/moto-api/config", data=body, headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(req, timeout=30)
        break
    except Exception as e:
        if attempt == 4:
            sys.exit(f"slm: moto did not take its configuration: {e}")
        time.sleep(attempt)
PY
}

# The pid a pid file holds, if that process is still the emulator it names (its command line
# matches the pattern): a stale file's pid may be any process by now, which is not ours to kill.
pid_of() {
  local file="$1" pattern="$2" pid
  [[ -f "$file" ]] || return 0
  pid="$(cat "$file")"
  if [[ "$pid" =~ ^[0-9]+$ ]] && { tr '\0' ' ' < "/proc/$pid/cmdline"; } 2>/dev/null | grep -Eq "$pattern"; then
    echo "$pid"
  else
    echo "slm: $file names no emulator (pid ${pid:-none}); ignored" >&2
  fi
}

# Stops the emulator on this port: the one started with this data directory (its pid file), and
# any other this script started on the port (found by its command line, from any checkout or data
# directory), so that a stop always frees it.
stop() {
  if [[ "$EMULATOR" == localstack ]]; then localstack_stop; return; fi
  local pids
  pids="$(pid_of "$STATE/moto-$PORT.pid" "moto_server\.py -H 127\.0\.0\.1 -p $PORT( |\$)")"
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
  if answers; then echo "$EMULATOR answers on $URL"; else echo "$EMULATOR is not running on $URL"; exit 3; fi
}

# LocalStack: its runtime alone (the `localstack` CLI wants Docker and a token), Python 3.13 or
# newer (2026.3 imports warnings.deprecated), on loopback only, its DynamoDB served by moto through the project's provider plugin
# (localstack/plugin beside this script), its files under $STATE/localstack.
LS_DIR="$STATE/localstack"
LS_VENV="$LS_DIR/venv"
LS_SOURCES=("$HERE/localstack/requirements.txt" "$HERE/localstack/plugin/pyproject.toml" "$HERE/localstack/plugin/slm_localstack.py")

localstack_answers() {
  python3 - "$URL" <<'PY'
import json, sys, urllib.request
try:
    health = json.load(urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=2))
except Exception:
    sys.exit(1)
sys.exit(0 if health.get("services", {}).get("dynamodb") in ("available", "running") else 1)
PY
}

# The machine's Python 3.13 or newer: on the PATH, else pyenv's.
modern_python() {
  local candidates=(python3.14 python3.13 python3)
  if command -v pyenv >/dev/null 2>&1; then
    candidates+=("$(pyenv root)"/versions/3.1[3-9]*/bin/python3)
  fi
  for py in "${candidates[@]}"; do
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1; then
      echo "$py"
      return 0
    fi
  done
  echo "slm: LocalStack needs Python 3.13 or newer, and none was found (tried ${candidates[*]})" >&2
  return 1
}

localstack_install() {
  local stamp="$LS_VENV/.requirements.sha256"
  local want
  want="$(cat "${LS_SOURCES[@]}" | sha256sum | cut -d' ' -f1)"
  if [[ -x "$LS_VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    return 0
  fi
  echo "slm: installing LocalStack into .local/localstack/venv" >&2
  local python
  python="$(modern_python)"
  rm -rf "$LS_VENV"
  "$python" -m venv "$LS_VENV"
  "$LS_VENV/bin/pip" install --quiet --disable-pip-version-check -r "$HERE/localstack/requirements.txt"
  # Built from a copy: a build writes into its source folder.
  local build
  build="$(mktemp -d)"
  cp -r "$HERE/localstack/plugin/." "$build"
  "$LS_VENV/bin/pip" install --quiet --disable-pip-version-check "$build"
  rm -rf "$build"
  echo "$want" > "$stamp"
}

localstack_start() {
  if localstack_answers; then
    return 0
  fi
  echo "slm: starting LocalStack on $URL" >&2
  mkdir -p "$LS_DIR/home" "$LS_DIR/tmp" "$LS_DIR/fs"
  # Loopback only (hypercorn: the default gateway server listens on every interface whatever
  # GATEWAY_LISTEN says), no DNS server, no telemetry, no downloads; Kinesis and DynamoDB
  # Streams stay off (their helpers listen on every interface). Logs and CloudWatch serve the
  # template's log groups, dashboard and alarms (tests/deploy.rs).
  env HOME="$LS_DIR/home" TMPDIR="$LS_DIR/tmp" FILESYSTEM_ROOT="$LS_DIR/fs" \
    GATEWAY_LISTEN="127.0.0.1:$PORT" GATEWAY_SERVER=hypercorn LOCALSTACK_HOST="127.0.0.1:$PORT" \
    DNS_ADDRESS=0 DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 SQS_ENDPOINT_STRATEGY=path OVERRIDE_IN_DOCKER=0 \
    PROVIDER_OVERRIDE_DYNAMODB=moto PROVIDER_OVERRIDE_STEPFUNCTIONS=slm SERVICES=s3,sqs,dynamodb,stepfunctions,sns,events,sts,iam,cloudformation,logs,cloudwatch \
    nohup "$LS_VENV/bin/python" -m localstack.runtime.main > "$STATE/localstack-$PORT.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 150); do
    if localstack_answers; then
      if kill -0 "$pid" 2>/dev/null; then
        echo "$pid" > "$STATE/localstack-$PORT.pid"
      fi
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 0.2
  done
  echo "slm: LocalStack did not answer on $URL; see .local/localstack-$PORT.log" >&2
  kill -9 "$pid" 2>/dev/null || true
  exit 1
}

# SIGTERM, and SIGKILL after 10 s (LocalStack's shutdown hangs about half the time), by the
# process id this script started; then its S3 spool, which every LocalStack keeps in
# /tmp/localstack-s3-storage (hard-coded), once no other LocalStack runs.
localstack_stop() {
  local pid_file="$STATE/localstack-$PORT.pid"
  [[ -f "$pid_file" ]] || return 0
  local pid
  pid="$(pid_of "$pid_file" "localstack\.runtime\.main")"
  if [[ -n "$pid" ]]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  rm -rf "$LS_DIR/tmp" "$LS_DIR/fs"
  if ! pgrep -f "localstack\.runtime\.main" >/dev/null; then
    rm -rf /tmp/localstack-s3-storage
  fi
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
