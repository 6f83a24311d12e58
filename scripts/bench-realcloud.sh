#!/usr/bin/env bash
# Sweeps identically seeded leaked jobs on the real-cloud test bed (tests/realcloud) with
# `openstack project cleanup` and with stacksweep, both as the project member `ci`, and
# prints each one's wall time, what it left of the selected resources and what it deleted
# of the survivors (per kind), then the ratio of wall times.
#
#   scripts/bench-realcloud.sh
#
# Each round gets a fresh test bed (down.sh, up.sh), as run-stage.sh does, because seeded
# names must not meet an earlier run's. Round A: seed, then `openstack project cleanup
# --auth-project --created-before <just after seeding>`. Round B: seed, then `stacksweep
# sweep` with the manifest's selector. Counts come from the API (verify.py's fetch).
# The test bed is stopped at the end (trap), unless REALCLOUD_KEEP_UP=1.
#
# Environment:
#   STACKSWEEP         stacksweep binary (default: <repo>/target/release/stacksweep); if it
#                      is missing when round B starts, waits for it (checks every minute,
#                      up to BENCH_BIN_WAIT_MIN minutes, default 60)
#   REALCLOUD_JOBS     leaked jobs to seed per round (default 2)
#   SWEEP_ARGS         extra flags for `stacksweep sweep` (e.g. the old fixed defaults:
#                      "--pacing fixed --concurrency 8 --requests-per-second 20")
#   OUT                results: per-round files and bench-realcloud.json
#                      (default /tmp/stacksweep-realcloud-bench)
#   REALCLOUD_KEEP_UP=1, REALCLOUD_DIR, REALCLOUD_VENV as for tests/realcloud/up.sh
#
# `openstack project cleanup` deletes everything in the project created before the given
# time (it has no tag filter), so the survivors it deletes are the cost of using it in a
# shared project; it also deletes security groups before ports and does not retry, so
# every group still used by a port stays (409 SecurityGroupInUse, in A/cleanup.err).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=../tests/realcloud/lib.sh
source "$root/tests/realcloud/lib.sh"

PY="$RC_VENV/bin/python"
OSC="$RC_VENV/bin/openstack"
STACKSWEEP=${STACKSWEEP:-$root/target/release/stacksweep}
jobs=${REALCLOUD_JOBS:-2}
out=${OUT:-/tmp/stacksweep-realcloud-bench}
rm -rf "$out/A" "$out/B"
mkdir -p "$out/A" "$out/B"

cleanup() {
    local rc=$?
    if [[ "${REALCLOUD_KEEP_UP:-0}" != 1 ]]; then "$RC_HERE/down.sh" || true; fi
    ((rc == 0)) || rc_log "bench-realcloud FAILED (exit $rc); files in $out, logs in $RC_LOG"
    exit "$rc"
}
trap cleanup EXIT

now() { date +%s.%N; }

# timed_round DIR OUT CMD...: runs CMD with stdout in DIR/OUT and stderr in DIR/<OUT
# without extension>.err, writes "start end exit" to DIR/wall, then counts what is left.
timed_round() {
    local dir=$1 stdout=$2 t0 t1 rc=0
    shift 2
    rc_log "round $(basename "$dir"): $*"
    t0=$(now)
    "$@" >"$dir/$stdout" 2>"$dir/${stdout%.*}.err" || rc=$?
    t1=$(now)
    echo "$t0 $t1 $rc" >"$dir/wall"
    count "$dir"
}

# fresh_bed: a new, empty test bed.
fresh_bed() {
    "$RC_HERE/down.sh"
    "$RC_HERE/up.sh"
}

# seed DIR: leaked jobs and survivors; writes DIR/manifest.json.
seed() {
    "$PY" "$RC_HERE/seed.py" --cloud ci --jobs "$jobs" --async-server-delete \
        --out "$1/manifest.json" 2>"$1/seed.log" || { cat "$1/seed.log" >&2; exit 1; }
    cat "$1/seed.log" >&2
}

# count DIR: per kind, the selected still there and the survivors gone, through the API;
# writes DIR/counts.json.
count() {
    "$PY" - "$RC_HERE" "$1/manifest.json" "$1/counts.json" <<'EOF'
import collections, json, sys
sys.path.insert(0, sys.argv[1])
import openstack
from verify import BAD_STATES, fetch

m = json.load(open(sys.argv[2]))
conn = openstack.connect(cloud="ci")
left, gone, details = collections.Counter(), collections.Counter(), []
for item in m["selected"]:
    res = fetch(conn, item["kind"], item["id"])
    if res is not None:
        left[item["kind"]] += 1
        details.append({**item, "name": getattr(res, "name", None) or "",
                        "status": getattr(res, "status", None)})
for item in m["survivors"]:
    res = fetch(conn, item["kind"], item["id"])
    # A survivor on its way out (status deleting) is as good as deleted.
    if res is None or str(getattr(res, "status", "") or "").lower() in BAD_STATES:
        gone[item["kind"]] += 1
json.dump({
    "selected": len(m["selected"]), "selected_left": dict(sorted(left.items())),
    "survivors": len(m["survivors"]), "survivors_deleted": dict(sorted(gone.items())),
    "left": details,
}, open(sys.argv[3], "w"), indent=1)
EOF
}

export OS_CLIENT_CONFIG_FILE="$RC_DIR/clouds.yaml"
osc_version=$("$OSC" --version 2>&1)

# ---------------------------------------------------------------- round A: project cleanup
fresh_bed
seed "$out/A"
# Everything seeded was created at or before this second; nothing after it is ours.
sleep 1
before=$(date -u +%Y-%m-%dT%H:%M:%S)
sleep 1
timed_round "$out/A" cleanup.out \
    "$OSC" --os-cloud ci project cleanup --auto-approve --auth-project --created-before "$before"

# ---------------------------------------------------------------- round B: stacksweep
"$RC_HERE/down.sh"
for ((i = 0; i < ${BENCH_BIN_WAIT_MIN:-60}; i++)); do
    [[ -x "$STACKSWEEP" ]] && break
    rc_log "waiting for $STACKSWEEP (checking every minute)"
    sleep 60
done
[[ -x "$STACKSWEEP" ]] || rc_die "no stacksweep binary at $STACKSWEEP"
fresh_bed
seed "$out/B"
mapfile -t sweep_args < <("$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["sweep_args"]))' "$out/B/manifest.json")
# shellcheck disable=SC2086 # SWEEP_ARGS is a list of flags
timed_round "$out/B" sweep.json "$STACKSWEEP" sweep --cloud ci "${sweep_args[@]}" ${SWEEP_ARGS:-} --output json

# ---------------------------------------------------------------- table and JSON
"$PY" - "$out" "$jobs" "$osc_version" "$("$STACKSWEEP" --version 2>&1 || true)" <<'EOF'
import collections, json, re, sys

out, jobs, osc_version, ss_version = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]


def wall(d):
    t0, t1, rc = open(f"{out}/{d}/wall").read().split()
    return round(float(t1) - float(t0), 2), int(rc)


def per_kind(counts):
    return ", ".join(f"{k} {n}" for k, n in counts.items()) or "-"


UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def short(text):
    """An SDK exception line, IDs blanked so alike failures group."""
    text = re.sub(UUID, "<id>", text.strip())
    text = re.sub(r"^[\w.]*?(\w+): \1: ", r"\1: ", text)
    return re.sub(r"Client Error for url: https?://[^/\s]+", "", text)


# From project cleanup's log: the deletes it gave up on (resource class and the service's
# answer), and the services whose whole cleanup function raised (the chain of exceptions).
failures, aborted, service = collections.Counter(), {}, None
for line in open(f"{out}/A/cleanup.err", errors="replace"):
    m = re.search(r"Cannot delete resource openstack\.[\w.]+\.(\w+)\(", line)
    if m:
        err = re.search(r"\): (\w+(?:Exception|Error): .*)$", line)
        failures[f"{m.group(1)}: {short(err.group(1)) if err else '?'}"] += 1
        service = None
        continue
    m = re.match(r"Error in the (\w+) cleanup function", line)
    if m:
        service = m.group(1)
        aborted[service] = []
    elif service and re.match(r"[\w.]+(?:Error|Exception): ", line):
        aborted[service].append(short(line))

rows = []
for tool, d in (("openstack project cleanup", "A"), ("stacksweep sweep", "B")):
    w, rc = wall(d)
    c = json.load(open(f"{out}/{d}/counts.json"))
    rows.append({"tool": tool, "wall_s": w, "exit": rc, "selected": c["selected"],
                 "selected_left": c["selected_left"], "survivors": c["survivors"],
                 "survivors_deleted": c["survivors_deleted"], "left": c["left"]})
ss_report = {}
try:
    doc = json.load(open(f"{out}/B/sweep.json"))
    reps = [t.get("report", {}) for t in doc.get("targets", [])]
    kinds = [k for rep in reps for k in rep.get("kinds", {}).values()]
    ss_report = {"duration_seconds": sum(rep.get("duration_seconds") or 0 for rep in reps),
                 **{f: sum(k.get(f, 0) for k in kinds)
                    for f in ("deleted", "stuck", "failed", "conflict_retries")}}
except (OSError, ValueError):
    pass
rows[1]["report"] = ss_report
rows[0]["failed_deletes"] = dict(failures)
rows[0]["aborted_cleanups"] = aborted
ratio = round(rows[0]["wall_s"] / rows[1]["wall_s"], 2) if rows[1]["wall_s"] else None
doc = {"jobs": jobs, "osc": osc_version, "stacksweep": ss_version, "runs": rows,
       "ratio_cleanup_over_stacksweep": ratio}
json.dump(doc, open(f"{out}/bench-realcloud.json", "w"), indent=1)

print(f"real-cloud test bed, {jobs} leaked job(s); {osc_version}; {ss_version}")
print(f"{'tool':<26} {'wall s':>7} {'exit':>4}  selected left / survivors deleted (per kind)")
for r in rows:
    print(f"{r['tool']:<26} {r['wall_s']:>7.2f} {r['exit']:>4}  "
          f"left {sum(r['selected_left'].values())} of {r['selected']}: {per_kind(r['selected_left'])}")
    print(f"{'':<40}deleted {sum(r['survivors_deleted'].values())} of {r['survivors']} "
          f"survivors: {per_kind(r['survivors_deleted'])}")
print(f"ratio (project cleanup / stacksweep): {ratio}x")
if ss_report:
    print("stacksweep's report: " + ", ".join(f"{k} {v}" for k, v in ss_report.items()))
for k, n in failures.items():
    print(f"project cleanup gave up: {n} x {k}")
for svc, chain in aborted.items():
    print(f"project cleanup's {svc} cleanup aborted: " + " -> ".join(chain))
print(f"written: {out}/bench-realcloud.json")
EOF
