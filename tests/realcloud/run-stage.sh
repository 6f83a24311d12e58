#!/usr/bin/env bash
# The real-cloud CI stage (run by .ci/run after the fast suite):
#   up -> seed leaked jobs (with volume backups, shares, zones) -> stacksweep sweep (as the
#   project member) -> verify -> second sweep deletes nothing -> one target over two projects (a third, look-alike
#   project untouched) -> conformance on real -> conformance on the
#   simulator + compare -> preflight and quota -> chaos (chaos.sh: services restarted
#   mid-sweep) -> down (always, by trap).
# Fails (non-zero) on any step; if the test bed cannot start, up.sh names the service.
#
# Environment:
#   STACKSWEEP_BIN         the binary; unset: cargo build --release and use it
#   REALCLOUD_SKIP_SWEEP=1 no stacksweep: ref_sweep.py deletes, verify checks (until the CLI lands)
#   REALCLOUD_JOBS         leaked jobs to seed (default 2)
#   REALCLOUD_KEEP_UP=1    leave the test bed running at the end
#   REALCLOUD_CHAOS=0      skip the chaos rounds (CHAOS_FAULTS picks some: chaos.sh)
#   REALCLOUD_DIR, REALCLOUD_VENV as for up.sh
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
REPO="$(cd "$RC_HERE/../.." && pwd)"
PY="$RC_VENV/bin/python"
OUT="${REALCLOUD_OUT:-$RC_DIR-results}" # survives up.sh's wipe of $RC_DIR
mkdir -p "$OUT"
: >"$OUT/stage-timings.txt"

stage_t0=$(date +%s)
t_phase=$stage_t0
step() { # NAME: closes the previous phase's timing
  local now
  now=$(date +%s)
  printf '%-26s %4d s\n' "$1" $((now - t_phase)) | tee -a "$OUT/stage-timings.txt" >&2
  t_phase=$now
}
sim_pid=""
cleanup() {
  local rc=$?
  [[ -n "$sim_pid" ]] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  if [[ "${REALCLOUD_KEEP_UP:-0}" != 1 ]]; then "$RC_HERE/down.sh" || true; fi
  step down
  printf '%-26s %4d s\n' "stage total" $(($(date +%s) - stage_t0)) | tee -a "$OUT/stage-timings.txt" >&2
  if ((rc)); then rc_log "real-cloud stage FAILED (exit $rc); logs: $RC_LOG"; fi
  exit "$rc"
}
trap cleanup EXIT

# deleted_nothing REPORT: a sweep's JSON report in which every "deleted" count or list is
# empty (a second sweep must find nothing left to do).
deleted_nothing() {
  "$PY" - "$1" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
bad = []
def walk(node, path):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "deleted" and v not in (0, [], {}, None):
                bad.append(f"{path}/{k} = {v}")
            walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            walk(v, f"{path}[{i}]")
walk(doc, "")
if bad:
    sys.exit("second sweep deleted something: " + "; ".join(bad))
print("second sweep: deleted nothing", file=sys.stderr)
EOF
}

# ---------------------------------------------------------------- binary
if [[ -z "${STACKSWEEP_BIN:-}" ]]; then
  rc_log "building stacksweep (release)"
  (cd "$REPO" && cargo build --release --quiet --bin stacksweep)
  STACKSWEEP_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/stacksweep"
fi
step build

# A fresh bed each time: seeded names (keypairs) must not meet an earlier run's.
"$RC_HERE/down.sh"
"$RC_HERE/up.sh"
step up
export OS_CLIENT_CONFIG_FILE="$RC_DIR/clouds.yaml"

# ---------------------------------------------------------------- seed, sweep, verify
"$PY" "$RC_HERE/seed.py" --cloud ci --jobs "${REALCLOUD_JOBS:-2}" --async-server-delete \
  --backups --manila --dns --out "$OUT/manifest.json"
step seed

if [[ "${REALCLOUD_SKIP_SWEEP:-0}" == 1 ]]; then
  # Until the CLI lands: the reference deleter stands in, so verify is still proven.
  rc_log "REALCLOUD_SKIP_SWEEP=1: stacksweep not run; ref_sweep.py deletes the selection instead"
  "$PY" "$RC_HERE/ref_sweep.py" --cloud ci "$OUT/manifest.json"
  step ref-sweep
  "$PY" "$RC_HERE/verify.py" --cloud ci "$OUT/manifest.json"
  step verify
else
  mapfile -t sweep_args < <("$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["sweep_args"]))' "$OUT/manifest.json")
  cmd=("$STACKSWEEP_BIN" sweep --cloud ci "${sweep_args[@]}" --output json)
  rc_log "sweep: ${cmd[*]}"
  rc=0
  "${cmd[@]}" >"$OUT/sweep1.json" 2>"$OUT/sweep1.log" || rc=$?
  step sweep
  if ((rc != 0)); then
    tail -n 40 "$OUT/sweep1.log" >&2
    rc_die "first sweep exited $rc (want 0); report in $OUT/sweep1.json"
  fi
  "$PY" "$RC_HERE/verify.py" --cloud ci "$OUT/manifest.json"
  # cinder-backup: each job's incremental backup was deleted before the backup under it.
  "$PY" - "$OUT/sweep1.json" <<'EOF'
import json, sys
steps = json.load(open(sys.argv[1]))["targets"][0]["report"]["plan"]["steps"]
backups = {s["name"]: s for s in steps if s["kind"] == "volume-backup"}
fulls = [n for n in backups if n.endswith("-backup")]
bad = [n for n in fulls if backups.get(n + "-inc", {}).get("number") not in backups[n]["after"]]
if not fulls or bad:
    sys.exit(f"backups not planned after their incrementals: {bad or 'no backups in the plan'}")
print(f"volume backups: {len(fulls)} deleted after their incrementals", file=sys.stderr)
EOF
  step verify
  rc=0
  "${cmd[@]}" >"$OUT/sweep2.json" 2>"$OUT/sweep2.log" || rc=$?
  ((rc == 0)) || { tail -n 40 "$OUT/sweep2.log" >&2; rc_die "second sweep exited $rc (want 0)"; }
  deleted_nothing "$OUT/sweep2.json"
  "$PY" "$RC_HERE/verify.py" --cloud ci "$OUT/manifest.json"
  step second-sweep
fi

# ---------------------------------------------------------------- held by kept ones (Barbican, Manila)
# A secret job 7's name pattern selects, in an unmarked container, and a share network it
# selects holding an unmarked share: the sweep skips both, naming the container and the
# share, and exits 1 (something selected was left); all four stay.
if [[ "${REALCLOUD_SKIP_SWEEP:-0}" != 1 ]]; then
  "$PY" "$RC_HERE/seed.py" --cloud ci --jobs 1 --first-job 7 --held-secret --manila \
    --out "$OUT/manifest-held.json"
  mapfile -t sweep_args < <("$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["sweep_args"]))' "$OUT/manifest-held.json")
  rc=0
  "$STACKSWEEP_BIN" sweep --cloud ci "${sweep_args[@]}" --output json \
    >"$OUT/held-sweep.json" 2>"$OUT/held-sweep.log" || rc=$?
  ((rc == 1)) || { tail -n 40 "$OUT/held-sweep.log" >&2; rc_die "sweep of a held secret exited $rc (want 1: skipped)"; }
  "$PY" - "$OUT/manifest-held.json" "$OUT/held-sweep.json" <<'EOF'
import json, sys
held = json.load(open(sys.argv[1]))["held"]
doc = json.load(open(sys.argv[2]))
for kind, key, blocker in (("secret", "secret", "container"),
                           ("share-network", "share_network", "share")):
    rows = [r for t in doc["targets"] for r in t["report"]["resources"]
            if r["kind"] == kind and r["id"] == held[key]]
    if not rows or rows[0]["outcome"] != "skipped" or held[blocker] not in rows[0]["reason"]:
        sys.exit(f"held {kind} not skipped naming its {blocker} {held[blocker]}: {rows}")
    print(f"held {kind}: {rows[0]['reason']}", file=sys.stderr)
EOF
  "$PY" "$RC_HERE/verify.py" --cloud ci "$OUT/manifest-held.json"
  "$PY" "$RC_HERE/verify.py" --cloud ci "$OUT/manifest.json"
  step held
fi

# ---------------------------------------------------------------- projects (issue 15)
# One target over two of the member's three projects in every region: ci-2's leaked job
# goes; the same job (names, tags, metadata) in ci-other, which the target does not name,
# stays, and so does everything of ci's. RegionTwo (a second Neutron, nothing else) holds
# the job's network resources in all three projects: gone in ci and ci-2, whole in
# ci-other; the janitor finds every other kind absent there. A second run deletes nothing.
if [[ "${REALCLOUD_SKIP_SWEEP:-0}" != 1 ]]; then
  "$PY" "$RC_HERE/seed.py" --cloud ci-2 --jobs 1 --first-job 5 --no-survivors \
    --backups --manila --dns --out "$OUT/manifest-ci-2.json"
  "$PY" "$RC_HERE/seed.py" --cloud ci-other --jobs 1 --first-job 5 --no-survivors --no-keypair \
    --backups --manila --dns --out "$OUT/manifest-ci-other-seeded.json"
  seeds=()
  for p in ci ci-2 ci-other; do # in parallel: each is a few Neutron calls
    "$PY" "$RC_HERE/seed.py" --cloud "$p" --region RegionTwo --network-only --jobs 1 \
      --first-job 5 --no-survivors --out "$OUT/manifest-r2-$p.json" &
    seeds+=($!)
  done
  for pid in "${seeds[@]}"; do wait "$pid" || rc_die "seeding RegionTwo failed"; done
  for m in ci-other-seeded:ci-other r2-ci-other:r2-ci-other-kept; do
    "$PY" - "$OUT/manifest-${m%%:*}.json" "$OUT/manifest-${m#*:}.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["survivors"] += m["selected"]  # not in the target: every one of them must stay
m["selected"] = []
json.dump(m, open(sys.argv[2], "w"), indent=1)
EOF
  done
  cat >"$OUT/projects.toml" <<EOF
[[target]]
name = "ci-projects"
cloud = "ci"
projects = ["ci", "ci-2"]
regions = "all"
EOF
  mapfile -t sweep_args < <("$PY" -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["sweep_args"]))' "$OUT/manifest-ci-2.json")
  cmd=("$STACKSWEEP_BIN" sweep --config "$OUT/projects.toml" "${sweep_args[@]}" --output json)
  rc_log "sweep of two projects: ${cmd[*]}"
  for run in 1 2; do
    rc=0
    "${cmd[@]}" >"$OUT/projects-sweep$run.json" 2>"$OUT/projects-sweep$run.log" || rc=$?
    ((rc == 0)) || { tail -n 40 "$OUT/projects-sweep$run.log" >&2; rc_die "sweep $run of two projects exited $rc (want 0)"; }
    "$PY" "$RC_HERE/verify.py" --cloud ci-2 "$OUT/manifest-ci-2.json"
    "$PY" "$RC_HERE/verify.py" --cloud ci-other "$OUT/manifest-ci-other.json"
    "$PY" "$RC_HERE/verify.py" --cloud ci "$OUT/manifest.json"
    ((run == 2)) && continue # the second run deleted nothing (checked below)
    for m in ci:r2-ci ci-2:r2-ci-2 ci-other:r2-ci-other-kept; do
      "$PY" "$RC_HERE/verify.py" --cloud "${m%%:*}" --region RegionTwo "$OUT/manifest-${m#*:}.json"
    done
  done
  deleted_nothing "$OUT/projects-sweep2.json"
  "$PY" - "$OUT/projects-sweep1.json" <<'EOF'
import json, sys
units = {(t["unit"]["project"], t["unit"]["region"]): t for t in json.load(open(sys.argv[1]))["targets"]}
want = {(p, r) for p in ("ci", "ci-2") for r in ("RegionOne", "RegionTwo")}
if set(units) != want:
    sys.exit(f"units swept: {sorted(units)}, want {sorted(want)}")
bad = [k for k, t in units.items() if t["report"]["errors"] or t["report"]["aborted"]]
if bad:
    sys.exit(f"units with errors: {bad}")
# Every newer kind the bed runs went in ci-2 (RegionTwo: Neutron's).
want = {"RegionOne": ["trunk", "port-forwarding", "volume-backup", "secret", "secret-container",
                      "share", "share-snapshot", "share-network", "zone", "recordset"],
        "RegionTwo": ["network", "trunk", "port-forwarding"]}
for region, kinds in want.items():
    done = units[("ci-2", region)]["report"]["kinds"]
    missing = [k for k in kinds if not done.get(k, {}).get("deleted")]
    if missing:
        sys.exit(f"ci-2 in {region} deleted no {missing}")
print("projects: 4 units (2 projects x 2 regions) swept, no errors, every newer kind deleted",
      file=sys.stderr)
EOF
  step projects
fi

# ---------------------------------------------------------------- conformance
"$PY" "$RC_HERE/conformance.py" --cloud ci --out "$OUT/conformance-real.json"
step conformance-real

if [[ -x "$STACKSWEEP_BIN" ]] && "$STACKSWEEP_BIN" sim --help >/dev/null 2>&1; then
  sim_yaml="$OUT/sim-clouds.yaml"
  rm -f "$sim_yaml"
  # The bed runs Barbican, Manila and Designate: the simulator offers them too (its other
  # optional services stay off, as on the bed, so both skip the same cases).
  "$STACKSWEEP_BIN" sim --service key-manager --service sharev2 --service dns \
    --clouds-yaml "$sim_yaml" >"$OUT/sim.log" 2>&1 &
  sim_pid=$!
  for ((i = 0; i < 100; i++)); do [[ -s "$sim_yaml" ]] && break; sleep 0.2; done
  [[ -s "$sim_yaml" ]] || { tail -n 20 "$OUT/sim.log" >&2; rc_die "stacksweep sim wrote no clouds.yaml in 20 s"; }
  OS_CLIENT_CONFIG_FILE="$sim_yaml" "$PY" "$RC_HERE/conformance.py" --cloud sim \
    --out "$OUT/conformance-sim.json" || rc_log "conformance on the simulator had failing cases"
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  sim_pid=""
  "$PY" "$RC_HERE/conformance.py" --compare "$OUT/conformance-real.json" "$OUT/conformance-sim.json"
  step conformance-sim
else
  rc_log "no '$STACKSWEEP_BIN sim': conformance compared on the real cloud only"
fi
# ---------------------------------------------------------------- preflight and quota (issue 9)
# Preflight as the member: Octavia, Heat and Swift absent, every other kind usable, exit 0.
# Quota: what the first sweep reports freed matches what it deleted; the usage a dry run
# reads equals what Nova, Neutron and Cinder answer (the bed's quotas are unlimited: -1).
if [[ "${REALCLOUD_SKIP_SWEEP:-0}" != 1 ]]; then
  rc=0
  "$STACKSWEEP_BIN" preflight --cloud ci --output json >"$OUT/preflight.json" 2>"$OUT/preflight.log" || rc=$?
  # RegionTwo: Neutron's kinds usable, every other kind absent, exit 0.
  printf '[[target]]\nname = "ci-r2"\ncloud = "ci"\nregion = "RegionTwo"\n[target.select]\ntags = ["ci-job-5"]\n' \
    >"$OUT/region-two.toml"
  "$STACKSWEEP_BIN" preflight --config "$OUT/region-two.toml" --output json \
    >"$OUT/preflight-r2.json" 2>>"$OUT/preflight.log" || rc=$?
  "$STACKSWEEP_BIN" preflight --cloud ci >"$OUT/preflight.txt" 2>>"$OUT/preflight.log" || true
  cat "$OUT/preflight.txt" >&2
  ((rc == 0)) || rc_die "preflight exited $rc (want 0); see $OUT/preflight.json"
  "$PY" "$RC_HERE/quota_check.py" preflight "$OUT/preflight.json"
  "$PY" "$RC_HERE/quota_check.py" preflight --network-only "$OUT/preflight-r2.json"
  "$PY" "$RC_HERE/quota_check.py" freed "$OUT/sweep1.json"
  "$STACKSWEEP_BIN" sweep --cloud ci --dry-run --tag no-such-tag --output json \
    >"$OUT/quota-dry-run.json" 2>"$OUT/quota-dry-run.log"
  "$PY" "$RC_HERE/quota_check.py" usage --cloud ci "$OUT/quota-dry-run.json"
  step preflight-quota
  rc_log "preflight and quota checks passed"
fi

# ---------------------------------------------------------------- chaos (issue 17)
# Services restarted while stacksweep deletes (chaos.sh): neutron-server, RabbitMQ,
# MariaDB, Keystone. The stage's survivors stay in place and are checked each round.
if [[ "${REALCLOUD_SKIP_SWEEP:-0}" != 1 && "${REALCLOUD_CHAOS:-1}" != 0 ]]; then
  "$RC_HERE/chaos.sh" "$STACKSWEEP_BIN" "$OUT/manifest.json" "$OUT"
  step chaos
fi
rc_log "real-cloud stage passed; results in $OUT"
