#!/usr/bin/env bash
# Sweeps the same simulator scenario with `openstack project cleanup` and with stacksweep,
# and prints each one's wall time, what it left of the selected resources and what it
# deleted of the survivors, then the ratio of wall times.
#
#   scripts/bench-cleanup.sh [SCENARIO] [LATENCY]      (default: scale:1000 20ms)
#
# Environment:
#   OSC_VENV     venv with python-openstackclient (created with pip if missing;
#                default ~/.cache/stacksweep/osc-venv)
#   OSC_VERSION  python-openstackclient version to install (default 10.5.0)
#   STACKSWEEP   stacksweep binary (default: built with cargo build --release)
#   SIM          binary serving the simulator (default: $STACKSWEEP)
#   SWEEP_ARGS   extra flags for `stacksweep sweep` (e.g. "--concurrency 32")
#
# `openstack project cleanup` deletes everything in the project created before the given
# time: it has no tag filter for all kinds, which is why it is not safe in a shared
# project. Its "survivors deleted" column shows what that costs.
set -euo pipefail

scenario=${1:-scale:1000}
latency=${2:-20ms}
venv=${OSC_VENV:-$HOME/.cache/stacksweep/osc-venv}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
sim_pid=""

cleanup() {
    if [[ -n "$sim_pid" ]]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

if [[ ! -x "$venv/bin/openstack" ]]; then
    echo "installing python-openstackclient ${OSC_VERSION:-10.5.0} into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "python-openstackclient==${OSC_VERSION:-10.5.0}"
fi
if [[ -z "${STACKSWEEP:-}" ]]; then
    (cd "$root" && cargo build --release --quiet --bin stacksweep)
    STACKSWEEP="${CARGO_TARGET_DIR:-$root/target}/release/stacksweep"
fi

# Starts a freshly seeded simulator; sets sim_pid and tag.
start_sim() {
    local dir=$1
    mkdir -p "$dir"
    "${SIM:-$STACKSWEEP}" sim --listen 127.0.0.1:0 --scenario "$scenario" --latency "$latency" \
        --volume-delete-delay 200ms --server-delete-delay 500ms \
        --clouds-yaml "$dir/clouds.yaml" --manifest "$dir/manifest.json" >"$dir/sim.out" 2>"$dir/sim.err" &
    sim_pid=$!
    for _ in $(seq 1 600); do
        [[ -s "$dir/sim.out" ]] && break
        sleep 0.1
    done
    [[ -s "$dir/sim.out" ]] || { echo "simulator did not start:" >&2; cat "$dir/sim.err" >&2; exit 2; }
    tag=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tag"])' "$dir/manifest.json")
}

stop_sim() {
    kill "$sim_pid" 2>/dev/null || true
    wait "$sim_pid" 2>/dev/null || true
    sim_pid=""
}

# Prints "selected_left survivors_gone" by listing the project through the API.
check() {
    local dir=$1
    OS_CLIENT_CONFIG_FILE="$dir/clouds.yaml" "$venv/bin/python" - "$dir/manifest.json" <<'EOF'
import json, sys
import openstack
m = json.load(open(sys.argv[1]))
c = openstack.connect(cloud="sim")
present = set()
lists = {
    "network": c.network.networks, "subnet": c.network.subnets, "port": c.network.ports,
    "router": c.network.routers, "security-group": c.network.security_groups,
    "floating-ip": c.network.ips, "server": c.compute.servers,
    "volume": c.block_storage.volumes, "snapshot": c.block_storage.snapshots,
}
for kind, lister in lists.items():
    for r in lister():
        present.add((kind, r.id))
for r in c.compute.keypairs():
    present.add(("keypair", r.name))
for r in c.compute.server_groups():
    present.add(("server-group", r.id))
left = sum(1 for k, i in m["selected"] if (k, i) in present)
gone = sum(1 for k, i in m["survivors"] if (k, i) not in present)
print(left, gone, len(m["selected"]), len(m["survivors"]))
EOF
}

now() { date +%s.%N; }

# timed DIR OUT CMD...: runs CMD against DIR's simulator, stdout in DIR/OUT and stderr in
# DIR/<OUT without extension>.err; prints "wall_seconds exit_code".
timed() {
    local dir=$1 stdout=$2 t0 t1 rc=0
    shift 2
    t0=$(now)
    OS_CLIENT_CONFIG_FILE="$dir/clouds.yaml" "$@" >"$dir/$stdout" 2>"$dir/${stdout%.*}.err" || rc=$?
    t1=$(now)
    python3 -c "print(f'{$t1 - $t0:.2f} $rc')"
}

# --- openstack project cleanup ---
start_sim "$work/osc"
sleep 1
before=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%S)
sleep 2
read -r osc_wall osc_rc < <(timed "$work/osc" cleanup.out "$venv/bin/openstack" --os-cloud sim \
    project cleanup --auto-approve --auth-project --created-before "$before")
read -r osc_left osc_gone n_sel n_surv < <(check "$work/osc")
stop_sim

# --- stacksweep ---
start_sim "$work/ss"
# shellcheck disable=SC2086
read -r ss_wall ss_rc < <(timed "$work/ss" sweep.json "$STACKSWEEP" sweep --cloud sim \
    --any-tag "$tag" --metadata "ci-job=$tag" --name-regex "^$tag-" --output json ${SWEEP_ARGS:-})
read -r ss_left ss_gone _ _ < <(check "$work/ss")
stop_sim

echo "scenario $scenario, latency $latency: $n_sel selected, $n_surv survivors"
printf '%-26s %8s %5s %15s %17s\n' tool "wall s" exit "selected left" "survivors deleted"
printf '%-26s %8s %5s %15s %17s\n' "openstack project cleanup" "$osc_wall" "$osc_rc" "$osc_left" "$osc_gone"
printf '%-26s %8s %5s %15s %17s\n' "stacksweep sweep" "$ss_wall" "$ss_rc" "$ss_left" "$ss_gone"
python3 -c "print(f'ratio (project cleanup / stacksweep): {$osc_wall / $ss_wall:.1f}x')"
if [[ "$osc_rc" != 0 ]]; then
    echo "--- project cleanup stderr (last lines) ---"
    tail -n 5 "$work/osc/cleanup.err"
fi
