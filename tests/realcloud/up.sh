#!/usr/bin/env bash
# Brings up real OpenStack (Keystone, Neutron, Cinder, Placement, Nova, Glance, Barbican,
# Manila, Designate with bind9) on 127.0.0.1 for stacksweep's real-cloud tests, and writes
# $REALCLOUD_DIR/clouds.yaml.
#
# Idempotent: installs only what is missing; if the test bed is already up and
# healthy it only re-checks it; otherwise it stops any leftovers (by PID file),
# wipes $REALCLOUD_DIR and starts from an empty state. Fails loudly, naming the
# service that did not come up and printing the tail of its log.
#
# Environment: REALCLOUD_DIR (default /tmp/stacksweep-realcloud),
#              REALCLOUD_VENV (default ~/.cache/stacksweep/realcloud-venv),
#              REALCLOUD_DESIGNATE_VENV (default ~/.cache/stacksweep/designate-venv).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=designate.sh
source "$RC_HERE/designate.sh"

T_START=$(date +%s.%N)
T_PHASE=$T_START
phase_done() {
  local now
  now=$(date +%s.%N)
  printf '%-22s %6.1f s\n' "$1" "$(echo "$now - $T_PHASE" | bc)" >>"$RC_TIMINGS.new"
  rc_log "phase $1: $(echo "$now - $T_PHASE" | bc | xargs printf '%.1f') s"
  T_PHASE=$now
}

# ---------------------------------------------------------------- already up?
all_up=1
for s in "${RC_SERVICES[@]}"; do rc_pid "$s" >/dev/null || all_up=0; done
if [[ $all_up == 1 && -f "$RC_DIR/clouds.yaml" ]] &&
  "$RC_VENV/bin/python" "$RC_HERE/bootstrap.py" check --dir "$RC_DIR"; then
  rc_log "already up and healthy: $RC_DIR/clouds.yaml"
  exit 0
fi
for s in "${RC_SERVICES[@]}"; do
  if rc_pid "$s" >/dev/null; then
    rc_log "partial or unhealthy test bed found: stopping it first"
    "$RC_HERE/down.sh"
    break
  fi
done

# On any failure, stop what this run started (logs stay in $RC_DIR/log).
trap 'rc=$?; if ((rc)); then rc_log "up failed: stopping what was started"; "$RC_HERE/down.sh" || true; fi' EXIT

# ---------------------------------------------------------------- install
need_apt=()
command -v mariadbd >/dev/null || need_apt+=(mariadb-server)
[[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] || need_apt+=(rabbitmq-server)
command -v bc >/dev/null || need_apt+=(bc)
command -v curl >/dev/null || need_apt+=(curl)
des_need_apt
if ((${#need_apt[@]})); then
  rc_log "apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Packages' postinst scripts must not start the system-wide daemons.
  policy_added=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  if ! apt-get install -y -q "${need_apt[@]}" >/tmp/stacksweep-realcloud-apt.log 2>&1; then
    apt-get update -q >>/tmp/stacksweep-realcloud-apt.log 2>&1
    apt-get install -y -q "${need_apt[@]}" >>/tmp/stacksweep-realcloud-apt.log 2>&1 ||
      { tail -n 30 /tmp/stacksweep-realcloud-apt.log; rc_die "apt-get install failed"; }
  fi
  ((policy_added)) && rm -f /usr/sbin/policy-rc.d
fi
# Starting over: leftovers from an earlier run are ours to remove.
rm -rf "$RC_DIR"
mkdir -p "$RC_RUN" "$RC_LOG" "$RC_ETC" "$RC_DATA"
: >"$RC_TIMINGS.new"
phase_done install-apt

stamp="$RC_VENV/.stacksweep-installed"
want="$(cat "$RC_HERE/constraints.txt"  "$RC_HERE/bindall/pyproject.toml" "$RC_HERE/bindall/stacksweep_bindall.py" | sha256sum | cut -c1-16)"
if [[ "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  rc_log "pip install into $RC_VENV (~75 s on a fresh machine)"
  [[ -x "$RC_VENV/bin/python" ]] || python3 -m venv "$RC_VENV"
  {
    "$RC_VENV/bin/pip" install -q --upgrade pip &&
      "$RC_VENV/bin/pip" install -q -c "$RC_HERE/constraints.txt" \
        keystone neutron cinder nova openstack-placement glance barbican manila gunicorn \
        python-openstackclient openstacksdk PyMySQL &&
      "$RC_VENV/bin/pip" install -q "$RC_HERE/bindall"
  } >"$RC_LOG/pip.log" 2>&1 || { tail -n 30 "$RC_LOG/pip.log"; rc_die "pip install failed"; }
  rm -rf "$RC_HERE/bindall/build" "$RC_HERE/bindall/"*.egg-info
  echo "$want" >"$stamp"
fi
# Designate's own venv (its dependencies conflict with constraints.txt): designate.sh.
des_install_venv
phase_done install-venv

V="$RC_VENV"
SP="$("$V/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
# shellcheck source=manila.sh
source "$RC_HERE/manila.sh"
PW="$("$V/bin/python" -c 'import secrets; print(secrets.token_hex(12))')"
umask 077
echo "$PW" >"$RC_DIR/secret"
umask 022
DB="mysql+pymysql://stacksweep:$PW@127.0.0.1:3306"
RABBIT="rabbit://guest:guest@127.0.0.1:5672/"
KS=http://127.0.0.1:5000

# ---------------------------------------------------------------- configs
auth_section() { # SECTION USER: keystone password auth as a service user
  cat <<EOF
[$1]
auth_url = $KS
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $PW
region_name = RegionOne
EOF
}
authtoken() {
  auth_section keystone_authtoken "$1"
  cat <<EOF
www_authenticate_uri = $KS
service_token_roles_required = true
EOF
}

mkdir -p "$RC_ETC"/{keystone,placement,glance,neutron/plugins/ml2,cinder,nova,barbican/.barbican} \
  "$RC_DATA"/{keystone,glance/images,glance/staging,glance/tasks,neutron,cinder,nova,locks}

cat >"$RC_ETC/keystone/keystone.conf" <<EOF
[database]
connection = $DB/keystone
[token]
provider = fernet
[fernet_tokens]
key_repository = $RC_DATA/keystone/fernet-keys
[credential]
key_repository = $RC_DATA/keystone/credential-keys
[cache]
enabled = true
backend = dogpile.cache.memory
EOF

{
  cat <<EOF
[api]
auth_strategy = keystone
[placement_database]
connection = $DB/placement
EOF
  authtoken placement
} >"$RC_ETC/placement/placement.conf"

cp "$V/etc/glance/glance-api-paste.ini" "$RC_ETC/glance/"
{
  cat <<EOF
[DEFAULT]
enabled_backends = fs:file
worker_self_reference_url = http://127.0.0.1:9292
[database]
connection = $DB/glance
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $RC_DATA/glance/images/
[os_glance_staging_store]
filesystem_store_datadir = $RC_DATA/glance/staging/
[os_glance_tasks_store]
filesystem_store_datadir = $RC_DATA/glance/tasks/
[paste_deploy]
flavor = keystone
config_file = $RC_ETC/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $RC_DATA/locks
EOF
  authtoken glance
} >"$RC_ETC/glance/glance-api.conf"

cp "$V/etc/neutron/api-paste.ini" "$RC_ETC/neutron/"
{
  cat <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router,trunk,port_forwarding
auth_strategy = keystone
transport_url = fake:/
api_paste_config = $RC_ETC/neutron/api-paste.ini
state_path = $RC_DATA/neutron
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
rpc_workers = 0
rpc_state_report_workers = 0
[database]
connection = $DB/neutron
[oslo_concurrency]
lock_path = $RC_DATA/locks
EOF
  authtoken neutron
} >"$RC_ETC/neutron/neutron.conf"
# RegionTwo: a second Neutron (own database and state, port 9697, the same Keystone).
mkdir -p "$RC_ETC/neutron2" "$RC_DATA/neutron2"
sed -e "s|^connection = $DB/neutron\$|connection = $DB/neutron2|" \
  -e "s|^state_path = .*|state_path = $RC_DATA/neutron2|" \
  "$RC_ETC/neutron/neutron.conf" >"$RC_ETC/neutron2/neutron.conf"
cat >"$RC_ETC/neutron/plugins/ml2/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat,vlan,vxlan
tenant_network_types = vxlan
mechanism_drivers = bindall
extension_drivers = port_security
[ml2_type_flat]
flat_networks = physnet1
[ml2_type_vlan]
network_vlan_ranges = physnet1
[ml2_type_vxlan]
vni_ranges = 1:10000
EOF
mkdir -p "$RC_ETC/neutron2/plugins/ml2"
cp "$RC_ETC/neutron/plugins/ml2/ml2_conf.ini" "$RC_ETC/neutron2/plugins/ml2/"
grep -q "^connection = $DB/neutron2\$" "$RC_ETC/neutron2/neutron.conf" ||
  rc_die "neutron2.conf: database not rewritten"

cp "$V/etc/cinder/api-paste.ini" "$V/etc/cinder/resource_filters.json" "$RC_ETC/cinder/"
{
  cat <<EOF
[DEFAULT]
transport_url = $RABBIT
auth_strategy = keystone
host = realcloud
my_ip = 127.0.0.1
enabled_backends = fake
state_path = $RC_DATA/cinder
api_paste_config = $RC_ETC/cinder/api-paste.ini
resource_query_filters_file = $RC_ETC/cinder/resource_filters.json
glance_api_servers = http://127.0.0.1:9292
osapi_volume_workers = 1
backup_driver = cinder.backup.drivers.posix.PosixBackupDriver
backup_posix_path = $RC_DATA/cinder/backups
backup_file_size = 1048576
backup_compression_algorithm = none
backup_enable_progress_timer = false
[fake]
volume_driver = filevolume.FileVolumeDriver
volume_backend_name = fake
[database]
connection = $DB/cinder
[oslo_concurrency]
lock_path = $RC_DATA/locks
[oslo_messaging_notifications]
driver = noop
[privsep_osbrick]
# cinder-backup reads the connector properties through os-brick's privsep daemon; the
# bed runs as root without sudo, so the helper starts directly.
helper_command = $V/bin/privsep-helper --config-file $RC_ETC/cinder/cinder.conf
EOF
  authtoken cinder
} >"$RC_ETC/cinder/cinder.conf"

# Barbican reads only the default locations (~/.barbican/barbican.conf, /etc/barbican/):
# its processes run with HOME=$RC_ETC/barbican. simple_crypto wraps the per-project
# keys with a random Fernet KEK; secrets and containers need no worker (no orders).
cp "$V/etc/barbican/barbican-api-paste.ini" "$RC_ETC/barbican/"
KEK="$("$V/bin/python" -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())')"
{
  cat <<EOF
[DEFAULT]
host_href = http://127.0.0.1:9311
db_auto_create = false
[database]
connection = $DB/barbican
[secretstore]
enabled_secretstore_plugins = store_crypto
[crypto]
enabled_crypto_plugins = simple_crypto
[simple_crypto_plugin]
kek = $KEK
[oslo_messaging_notifications]
driver = noop
EOF
  authtoken barbican
} >"$RC_ETC/barbican/.barbican/barbican.conf"
chmod 600 "$RC_ETC/barbican/.barbican/barbican.conf"

manila_configure
des_configure

cp "$V/etc/nova/api-paste.ini" "$RC_ETC/nova/"
{
  cat <<EOF
[DEFAULT]
transport_url = $RABBIT
compute_driver = fake.FakeDriverWithoutFakeNodes
host = realcloud
my_ip = 127.0.0.1
state_path = $RC_DATA/nova
instances_path = $RC_DATA/nova/instances
vif_plugging_is_fatal = false
vif_plugging_timeout = 0
[api]
auth_strategy = keystone
[wsgi]
api_paste_config = $RC_ETC/nova/api-paste.ini
[api_database]
connection = $DB/nova_api
[database]
connection = $DB/nova
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 2
[oslo_concurrency]
lock_path = $RC_DATA/locks
[oslo_messaging_notifications]
driver = noop
[vnc]
enabled = false
[service_user]
send_service_user_token = true
EOF
  sed 1d <(auth_section x nova) # credentials of [service_user]
  authtoken nova
  auth_section placement nova
  auth_section neutron nova
  auth_section cinder nova
  echo "catalog_info = block-storage:cinder:publicURL"
  echo "os_region_name = RegionOne"
} >"$RC_ETC/nova/nova.conf"
phase_done configure

# ---------------------------------------------------------------- start helpers
# start NAME CMD...: rc_start (lib.sh), which also keeps the command for rc_restart.
start() { rc_start "$@"; }
fail_service() { # NAME WHY
  rc_log "service $1 did not come up: $2"
  rc_log "tail of $RC_LOG/$1.log:"
  tail -n 40 "$RC_LOG/$1.log" >&2 || true
  exit 1
}
# wait_for NAME TIMEOUT CHECK...: polls CHECK until it succeeds while NAME is alive.
wait_for() {
  local name="$1" timeout="$2" deadline
  shift 2
  deadline=$(($(date +%s) + timeout))
  until "$@" >/dev/null 2>&1; do
    rc_pid "$name" >/dev/null || fail_service "$name" "process exited"
    (($(date +%s) < deadline)) || fail_service "$name" "not healthy after ${timeout}s"
    sleep 0.5
  done
}
http_ok() { # URL: any answer below 500 means the app is serving
  local code
  code=$(curl -s --max-time 5 -o /dev/null -w '%{http_code}' "$1") || return 1
  [[ $code != 000 && $code -lt 500 ]]
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
gunicorn_start() { # NAME PORT FACTORY ENV...
  local name="$1" port="$2" factory="$3"
  shift 3
  start "$name" env "$@" "$V/bin/gunicorn" --pythonpath "$RC_HERE" \
    --bind "127.0.0.1:$port" --workers 1 --threads 8 --worker-class gthread \
    --timeout 300 --graceful-timeout 5 --no-control-socket --name "realcloud-$name" \
    "rc_wsgi:$factory()"
}

# ---------------------------------------------------------------- infra
# A port already taken would let a foreign server answer our health checks.
for sp in mariadb:3306 epmd:4369 rabbitmq:5672 rabbitmq:25672 keystone:5000 placement:8778 \
  glance:9292 neutron:9696 neutron2:9697 cinder-api:8776 nova-api:8774 barbican:9311 \
  manila-api:$MANILA_PORT named:$DES_NAMED_PORT named:$DES_RNDC_PORT designate-mdns:$DES_MDNS_PORT \
  designate-api:$DES_PORT; do
  if port_open "${sp#*:}"; then
    rc_die "service ${sp%%:*} cannot start: 127.0.0.1:${sp#*:} is already in use by another process"
  fi
done
mkdir -p "$RC_DATA/mysql" "$RC_DATA/rabbitmq/mnesia" "$RC_LOG/rabbitmq"
chown mysql: "$RC_DATA/mysql"
chown -R rabbitmq: "$RC_DATA/rabbitmq" "$RC_LOG/rabbitmq"
mariadb-install-db --no-defaults --datadir="$RC_DATA/mysql" --user=mysql \
  --auth-root-authentication-method=socket --skip-test-db >"$RC_LOG/mariadb-install.log" 2>&1 ||
  fail_service mariadb-install "mariadb-install-db failed"
start mariadb mariadbd --no-defaults --datadir="$RC_DATA/mysql" --user=mysql \
  --socket="$RC_DATA/mysql/mysqld.sock" --pid-file="$RC_DATA/mysql/mysqld.pid" \
  --bind-address=127.0.0.1 --port=3306 --skip-name-resolve --max-connections=1000 \
  --innodb-buffer-pool-size=128M --innodb-flush-log-at-trx-commit=0 --skip-log-bin
start epmd epmd -address 127.0.0.1 -port 4369
echo '[].' >"$RC_DATA/rabbitmq/enabled_plugins"
chown rabbitmq: "$RC_DATA/rabbitmq/enabled_plugins"
start rabbitmq runuser -u rabbitmq -- env HOME=/var/lib/rabbitmq \
  RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 \
  RABBITMQ_NODE_PORT=5672 RABBITMQ_DIST_PORT=25672 ERL_EPMD_ADDRESS=127.0.0.1 \
  ERL_EPMD_PORT=4369 RABBITMQ_MNESIA_BASE="$RC_DATA/rabbitmq/mnesia" \
  RABBITMQ_LOG_BASE="$RC_LOG/rabbitmq" RABBITMQ_ENABLED_PLUGINS_FILE="$RC_DATA/rabbitmq/enabled_plugins" \
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
  /usr/lib/rabbitmq/bin/rabbitmq-server
wait_for mariadb 60 mariadb-admin --no-defaults --socket="$RC_DATA/mysql/mysqld.sock" ping
{
  for d in keystone placement glance neutron neutron2 cinder nova nova_api nova_cell0 barbican manila designate; do
    echo "CREATE DATABASE $d CHARACTER SET utf8mb4;"
  done
  echo "CREATE USER 'stacksweep'@'127.0.0.1' IDENTIFIED BY '$PW';"
  echo "GRANT ALL PRIVILEGES ON *.* TO 'stacksweep'@'127.0.0.1';"
} | mariadb --no-defaults --socket="$RC_DATA/mysql/mysqld.sock" -uroot
phase_done start-db

# ---------------------------------------------------------------- schemas (in parallel)
dbsync() { # NAME CMD...: one schema sync in the background, logged
  local name="$1"
  shift
  ("$@" >"$RC_LOG/dbsync-$name.log" 2>&1 || { echo "$name" >>"$RC_RUN/dbsync.failed"; }) &
  sync_pids+=($!)
}
sync_pids=()
KCONF=(--config-file "$RC_ETC/keystone/keystone.conf")
NCONF=(--config-file "$RC_ETC/nova/nova.conf")
dbsync keystone bash -c "set -e
  '$V/bin/keystone-manage' ${KCONF[*]} db_sync
  '$V/bin/keystone-manage' ${KCONF[*]} fernet_setup --keystone-user root --keystone-group root
  '$V/bin/keystone-manage' ${KCONF[*]} credential_setup --keystone-user root --keystone-group root
  '$V/bin/keystone-manage' ${KCONF[*]} bootstrap --bootstrap-password '$PW' \
    --bootstrap-admin-url $KS/v3/ --bootstrap-internal-url $KS/v3/ \
    --bootstrap-public-url $KS/v3/ --bootstrap-region-id RegionOne"
dbsync placement "$V/bin/placement-manage" --config-file "$RC_ETC/placement/placement.conf" db sync
dbsync glance "$V/bin/glance-manage" --config-file "$RC_ETC/glance/glance-api.conf" db_sync
dbsync neutron "$V/bin/neutron-db-manage" --config-file "$RC_ETC/neutron/neutron.conf" \
  --config-file "$RC_ETC/neutron/plugins/ml2/ml2_conf.ini" upgrade heads
dbsync neutron2 "$V/bin/neutron-db-manage" --config-file "$RC_ETC/neutron2/neutron.conf" \
  --config-file "$RC_ETC/neutron2/plugins/ml2/ml2_conf.ini" upgrade heads
dbsync barbican env HOME="$RC_ETC/barbican" "$V/bin/barbican-manage" db upgrade
dbsync cinder "$V/bin/cinder-manage" --config-file "$RC_ETC/cinder/cinder.conf" db sync
dbsync nova bash -c "set -e
  '$V/bin/nova-manage' ${NCONF[*]} api_db sync
  '$V/bin/nova-manage' ${NCONF[*]} cell_v2 map_cell0 --database_connection '$DB/nova_cell0'
  '$V/bin/nova-manage' ${NCONF[*]} cell_v2 create_cell --name cell1
  '$V/bin/nova-manage' ${NCONF[*]} db sync"
manila_dbsync
des_dbsync
wait "${sync_pids[@]}"
if [[ -f "$RC_RUN/dbsync.failed" ]]; then
  for n in $(cat "$RC_RUN/dbsync.failed"); do
    rc_log "schema sync of $n failed; tail of $RC_LOG/dbsync-$n.log:"
    tail -n 30 "$RC_LOG/dbsync-$n.log" >&2
  done
  exit 1
fi
wait_for rabbitmq 90 port_open 5672
phase_done db-sync

# ---------------------------------------------------------------- Keystone + identity
gunicorn_start keystone 5000 keystone OS_KEYSTONE_CONFIG_FILES="$RC_ETC/keystone/keystone.conf"
wait_for keystone 90 http_ok "$KS/v3"
"$V/bin/python" "$RC_HERE/bootstrap.py" identity --dir "$RC_DIR" ||
  fail_service keystone "identity bootstrap failed"
phase_done keystone

# ---------------------------------------------------------------- the other services
gunicorn_start placement 8778 placement OS_PLACEMENT_CONFIG_DIR="$RC_ETC/placement"
gunicorn_start glance 9292 glance OS_GLANCE_CONFIG_DIR="$RC_ETC/glance"
gunicorn_start neutron 9696 neutron OS_NEUTRON_CONFIG_DIR="$RC_ETC/neutron" \
  "OS_NEUTRON_CONFIG_FILES=neutron.conf;plugins/ml2/ml2_conf.ini"
gunicorn_start neutron2 9697 neutron OS_NEUTRON_CONFIG_DIR="$RC_ETC/neutron2" \
  "OS_NEUTRON_CONFIG_FILES=neutron.conf;plugins/ml2/ml2_conf.ini"
gunicorn_start cinder-api 8776 cinder REALCLOUD_CINDER_CONF="$RC_ETC/cinder/cinder.conf"
start cinder-scheduler "$V/bin/cinder-scheduler" --config-file "$RC_ETC/cinder/cinder.conf"
# filevolume.py (this directory): a sparse file per volume, attached as os-brick's `local`.
start cinder-volume env PYTHONPATH="$RC_HERE" "$V/bin/cinder-volume" --config-file "$RC_ETC/cinder/cinder.conf"
start cinder-backup "$V/bin/cinder-backup" --config-file "$RC_ETC/cinder/cinder.conf"
# Nova reads its paste pipeline from the first file listed.
gunicorn_start nova-api 8774 nova OS_NOVA_CONFIG_DIR="$RC_ETC/nova" \
  "OS_NOVA_CONFIG_FILES=api-paste.ini;nova.conf"
gunicorn_start barbican 9311 barbican HOME="$RC_ETC/barbican" \
  REALCLOUD_BARBICAN_PASTE="$RC_ETC/barbican/barbican-api-paste.ini"
manila_start
des_start
start nova-conductor "$V/bin/nova-conductor" "${NCONF[@]}"
start nova-scheduler "$V/bin/nova-scheduler" "${NCONF[@]}"
wait_for placement 120 http_ok http://127.0.0.1:8778/
start nova-compute "$V/bin/nova-compute" "${NCONF[@]}"
wait_for glance 120 http_ok http://127.0.0.1:9292/versions
wait_for neutron 120 http_ok http://127.0.0.1:9696/
wait_for neutron2 120 http_ok http://127.0.0.1:9697/
wait_for cinder-api 120 http_ok http://127.0.0.1:8776/
wait_for nova-api 120 http_ok http://127.0.0.1:8774/
wait_for barbican 120 http_ok http://127.0.0.1:9311/
manila_wait
des_wait
phase_done start-apis

# ---------------------------------------------------------------- resources + clouds.yaml
# bootstrap.py names the service (nova-compute, cinder-volume, ...) it waited for in vain.
if ! "$V/bin/python" "$RC_HERE/bootstrap.py" resources --dir "$RC_DIR" 2>"$RC_LOG/bootstrap.err"; then
  cat "$RC_LOG/bootstrap.err" >&2
  svc="$(sed -n 's/^SERVICE-DOWN: //p' "$RC_LOG/bootstrap.err" | head -n 1)"
  [[ -n "$svc" ]] && fail_service "$svc" "not reported up by its API"
  rc_die "resource bootstrap failed"
fi
phase_done bootstrap

rss=0
nproc=0
for s in "${RC_SERVICES[@]}"; do
  for p in $(rc_session_pids "$(rc_pid "$s")"); do
    rss=$((rss + $(ps -o rss= -p "$p" 2>/dev/null || echo 0)))
    nproc=$((nproc + 1))
  done
done
rc_log "memory: $((rss / 1024)) MB RSS in $nproc processes"
total=$(echo "$(date +%s.%N) - $T_START" | bc)
printf '%-22s %6.1f s\n' total "$total" >>"$RC_TIMINGS.new"
mv "$RC_TIMINGS.new" "$RC_TIMINGS"
rc_log "up in $(printf '%.0f' "$total") s; clouds.yaml: $RC_DIR/clouds.yaml (clouds: ci, admin)"
cat "$RC_TIMINGS" >&2
