#!/usr/bin/env bash
# The chaos stage (issue #17 part 1), on the test bed run-stage.sh brought up and seeded.
# For each fault:
#   seed 4 leaked jobs (no new survivors: the stage's own stay, with their attachments
#   recorded) -> start a sweep -> once it is deleting, inject the fault -> the first
#   sweep ends however it ends (within 4 minutes) -> an admin resets the deletes the
#   fault lost (stuck in progress) -> a second sweep must exit 0 -> verify: every selected
#   resource gone, every survivor intact with the same attachments (nothing kept left
#   half-detached) -> the first sweep's report must say what it retried and why.
# Faults: neutron-server stopped for 20 s; RabbitMQ restarted (deletes in flight stall;
# Nova may undo a server's delete, Cinder may lose a snapshot's); MariaDB stopped for 10 s (every service's database connections
# refused); Keystone restarted (the services' token caches cold).
# While each fault is on, chaos_probe.py records how the services answered
# ($OUT/chaos-<fault>-answers.json): the simulator's chaos faults copy those answers.
#
# Usage: chaos.sh STACKSWEEP_BIN STAGE_MANIFEST OUT
# Environment: CHAOS_FAULTS (default "neutron rabbitmq mariadb keystone"),
#              CHAOS_JOBS (default 4).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BIN="$1"
STAGE_MANIFEST="$2"
OUT="$3"
PY="$RC_VENV/bin/python"
export OS_CLIENT_CONFIG_FILE="$RC_DIR/clouds.yaml"

http_ok() { # URL: any answer below 500
  local code
  code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$1") || return 1
  [[ $code != 000 && $code -lt 500 ]]
}
wait_ok() { # WHAT TIMEOUT CMD...: polls CMD until it succeeds
  local what="$1" timeout="$2" deadline=$(($(date +%s) + $2))
  shift 2
  until "$@" >/dev/null 2>&1; do
    (($(date +%s) < deadline)) || rc_die "chaos: $what not back after $timeout s"
    sleep 0.5
  done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# apis_steady: three rounds in a row, a second apart, in which Nova, Neutron, Cinder,
# Glance, Barbican and Designate each answer a list. A service whose database or queue came back
# can still drop a request or two while its workers reconnect; the next round's
# seeding must not meet that (a CI run failed there: nova-api, after the MariaDB round).
apis_steady() {
  "$PY" - <<'EOF'
import sys, time
import openstack
deadline, steady, last = time.time() + 120, 0, None
while steady < 3:
    if time.time() > deadline:
        sys.exit(f"APIs not steady after 120 s (last error: {last})")
    try:
        conn = openstack.connect(cloud="ci")
        next(iter(conn.compute.servers(limit=1)), None)
        next(iter(conn.network.ports(limit=1)), None)
        next(iter(conn.block_storage.volumes(limit=1)), None)
        next(iter(conn.image.images(limit=1)), None)
        next(iter(conn.key_manager.secrets(limit=1)), None)
        next(iter(conn.dns.zones(limit=1)), None)
        steady += 1
    except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
        steady, last = 0, exc
    time.sleep(1)
EOF
}

# inject FAULT: the fault itself, returning once the service is back and healthy.
inject() {
  case "$1" in
  neutron)
    rc_stop 10 neutron
    sleep 20
    rc_restart neutron
    wait_ok neutron 120 http_ok http://127.0.0.1:9696/
    ;;
  rabbitmq)
    rc_stop 30 rabbitmq
    rc_restart rabbitmq
    wait_ok rabbitmq 120 port_open 5672
    ;;
  mariadb)
    rc_stop 30 mariadb
    sleep 10
    rc_restart mariadb
    wait_ok mariadb 60 mariadb-admin --no-defaults --socket="$RC_DATA/mysql/mysqld.sock" ping
    ;;
  keystone)
    rc_stop 10 keystone
    rc_restart keystone
    wait_ok keystone 120 http_ok http://127.0.0.1:5000/v3
    ;;
  *) rc_die "chaos: unknown fault $1" ;;
  esac
}

# An operator's step after each fault: a delete the fault lost stays in progress for ever
# (Cinder kept snapshots `deleting` after the RabbitMQ restart; Nova kept a server's task
# `deleting` after the MariaDB outage) and the first sweep reports it stuck; only an admin
# can reset it (to `error`, which a member may delete). Prints how many it reset.
# Everything else the janitor must finish by itself.
reset_lost_deletes() {
  "$PY" - <<'EOF'
import openstack
pid = openstack.connect(cloud="ci").current_project_id
admin = openstack.connect(cloud="admin")
bs, cs = admin.block_storage, admin.compute
n = 0
def reset(proxy, path, body):
    global n
    resp = proxy.post(path, json=body)
    if resp.status_code >= 400:
        raise SystemExit(f"reset {path}: HTTP {resp.status_code} {resp.text}")
    n += 1
for path, items in (("snapshots", bs.snapshots), ("volumes", bs.volumes)):
    for item in items(all_projects=True, project_id=pid, status="deleting"):
        reset(bs, f"/{path}/{item.id}/action", {"os-reset_status": {"status": "error"}})
for server in cs.servers(all_projects=True, project_id=pid):
    if server.task_state == "deleting":
        reset(cs, f"/servers/{server.id}/action", {"os-resetState": {"state": "error"}})
print(n)
EOF
}

# The retries a sweep report names, per service: "network transport 12; ...".
retried() {
  "$PY" - "$1" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
parts = []
def walk(node):
    if isinstance(node, dict):
        services = node.get("api", {}).get("services") if isinstance(node.get("api"), dict) else None
        for name, api in (services or {}).items():
            why = ", ".join(f"{k} {v}" for k, v in api.get("retried", {}).items() if v)
            if why:
                parts.append(f"{name} {why}")
        for v in node.values():
            walk(v)
    elif isinstance(node, list):
        for v in node:
            walk(v)
walk(doc)
print("; ".join(parts))
EOF
}

for fault in ${CHAOS_FAULTS:-neutron rabbitmq mariadb keystone}; do
  t0=$(date +%s)
  base="$OUT/chaos-$fault"
  apis_steady || rc_die "chaos $fault: the services did not settle before seeding"
  "$PY" "$RC_HERE/seed.py" --cloud ci --jobs "${CHAOS_JOBS:-4}" --async-server-delete \
    --no-survivors --out "$base-seeded.json" 2>"$base-seed.log" ||
    { tail -n 20 "$base-seed.log" >&2; rc_die "chaos $fault: seeding failed"; }
  # This round's selection, the stage's survivors.
  "$PY" - "$base-seeded.json" "$STAGE_MANIFEST" "$base-manifest.json" <<'EOF'
import json, sys
round_, stage = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
seen = {(s["kind"], s["id"]) for s in round_["survivors"]}
round_["survivors"] += [s for s in stage["survivors"] if (s["kind"], s["id"]) not in seen]
json.dump(round_, open(sys.argv[3], "w"), indent=1)
EOF
  "$PY" "$RC_HERE/verify.py" --cloud ci "$base-manifest.json" --facts-out "$base-facts.json"
  mapfile -t sweep_args < <("$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["sweep_args"]))' "$base-manifest.json")
  cmd=("$BIN" sweep --cloud ci "${sweep_args[@]}" --output json)

  # The first sweep stops waiting after 4 minutes: a delete the fault lost is reported
  # stuck then, not waited for until the default 30 minutes. At most 8 requests per
  # second per service, so that it is still deleting when the fault bites (unpaced, it
  # may finish 4 jobs before MariaDB has even stopped).
  # Emptied here, not only by the background job's redirection: the wait below must not
  # read an earlier stage's log left in $OUT (it did, and the fault struck before the
  # sweep had even authenticated).
  : >"$base-sweep1.log"
  "${cmd[@]}" --deadline 4m --requests-per-second 8 >"$base-sweep1.json" 2>"$base-sweep1.log" &
  sweep_pid=$!
  # The fault starts once the sweep is deleting.
  for ((i = 0; i < 600; i++)); do
    grep -q ' deleted kind=\| delete requested\|deleting' "$base-sweep1.log" 2>/dev/null && break
    kill -0 "$sweep_pid" 2>/dev/null || break
    sleep 0.1
  done
  rm -f "$base.stop"
  "$PY" "$RC_HERE/chaos_probe.py" --cloud ci --fault "$fault" --stop-file "$base.stop" \
    --out "$base-answers.json" 2>"$base-probe.log" &
  probe_pid=$!
  sleep 0.5
  rc_log "chaos $fault: injecting while the sweep deletes"
  inject "$fault"
  rc_log "chaos $fault: service back after $(($(date +%s) - t0)) s since seeding began"
  rc1=0
  wait "$sweep_pid" || rc1=$?
  touch "$base.stop"
  wait "$probe_pid" || rc_log "chaos $fault: the probe failed (see $base-probe.log)"
  rc_log "chaos $fault: an admin reset $(reset_lost_deletes) delete(s) the fault lost"

  rc2=0
  # Bounded too: a delete the fault lost must fail the round, not hold CI for 30 minutes.
  "${cmd[@]}" --deadline 5m >"$base-sweep2.json" 2>"$base-sweep2.log" || rc2=$?
  ((rc2 == 0)) || { tail -n 30 "$base-sweep2.log" >&2; rc_die "chaos $fault: second sweep exited $rc2 (want 0)"; }
  "$PY" "$RC_HERE/verify.py" --cloud ci "$base-manifest.json" --facts "$base-facts.json" ||
    rc_die "chaos $fault: not converged or a survivor touched (see $base-*.json)"
  why="$(retried "$base-sweep1.json")"
  rc_log "chaos $fault: first sweep exited $rc1; retried: ${why:-nothing}"
  case "$fault" in
  neutron | mariadb)
    [[ -n "$why" ]] || rc_die "chaos $fault: the first sweep's report names no retry"
    ;;
  esac
  printf '%-10s %4d s  first sweep exit %d  retried: %s\n' "$fault" $(($(date +%s) - t0)) \
    "$rc1" "${why:-nothing}" | tee -a "$OUT/chaos-summary.txt" >&2
done
rc_log "chaos stage passed"
