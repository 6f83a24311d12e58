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
RC_SERVICES=(mariadb epmd rabbitmq keystone placement glance neutron neutron2
  cinder-api cinder-scheduler cinder-volume cinder-backup
  nova-api nova-conductor nova-scheduler nova-compute barbican
  manila-api manila-scheduler manila-share
  named designate-central designate-worker designate-producer designate-mdns designate-api)

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

# rc_stop BOUND NAME...: SIGTERM the services' sessions together, SIGKILL what is
# left after BOUND seconds (the Nova services ignore SIGTERM for a while).
rc_stop() {
  local bound="$1" name pid i left
  shift
  local leaders=()
  for name in "$@"; do
    if pid="$(rc_pid "$name")"; then
      leaders+=("$pid")
      # shellcheck disable=SC2046
      kill -TERM $(rc_session_pids "$pid") 2>/dev/null || true
    fi
  done
  for ((i = 0; i < bound * 10; i++)); do
    left=""
    for pid in "${leaders[@]}"; do left+="$(rc_session_pids "$pid")"; done
    [[ -z "$left" ]] && break
    sleep 0.1
  done
  for name in "$@"; do
    pid="$(cat "$RC_RUN/$name.pid" 2>/dev/null)" || continue
    left="$(rc_session_pids "$pid")"
    if [[ -n "$left" ]]; then
      rc_log "$name ignored SIGTERM for ${bound}s: SIGKILL"
      # shellcheck disable=SC2086
      kill -KILL $left 2>/dev/null || true
    fi
    rm -f "$RC_RUN/$name.pid"
  done
}

# rc_start NAME CMD...: starts CMD in its own session (so its workers stop with it),
# logging to $RC_LOG/NAME.log, and keeps the command line in $RC_RUN/NAME.cmd so that
# rc_restart (the chaos stage) can start the same service again.
rc_start() {
  local name="$1" i
  shift
  printf '%q ' "$@" >"$RC_RUN/$name.cmd"
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$RC_RUN/$name.pid" "$@" \
    >>"$RC_LOG/$name.log" 2>&1 </dev/null &
  for ((i = 0; i < 50; i++)); do [[ -s "$RC_RUN/$name.pid" ]] && return 0; sleep 0.1; done
  rc_die "$name: no PID file after 5 s"
}

# rc_restart NAME: starts a service stopped by rc_stop again, with the command up.sh
# started it with.
rc_restart() {
  local name="$1" cmd
  cmd="$(cat "$RC_RUN/$name.cmd")" || rc_die "$name: no $RC_RUN/$name.cmd (not started by up.sh?)"
  eval "rc_start $(printf '%q' "$name") $cmd"
}
