#!/usr/bin/env bash
# Designate trial (not in the stage): Designate 23 with bind9, standalone beside the bed.
#   designate-trial.sh [up]   install what is missing, start everything, create a probe
#                             zone and wait for it to go ACTIVE (prints timings)
#   designate-trial.sh down   stop what `up` started (by PID file)
#   designate-trial.sh sweep BIN   seed leaked zones/recordsets, sweep them with stacksweep
#                             BIN by name, check the selection went and the rest stayed
#   designate-trial.sh conformance BIN   case designate-zone on the trial and on
#                             `BIN sim --service dns`, compared (exit 1 on a difference)
# Everything lives under DESIGNATE_TRIAL_DIR (default /tmp/designate-trial), on
# 127.0.0.1 only, on ports of its own: RabbitMQ 5673 (epmd 4370, distribution 25673),
# named 5354 (rndc 9530), designate-mdns 5355, the API 9001 (gunicorn, noauth, with a
# stand-in Keystone at /identity/v3: see designate_noauth.py). sqlite database.
# Venv: DESIGNATE_TRIAL_VENV (default ~/.cache/stacksweep/designate-venv).
set -euo pipefail

export REALCLOUD_DIR="${DESIGNATE_TRIAL_DIR:-/tmp/designate-trial}"
# shellcheck source=tests/realcloud/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
VENV="${DESIGNATE_TRIAL_VENV:-$HOME/.cache/stacksweep/designate-venv}"
DES_VERSION=23.0.0
SERVICES=(epmd rabbitmq named designate-central designate-worker designate-producer
  designate-mdns designate-api)
API=http://127.0.0.1:9001
PROJECT="${DESIGNATE_TRIAL_PROJECT:-0123456789abcdef0123456789abcdef}"
T0=$(date +%s.%N)

phase() { printf '%-14s %6.1f s\n' "$1" "$(echo "$(date +%s.%N) - $T0" | bc)" | tee -a "$RC_TIMINGS" >&2; }

down() {
  mkdir -p "$RC_RUN"
  local rev=() i
  for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do rev+=("${SERVICES[i]}"); done
  rc_stop 10 "${rev[@]}"
}

if [[ "${1:-up}" == down ]]; then
  down
  rc_log "designate trial stopped"
  exit 0
fi
if [[ "${1:-up}" == sweep ]]; then
  # stacksweep against the running trial, through the stand-in Keystone: leaked zones and
  # recordsets seeded, swept by name, then checked (designate_sweep.py).
  BIN="${2:?usage: $0 sweep STACKSWEEP_BIN}"
  OUT="$RC_DIR/results"
  mkdir -p "$OUT"
  cat >"$OUT/clouds.yaml" <<EOF
clouds:
  trial:
    auth_type: password
    auth:
      auth_url: $API/identity/v3
      username: trial-user
      password: unused-by-the-stand-in
      user_domain_name: Default
      project_id: $PROJECT
    region_name: RegionOne
EOF
  # One sweep of the trial; its report and log are $OUT/NAME.json and .log.
  trial_sweep() {
    OS_CLIENT_CONFIG_FILE="$OUT/clouds.yaml" "$BIN" sweep --cloud trial \
      --name-regex 'ci-job-1[.-]' --output json >"$OUT/$1.json" 2>"$OUT/$1.log"
  }
  "$VENV/bin/python" "$RC_HERE/designate_sweep.py" seed "$OUT/sweep-manifest.json"
  t=$(date +%s.%N)
  rc=0
  trial_sweep sweep || rc=$?
  rc_log "sweep exited $rc in $(echo "$(date +%s.%N) - $t" | bc | cut -c1-4) s (report $OUT/sweep.json)"
  "$VENV/bin/python" "$RC_HERE/designate_sweep.py" verify "$OUT/sweep-manifest.json"
  rc=0
  trial_sweep sweep-2 || rc=$?
  ((rc == 0)) || rc_die "the second sweep exited $rc (it should find nothing left)"
  rc_log "second sweep: nothing left (exit 0)"
  exit 0
fi
if [[ "${1:-up}" == conformance ]]; then
  # conformance's Designate case on the running trial (noauth) and on `BIN sim --service
  # dns`, compared as run-stage.sh compares the bed with the simulator: exit 1 on any
  # difference.
  BIN="${2:?usage: $0 conformance STACKSWEEP_BIN}"
  OUT="$RC_DIR/results"
  mkdir -p "$OUT"
  "$VENV/bin/python" "$RC_HERE/conformance.py" --cloud designate-trial \
    --dns-endpoint "$API" --project-id conformance-project --out "$OUT/conformance-real.json"
  sim_yaml="$OUT/sim-clouds.yaml"
  rm -f "$sim_yaml"
  "$BIN" sim --service dns --clouds-yaml "$sim_yaml" >"$OUT/sim.log" 2>&1 &
  sim_pid=$!
  for ((i = 0; i < 100; i++)); do [[ -s "$sim_yaml" ]] && break; sleep 0.2; done
  [[ -s "$sim_yaml" ]] || { kill "$sim_pid"; rc_die "stacksweep sim wrote no clouds.yaml in 20 s"; }
  rc=0
  OS_CLIENT_CONFIG_FILE="$sim_yaml" "$VENV/bin/python" "$RC_HERE/conformance.py" --cloud sim \
    --case designate-zone --out "$OUT/conformance-sim.json" >/dev/null || rc=$?
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  ((rc == 0)) || rc_die "conformance on the simulator failed"
  exec "$VENV/bin/python" "$RC_HERE/conformance.py" --compare "$OUT/conformance-real.json" \
    "$OUT/conformance-sim.json"
fi
[[ "${1:-up}" == up ]] || rc_die "usage: $0 [up|down|sweep BIN|conformance BIN]"

# ---------------------------------------------------------------- install
need_apt=()
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || need_apt+=(rabbitmq-server)
[[ -x /usr/sbin/named ]] || need_apt+=(bind9)
command -v rndc >/dev/null || need_apt+=(bind9-utils)
command -v bc >/dev/null || need_apt+=(bc)
if ((${#need_apt[@]})); then
  rc_log "apt-get install ${need_apt[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" \
    >/dev/null 2>&1 || { apt-get update -q >/dev/null &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need_apt[@]}" \
      >/dev/null; }
fi
if ! "$VENV/bin/python" -c "import designate, gunicorn, openstack" 2>/dev/null ||
  [[ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("designate"))')" != "$DES_VERSION" ]]; then
  rc_log "pip install designate==$DES_VERSION into $VENV (~60 s)"
  [[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "designate==$DES_VERSION" gunicorn openstacksdk==4.22.0
fi

# ---------------------------------------------------------------- fresh state
install_line=$(printf "%-14s %6.1f s" install "$(echo "$(date +%s.%N) - $T0" | bc)")
down
for sp in epmd:4370 rabbitmq:5673 rabbitmq:25673 named:5354 rndc:9530 mdns:5355 api:9001; do
  if ss -Hltn "sport = :${sp#*:}" | grep -q .; then
    rc_die "port ${sp#*:} (${sp%%:*}) is taken by something not ours"
  fi
done
rm -rf "$RC_DIR"
# On any failure from here on, what was started is stopped.
trap 'rc=$?; ((rc == 0)) || { rc_log "up failed: stopping what it started"; down; }; exit $rc' EXIT
mkdir -p "$RC_RUN" "$RC_LOG/rabbitmq" "$RC_ETC" "$RC_DATA"/{rabbitmq/mnesia,rabbitmq/home,bind,designate/lock}
E="$RC_ETC" D="$RC_DATA"
echo "$install_line" | tee "$RC_TIMINGS" >&2

rndc-confgen -a -A hmac-sha256 -k rndc-key -c "$E/rndc.key" >/dev/null 2>&1
cat >"$E/rndc.conf" <<EOF
include "$E/rndc.key";
options { default-key "rndc-key"; default-server 127.0.0.1; default-port 9530; };
EOF
cat >"$E/named.conf" <<EOF
include "$E/rndc.key";
controls { inet 127.0.0.1 port 9530 allow { 127.0.0.1; } keys { "rndc-key"; }; };
options {
  directory "$D/bind";
  pid-file "$RC_RUN/named.pidfile";
  session-keyfile "$D/bind/session.key";
  managed-keys-directory "$D/bind";
  listen-on port 5354 { 127.0.0.1; };
  listen-on-v6 { none; };
  allow-new-zones yes;
  allow-notify { 127.0.0.1; };
  allow-query { 127.0.0.1; };
  recursion no;
  dnssec-validation no;
};
EOF

cat >"$E/pools.yaml" <<EOF
- name: default
  description: trial pool (bind9 on 127.0.0.1:5354)
  attributes: {}
  ns_records:
    - hostname: ns1.trial.example.
      priority: 1
  nameservers:
    - host: 127.0.0.1
      port: 5354
  targets:
    - type: bind9
      description: bind9 on 127.0.0.1:5354
      masters:
        - host: 127.0.0.1
          port: 5355
      options:
        host: 127.0.0.1
        port: 5354
        rndc_host: 127.0.0.1
        rndc_port: 9530
        rndc_key_file: $E/rndc.key
        rndc_config_file: $E/rndc.conf
EOF

cat >"$E/designate.conf" <<EOF
[DEFAULT]
debug = False
state_path = $D/designate
transport_url = rabbit://guest:guest@127.0.0.1:5673/
host = designate-trial

[oslo_concurrency]
lock_path = $D/designate/lock

[coordination]
backend_url = file://$D/designate/coordination

[storage:sqlalchemy]
connection = sqlite:///$D/designate/designate.sqlite

[service:api]
auth_strategy = noauth
api_base_uri = $API/
enable_api_v2 = True
enable_api_admin = False
enable_host_header = False
enabled_extensions_v2 = quotas

[service:central]
workers = 1

[service:worker]
workers = 1
poll_delay = 1
poll_retry_interval = 1
poll_max_retries = 30

[service:producer]
workers = 1

[service:mdns]
listen = 127.0.0.1:5355
workers = 1
EOF
cp "$VENV/etc/designate/api-paste.ini" "$E/api-paste.ini"
sed -i "s|/etc/designate/healthcheck_disable|$E/healthcheck_disable|" "$E/api-paste.ini"
phase configs

# ---------------------------------------------------------------- RabbitMQ, named
chown -R rabbitmq: "$D/rabbitmq" "$RC_LOG/rabbitmq"
echo '[].' >"$D/rabbitmq/enabled_plugins"
chown rabbitmq: "$D/rabbitmq/enabled_plugins"
rc_start epmd epmd -address 127.0.0.1 -port 4370
rc_start rabbitmq runuser -u rabbitmq -- env HOME="$D/rabbitmq/home" \
  RABBITMQ_NODENAME=designate-trial@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT=5673 RABBITMQ_DIST_PORT=25673 ERL_EPMD_ADDRESS=127.0.0.1 \
  ERL_EPMD_PORT=4370 RABBITMQ_MNESIA_BASE="$D/rabbitmq/mnesia" \
  RABBITMQ_LOG_BASE="$RC_LOG/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$D/rabbitmq/enabled_plugins" \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
  /usr/lib/rabbitmq/bin/rabbitmq-server
rc_start named named -g -n 1 -c "$E/named.conf"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_for() { # NAME SECONDS CHECK...
  local name="$1" bound="$2" i
  shift 2
  for ((i = 0; i < bound * 5; i++)); do
    "$@" && return 0
    rc_pid "$name" >/dev/null || { tail -n 20 "$RC_LOG/$name.log" >&2; rc_die "$name exited"; }
    sleep 0.2
  done
  tail -n 20 "$RC_LOG/$name.log" >&2
  rc_die "$name not up in ${bound}s"
}
rndc_ok() { rndc -c "$E/rndc.conf" status >/dev/null 2>&1; }
wait_for named 20 rndc_ok
wait_for rabbitmq 90 port_open 5673
phase rabbit-named

# ---------------------------------------------------------------- Designate
export OS_DESIGNATE_CONFIG_DIR="$E"
DCONF=(--config-file "$E/designate.conf")
"$VENV/bin/designate-manage" "${DCONF[@]}" database sync >"$RC_LOG/db-sync.log" 2>&1 ||
  { tail -n 20 "$RC_LOG/db-sync.log"; rc_die "designate-manage database sync failed"; }
phase db-sync
for svc in central worker producer mdns; do
  rc_start "designate-$svc" "$VENV/bin/designate-$svc" "${DCONF[@]}"
done
rc_start designate-api env DESIGNATE_TRIAL_URL="$API" DESIGNATE_TRIAL_PROJECT="$PROJECT" \
  PYTHONPATH="$RC_HERE" "$VENV/bin/gunicorn" --no-control-socket -w 1 --threads 4 \
  -b 127.0.0.1:9001 --timeout 120 designate_noauth:application
wait_for designate-mdns 60 port_open 5355
wait_for designate-api 60 curl -sf --max-time 2 -o /dev/null "$API/"
# pool update goes through central over RPC: retried until central listens.
for ((i = 0; ; i++)); do
  if "$VENV/bin/designate-manage" "${DCONF[@]}" pool update --file "$E/pools.yaml" \
    >"$RC_LOG/pool-update.log" 2>&1; then break; fi
  ((i < 30)) || { tail -n 20 "$RC_LOG/pool-update.log"; rc_die "pool update failed"; }
  sleep 2
done
phase designate-up

# ---------------------------------------------------------------- probe zone
hdr=(-H "Content-Type: application/json" -H "X-Auth-Project-ID: trial-probe")
zone=$(curl -sf --max-time 20 "${hdr[@]}" -X POST "$API/v2/zones" \
  -d '{"name": "probe.trial.example.", "email": "ci@trial.example"}') ||
  rc_die "probe zone create failed"
zid=$(echo "$zone" | "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["id"])')
t=$(date +%s.%N)
for ((i = 0; ; i++)); do
  st=$(curl -sf --max-time 5 "${hdr[@]}" "$API/v2/zones/$zid" |
    "$VENV/bin/python" -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [[ "$st" == ACTIVE ]] && break
  [[ "$st" == ERROR ]] && rc_die "probe zone went ERROR (see $RC_LOG/designate-worker.log)"
  ((i < 600)) || rc_die "probe zone not ACTIVE in 60 s (status $st)"
  sleep 0.1
done
printf 'probe zone ACTIVE after %.1f s\n' "$(echo "$(date +%s.%N) - $t" | bc)" | tee -a "$RC_TIMINGS" >&2
"$VENV/bin/python" -c 'import dns.message, dns.query
q = dns.message.make_query("probe.trial.example.", "SOA")
assert dns.query.udp(q, "127.0.0.1", port=5354, timeout=5).answer' ||
  rc_die "named does not serve the probe zone"
curl -sf --max-time 10 "${hdr[@]}" -X DELETE "$API/v2/zones/$zid" >/dev/null
phase probe-zone

rss=0
for name in "${SERVICES[@]}"; do
  pid=$(rc_pid "$name") || continue
  for p in $(rc_session_pids "$pid"); do
    rss=$((rss + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
done
echo "RSS of the trial's processes: $((rss / 1024)) MB" | tee -a "$RC_TIMINGS" >&2
rc_log "designate trial up: API $API (project header X-Auth-Project-ID, or Keystone stand-in $API/identity/v3)"
