#!/usr/bin/env bash
# Checks `stacksweep sim` against python-openstackclient: it authenticates, creates and
# lists networks, subnets, ports, routers, security groups, floating IPs, servers,
# volumes and snapshots, and gets the status code real OpenStack answers for each
# wrong-order delete listed in docs realcloud.md. Exits non-zero on the first mismatch.
#
# Env: STACKSWEEP_BIN (default target/debug/stacksweep), OSC_VENV (default
# ~/.cache/stacksweep/osc-venv, created and filled from requirements.txt when missing).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${STACKSWEEP_BIN:-$root/target/debug/stacksweep}
venv=${OSC_VENV:-$HOME/.cache/stacksweep/osc-venv}

if [ ! -x "$venv/bin/openstack" ]; then
    echo "osc: installing python-openstackclient into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
fi

work=$(mktemp -d)
sim_pid=
cleanup() {
    if [ -n "$sim_pid" ]; then
        kill "$sim_pid" 2>/dev/null || true
        wait "$sim_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

"$bin" sim --listen 127.0.0.1:0 --clouds-yaml "$work/clouds.yaml" \
    --server-delete-delay 1s --volume-delete-delay 500ms >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
for _ in $(seq 100); do
    [ -s "$work/sim.out" ] && break
    kill -0 "$sim_pid" 2>/dev/null || { cat "$work/sim.err" >&2; echo "osc: the simulator exited" >&2; exit 1; }
    sleep 0.1
done
[ -s "$work/clouds.yaml" ] || { echo "osc: no clouds.yaml after 10s" >&2; exit 1; }
echo "osc: $(cat "$work/sim.out")"

export OS_CLIENT_CONFIG_FILE="$work/clouds.yaml"
unset OS_CLOUD OS_AUTH_URL OS_TOKEN || true
# Mismatches are counted in a file: `ok` often runs in a command substitution's subshell.
fail() {
    echo "FAIL: $*" >&2
    echo x >>"$work/failures"
}

os() { "$venv/bin/openstack" --os-cloud sim "$@"; }

# Runs a command that must succeed; prints its stdout.
ok() {
    local out
    if ! out=$(os "$@" 2>&1); then
        fail "openstack $* failed:"
        echo "$out" | sed 's/^/    /' >&2
        return 0
    fi
    printf '%s\n' "$out"
}

# expect CODE WHAT -- command: the command must fail with HTTP status CODE.
expect() {
    local code=$1 what=$2 out
    shift 3
    if out=$(os "$@" 2>&1); then
        fail "$what: openstack $* succeeded, expected HTTP $code"
    elif grep -Eq "(: $code[: ]|HTTP $code\b|\b$code Client Error)" <<<"$out"; then
        echo "ok: $what -> $code"
    else
        fail "$what: expected HTTP $code from openstack $*, got:"
        echo "$out" | sed 's/^/    /' >&2
    fi
}

# Creates, then lists, every kind.
net=$(ok network create osc-net -f value -c id)
sub=$(ok subnet create osc-sub --network osc-net --subnet-range 10.77.0.0/24 -f value -c id)
sg=$(ok security group create osc-sg -f value -c id)
ok security group rule create osc-sg --protocol tcp --dst-port 22 >/dev/null
port=$(ok port create osc-port --network osc-net --security-group osc-sg -f value -c id)
router=$(ok router create osc-router -f value -c id)
ok router add subnet osc-router osc-sub >/dev/null
ok router set osc-router --external-gateway public >/dev/null
fip=$(ok floating ip create public --port "$port" -f value -c id)
vol=$(ok volume create osc-vol --size 1 -f value -c id)
snap=$(ok volume snapshot create osc-snap --volume osc-vol -f value -c id)
ok server create osc-vm --flavor m1.tiny --image cirros-0.6.2-x86_64-disk --network osc-net -f value -c id >/dev/null
vol2=$(ok volume create osc-vol2 --size 1 -f value -c id)
ok server add volume osc-vm osc-vol2 >/dev/null

for kind in network subnet port router "security group" "floating ip" server volume "volume snapshot"; do
    # shellcheck disable=SC2086
    n=$(ok $kind list -f value -c ID | grep -c . || true)
    [ "$n" -ge 1 ] || fail "$kind list is empty"
done
ok network list --tags nonexistent -f value >/dev/null

# Conflicts, as real OpenStack answers them to a project member.
iface=$(ok port list --router osc-router --device-owner network:router_interface -f value -c ID)
vm_port=$(ok port list --server osc-vm -f value -c ID)
expect 409 "security group used by a port" -- security group delete osc-sg
expect 409 "subnet with allocations" -- subnet delete osc-sub
expect 409 "network with ports" -- network delete osc-net
expect 409 "router with interfaces" -- router delete osc-router
expect 409 "router interface port via the port API" -- port delete "$iface"
expect 409 "router interface behind an associated floating IP" -- router remove subnet osc-router osc-sub
expect 409 "gateway used by a floating IP" -- router unset --external-gateway osc-router
expect 403 "port of a live server" -- port delete "$vm_port"
expect 403 "admin-owned external network" -- network delete public
expect 400 "volume with snapshots" -- volume delete osc-vol
expect 400 "attached volume" -- volume delete osc-vol2
expect 400 "attached volume, cascade" -- volume delete --purge osc-vol2

# Not conflicts, and the order that works.
other=$(ok security group create osc-other -f value -c id)
ok security group rule create osc-other --protocol tcp --dst-port 80 --remote-group osc-sg >/dev/null
ok security group delete osc-other >/dev/null
ok server delete --wait osc-vm >/dev/null
ok port delete "$port" >/dev/null
[ "$(ok floating ip show "$fip" -f value -c port_id)" = "None" ] || fail "floating IP still associated after its port was deleted"
ok floating ip delete "$fip" >/dev/null
ok router remove subnet osc-router osc-sub >/dev/null
ok router delete osc-router >/dev/null
ok subnet delete "$sub" >/dev/null
ok network delete "$net" >/dev/null
ok security group delete "$sg" >/dev/null
ok volume snapshot delete "$snap" >/dev/null
for _ in $(seq 50); do
    os volume snapshot show "$snap" >/dev/null 2>&1 || break
    sleep 0.2
done
ok volume delete osc-vol >/dev/null
for _ in $(seq 50); do
    [ "$(os volume show osc-vol2 -f value -c status 2>/dev/null)" = available ] && break
    sleep 0.2
done
ok volume delete osc-vol2 >/dev/null

if [ -s "$work/failures" ]; then
    echo "osc: $(wc -l <"$work/failures") mismatch(es) against realcloud.md" >&2
    exit 1
fi
echo "osc: all checks passed"
