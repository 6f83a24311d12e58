# Designate in the real-cloud test bed (sourced by up.sh, which calls these functions).
# shellcheck shell=bash
#
# designate 23 in a venv of its own ($DES_VENV: its dependencies conflict with the bed's
# constraints), with Debian's bind9 as the DNS server: named on 127.0.0.1:5354 (rndc
# 9530), zones added by Designate's bind9 back end through `rndc addzone` and transferred
# from designate-mdns (5355). central, worker, producer and mdns run one worker each; the
# API (9001) runs under gunicorn through rc_wsgi.designate, keystonemiddleware auth as
# the bed's other APIs. Database `designate` in the bed's MariaDB, RPC over the bed's
# RabbitMQ. The worker polls named after 1 s, so a zone is ACTIVE about a second after its
# create. designate-producer ignores SIGTERM: down.sh kills it after its bound (5 s).
# Needs up.sh's variables and helpers: RC_ETC, RC_DATA, RC_LOG, RC_HERE, DB, RABBIT,
# authtoken, start, wait_for, http_ok, port_open, dbsync.

DES_VENV="${REALCLOUD_DESIGNATE_VENV:-$HOME/.cache/stacksweep/designate-venv}"
DES_VERSION=23.0.0
DES_PORT=9001
DES_NAMED_PORT=5354
DES_RNDC_PORT=9530
DES_MDNS_PORT=5355

# des_need_apt: adds to up.sh's need_apt what Designate needs from Debian.
des_need_apt() {
  [[ -x /usr/sbin/named ]] || need_apt+=(bind9)
  [[ -x /usr/sbin/rndc && -x /usr/sbin/rndc-confgen ]] || need_apt+=(bind9-utils)
}

# des_install_venv: designate (pinned), gunicorn and PyMySQL into $DES_VENV when missing
# (~60 s of pip on a fresh machine).
des_install_venv() {
  local have
  have="$("$DES_VENV/bin/python" -c 'import importlib.metadata as m, gunicorn, pymysql
print(m.version("designate"))' 2>/dev/null)" || true
  [[ "$have" == "$DES_VERSION" ]] && return 0
  rc_log "pip install designate==$DES_VERSION into $DES_VENV (~60 s on a fresh machine)"
  [[ -x "$DES_VENV/bin/python" ]] || python3 -m venv "$DES_VENV"
  {
    "$DES_VENV/bin/pip" install -q --upgrade pip &&
      "$DES_VENV/bin/pip" install -q "designate==$DES_VERSION" gunicorn PyMySQL==1.2.4
  } >"$RC_LOG/pip-designate.log" 2>&1 ||
    { tail -n 30 "$RC_LOG/pip-designate.log"; rc_die "pip install of designate failed"; }
}

des_configure() {
  local e="$RC_ETC/designate" d="$RC_DATA/designate"
  mkdir -p "$e" "$d/lock" "$RC_DATA/bind"
  rndc-confgen -a -A hmac-sha256 -k rndc-key -c "$e/rndc.key" >/dev/null 2>&1 ||
    rc_die "rndc-confgen failed"
  cat >"$e/rndc.conf" <<EOF
include "$e/rndc.key";
options { default-key "rndc-key"; default-server 127.0.0.1; default-port $DES_RNDC_PORT; };
EOF
  cat >"$e/named.conf" <<EOF
include "$e/rndc.key";
controls { inet 127.0.0.1 port $DES_RNDC_PORT allow { 127.0.0.1; } keys { "rndc-key"; }; };
options {
  directory "$RC_DATA/bind";
  pid-file "$RC_RUN/named.pidfile";
  session-keyfile "$RC_DATA/bind/session.key";
  managed-keys-directory "$RC_DATA/bind";
  listen-on port $DES_NAMED_PORT { 127.0.0.1; };
  listen-on-v6 { none; };
  allow-new-zones yes;
  allow-notify { 127.0.0.1; };
  allow-query { 127.0.0.1; };
  recursion no;
  dnssec-validation no;
};
EOF
  cat >"$e/pools.yaml" <<EOF
- name: default
  description: the bed's bind9 on 127.0.0.1:$DES_NAMED_PORT
  attributes: {}
  ns_records:
    - hostname: ns1.bed.example.
      priority: 1
  nameservers:
    - host: 127.0.0.1
      port: $DES_NAMED_PORT
  targets:
    - type: bind9
      description: bind9 on 127.0.0.1:$DES_NAMED_PORT
      masters:
        - host: 127.0.0.1
          port: $DES_MDNS_PORT
      options:
        host: 127.0.0.1
        port: $DES_NAMED_PORT
        rndc_host: 127.0.0.1
        rndc_port: $DES_RNDC_PORT
        rndc_key_file: $e/rndc.key
        rndc_config_file: $e/rndc.conf
EOF
  # The API reads api-paste.ini and designate.conf from OS_DESIGNATE_CONFIG_DIR.
  cp "$DES_VENV/etc/designate/api-paste.ini" "$e/api-paste.ini"
  sed -i "s|/etc/designate/healthcheck_disable|$e/healthcheck_disable|" "$e/api-paste.ini"
  {
    cat <<EOF
[DEFAULT]
transport_url = $RABBIT
host = realcloud
state_path = $d
[oslo_concurrency]
lock_path = $d/lock
[oslo_messaging_notifications]
driver = noop
[coordination]
backend_url = file://$d/coordination
[storage:sqlalchemy]
connection = $DB/designate
[service:api]
auth_strategy = keystone
listen = 127.0.0.1:$DES_PORT
api_base_uri = http://127.0.0.1:$DES_PORT/
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
listen = 127.0.0.1:$DES_MDNS_PORT
workers = 1
EOF
    authtoken designate
  } >"$e/designate.conf"
}

des_dbsync() {
  dbsync designate "$DES_VENV/bin/designate-manage" --config-file "$RC_ETC/designate/designate.conf" \
    database sync
}

# des_start: named first (the worker adds zones to it), then Designate's services.
des_start() {
  local e="$RC_ETC/designate" svc
  start named named -g -n 1 -c "$e/named.conf"
  for svc in central worker producer mdns; do
    start "designate-$svc" "$DES_VENV/bin/designate-$svc" --config-file "$e/designate.conf"
  done
  start designate-api env OS_DESIGNATE_CONFIG_DIR="$e" "$DES_VENV/bin/gunicorn" \
    --pythonpath "$RC_HERE" --bind "127.0.0.1:$DES_PORT" --workers 1 --threads 8 \
    --worker-class gthread --timeout 300 --graceful-timeout 5 --no-control-socket \
    --name realcloud-designate-api "rc_wsgi:designate()"
}

des_rndc_ok() { rndc -c "$RC_ETC/designate/rndc.conf" status; }

# des_wait: named and the API answer, mdns listens; then the pool (through central, over
# RPC: retried until central answers). bootstrap.py then waits for a probe zone ACTIVE.
des_wait() {
  local i
  wait_for named 30 des_rndc_ok
  wait_for designate-mdns 120 port_open "$DES_MDNS_PORT"
  wait_for designate-api 120 http_ok "http://127.0.0.1:$DES_PORT/"
  for ((i = 0; ; i++)); do
    rc_pid designate-central >/dev/null || fail_service designate-central "process exited"
    if "$DES_VENV/bin/designate-manage" --config-file "$RC_ETC/designate/designate.conf" \
      pool update --file "$RC_ETC/designate/pools.yaml" >"$RC_LOG/designate-pool-update.log" 2>&1; then
      break
    fi
    ((i < 60)) || fail_service designate-central "pool update failed for 120 s (see $RC_LOG/designate-pool-update.log)"
    sleep 2
  done
}
