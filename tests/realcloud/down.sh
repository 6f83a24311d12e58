#!/usr/bin/env bash
# Stops what up.sh started, by PID file (each service was started as its own session
# leader, so its workers go with it): the OpenStack services together first, then
# RabbitMQ and epmd, then MariaDB. SIGTERM, then SIGKILL after a bound (the Nova
# services and designate-producer ignore SIGTERM). Leaves $REALCLOUD_DIR (logs, data) in place;
# up.sh wipes it when it starts over.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

t0=$(date +%s)
openstack=()
for s in "${RC_SERVICES[@]}"; do
  case "$s" in mariadb | epmd | rabbitmq) ;; *) openstack+=("$s") ;; esac
done
rc_stop 5 "${openstack[@]}"
rc_stop 30 rabbitmq
rc_stop 10 epmd
rc_stop 30 mariadb
rc_log "down in $(($(date +%s) - t0)) s"
