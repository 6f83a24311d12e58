#!/usr/bin/env bash
# Stops what up.sh started, by PID file, in reverse start order. Each service gets
# SIGTERM, then SIGKILL after a bound (the Nova services ignore SIGTERM for a while).
# Leaves $REALCLOUD_DIR (logs, data) in place; up.sh wipes it when it starts over.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$(date +%s)
for ((i = ${#RC_SERVICES[@]} - 1; i >= 0; i--)); do
  s="${RC_SERVICES[$i]}"
  case "$s" in
    nova-*|cinder-*) bound=5 ;;
    mariadb|rabbitmq) bound=30 ;;
    *) bound=10 ;;
  esac
  if rc_pid "$s" >/dev/null; then
    rc_stop "$s" "$bound"
    rc_log "stopped $s"
  fi
done
rc_log "down in $(($(date +%s) - t0)) s"
