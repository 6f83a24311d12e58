# Manila in the real-cloud test bed (sourced by up.sh, which calls these functions).
# shellcheck shell=bash
#
# manila 23 from the bed's venv: manila-api under gunicorn (rc_wsgi.manila: its own
# server needs the eventlet backend), manila-scheduler and one manila-share process with
# two back ends of Manila's DummyDriver (every driver call answered at once, no storage):
#   alpha  driver_handles_share_servers = False: shares without a share network (the
#          OpenShift CSI case), share type `default`;
#   beta   driver_handles_share_servers = True: shares on a share network, with share
#          servers whose addresses come from the standalone network plugin (no Neutron
#          ports), share type `dhss`. This is what makes Manila refuse to delete a share
#          network that still has shares.
# Port 8786 (API). Database `manila` in the bed's MariaDB, RPC over the bed's RabbitMQ.
# Needs up.sh's variables and helpers: V, RC_ETC, RC_DATA, DB, RABBIT, authtoken,
# gunicorn_start, start, wait_for, http_ok, dbsync.

MANILA_PORT=8786

manila_configure() {
  mkdir -p "$RC_ETC/manila" "$RC_DATA/manila"
  cp "$V/etc/manila/api-paste.ini" "$RC_ETC/manila/"
  {
    cat <<EOF
[DEFAULT]
transport_url = $RABBIT
auth_strategy = keystone
host = realcloud
my_ip = 127.0.0.1
state_path = $RC_DATA/manila
api_paste_config = $RC_ETC/manila/api-paste.ini
osapi_share_listen = 127.0.0.1
osapi_share_listen_port = $MANILA_PORT
osapi_share_workers = 1
enabled_share_backends = alpha,beta
enabled_share_protocols = NFS,CIFS
default_share_type = default
# the scheduler sees new pools at once, not after its default 60 s
periodic_interval = 5
[database]
connection = $DB/manila
[oslo_concurrency]
lock_path = $RC_DATA/locks
[oslo_messaging_notifications]
driver = noop
[alpha]
share_driver = manila.tests.share.drivers.dummy.DummyDriver
share_backend_name = ALPHA
driver_handles_share_servers = False
dummy_driver_default_driver_method_delay = 0
dummy_driver_driver_methods_delays = ensure_share:0
[beta]
share_driver = manila.tests.share.drivers.dummy.DummyDriver
share_backend_name = BETA
driver_handles_share_servers = True
dummy_driver_default_driver_method_delay = 0
dummy_driver_driver_methods_delays = ensure_share:0
network_config_group = membernet
admin_network_config_group = adminnet
[membernet]
network_api_class = manila.network.standalone_network_plugin.StandaloneNetworkPlugin
network_plugin_ipv4_enabled = True
standalone_network_plugin_gateway = 10.254.0.1
standalone_network_plugin_mask = 24
standalone_network_plugin_allowed_ip_ranges = 10.254.0.10-10.254.0.250
[adminnet]
network_api_class = manila.network.standalone_network_plugin.StandaloneNetworkPlugin
network_plugin_ipv4_enabled = True
standalone_network_plugin_gateway = 10.253.0.1
standalone_network_plugin_mask = 24
standalone_network_plugin_allowed_ip_ranges = 10.253.0.10-10.253.0.250
EOF
    authtoken manila
  } >"$RC_ETC/manila/manila.conf"
}

manila_dbsync() {
  dbsync manila "$V/bin/manila-manage" --config-file "$RC_ETC/manila/manila.conf" db sync
}

manila_start() {
  gunicorn_start manila-api "$MANILA_PORT" manila REALCLOUD_MANILA_CONF="$RC_ETC/manila/manila.conf"
  start manila-scheduler "$V/bin/manila-scheduler" --config-file "$RC_ETC/manila/manila.conf"
  start manila-share "$V/bin/manila-share" --config-file "$RC_ETC/manila/manila.conf"
}

manila_wait() {
  wait_for manila-api 120 http_ok "http://127.0.0.1:$MANILA_PORT/"
}
