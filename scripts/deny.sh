#!/usr/bin/env bash
# Supply-chain checks: `cargo deny check` (advisories, licences, bans, sources).
# Installs cargo-deny if missing. Reads the RustSec advisory database from an offline
# copy at ../shared/advisory-db when there is one (these build machines cannot reach
# GitHub), and lets cargo deny fetch it otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

DENY_VERSION=0.20.2
if ! command -v cargo-deny >/dev/null 2>&1 || [ "$(cargo-deny --version | awk '{print $2}')" != "$DENY_VERSION" ]; then
  echo "deny.sh: installing cargo-deny $DENY_VERSION (a few minutes, once per machine)"
  cargo install cargo-deny --locked --version "$DENY_VERSION" --quiet
fi

offline_db=../shared/advisory-db
if [ -d "$offline_db/crates" ]; then
  # cargo deny wants a git checkout named after the database URL's hash.
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  db="$root/advisory-db-3157b0e258782691"
  cp -r "$offline_db" "$db"
  git -C "$db" init -q
  git -C "$db" add -A
  git -C "$db" -c user.name=ci -c user.email=ci@localhost commit -qm "offline advisory-db"
  cargo fetch --locked --quiet
  STACKSWEEP_ADVISORY_DB="$root" cargo deny --offline check
else
  echo "deny.sh: no offline advisory database at $offline_db; fetching it"
  cargo deny check
fi
