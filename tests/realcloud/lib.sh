# Shared settings and helpers for the real-cloud test bed scripts (sourced, not run).
# shellcheck shell=bash

RC_HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RC_DIR="${REALCLOUD_DIR:-/tmp/stacksweep-realcloud}"
RC_VENV="${REALCLOUD_VENV:-$HOME/.cache/stacksweep/realcloud-venv}"
RC_RUN="$RC_DIR/run"
RC_LOG="$RC_DIR/log"
RC_ETC="$RC_DIR/etc"
RC_DATA="$RC_DIR/data"
RC_TIMINGS="$RC_DIR/timings.txt"

# Every process up.sh starts, in start order (down.sh stops them in reverse).
RC_SERVICES=(mariadb epmd rabbitmq keystone placement glance neutron
  cinder-api cinder-scheduler cinder-volume
  nova-api nova-conductor nova-scheduler nova-compute)

rc_log() { printf '[realcloud %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
rc_die() { rc_log "ERROR: $*"; exit 1; }

# rc_pid NAME: prints the live PID of a service started by up.sh, or fails.
rc_pid() {
  local f="$RC_RUN/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(cat "$f")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && { echo "$pid"; return 0; }
  return 1
}

# rc_pids_of_group PID: every live process in PID's session (setsid made PID its leader).
rc_session_pids() {
  ps -eo pid=,sid= | awk -v s="$1" '$2 == s { print $1 }'
}

# rc_stop NAME [BOUND]: SIGTERM the service's session, SIGKILL after BOUND seconds.
rc_stop() {
  local name="$1" bound="${2:-15}" pid pids i
  pid="$(rc_pid "$name")" || { rm -f "$RC_RUN/$name.pid"; return 0; }
  pids="$(rc_session_pids "$pid")"
  [[ -n "$pids" ]] || pids="$pid"
  # shellcheck disable=SC2086
  kill -TERM $pids 2>/dev/null || true
  for ((i = 0; i < bound * 10; i++)); do
    pids="$(rc_session_pids "$pid")"
    [[ -z "$pids" ]] && break
    sleep 0.1
  done
  if [[ -n "$pids" ]]; then
    rc_log "$name ignored SIGTERM for ${bound}s: SIGKILL"
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
  fi
  rm -f "$RC_RUN/$name.pid"
}
