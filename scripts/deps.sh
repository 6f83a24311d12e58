#!/usr/bin/env bash
# What building and testing need besides a Rust toolchain, from Debian's packages,
# installed only when missing (needs root and apt-get; otherwise says what to install):
#   protoc  (protobuf-compiler): etcd-client's build compiles etcd's gRPC API
#           (libprotobuf-dev):   the well-known types it imports (google/protobuf/*.proto),
#                                only a recommendation of protobuf-compiler
#   etcd    (etcd-server):       the coordination tests start a real etcd (tests/daemon/etcd.rs)
set -euo pipefail

need=()
command -v protoc >/dev/null 2>&1 || need+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/descriptor.proto ] || [ -f /usr/local/include/google/protobuf/descriptor.proto ] ||
  need+=(libprotobuf-dev)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "deps.sh: missing ${need[*]}: install them (Debian/Ubuntu: apt-get install ${need[*]})" >&2
  exit 1
fi
echo "deps.sh: apt-get install ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# We only want the etcd binary (tests start their own on free ports): make sure the
# packaged server is not left running.
if [[ " ${need[*]} " == *" etcd-server "* ]]; then
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    systemctl disable --now etcd >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/etcd ]; then
    /etc/init.d/etcd stop >/dev/null 2>&1 || true
    update-rc.d etcd disable >/dev/null 2>&1 || true
  fi
fi
