#!/usr/bin/env bash
# Checks config/alerts.yaml with promtool: `check rules`, `test rules` (config/alerts.test.yaml)
# and, given a file of scraped /metrics output, `check metrics`.
#
#   tests/alerts.sh [SCRAPED_METRICS_FILE]
#   tests/alerts.sh --scrape    # scrape a test daemon's /metrics first (runs cargo test)
#
# Installs Debian's `prometheus` package (for promtool) when promtool is missing; the
# package's server is stopped and disabled right after, so nothing is left listening.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "promtool not found: install Debian/Ubuntu's 'prometheus' package (or Prometheus' release tarball)" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # We only want promtool: make sure the packaged server is not left running.
    if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
        systemctl disable --now prometheus >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/prometheus ]; then
        /etc/init.d/prometheus stop >/dev/null 2>&1 || true
        update-rc.d prometheus disable >/dev/null 2>&1 || true
    fi
    if command -v ss >/dev/null 2>&1 && ss -ltnp 2>/dev/null | grep -q '"prometheus"'; then
        echo "warning: a prometheus server is still listening after install:" >&2
        ss -ltnp | grep '"prometheus"' >&2
    fi
fi

promtool --version 2>&1 | head -n 1
promtool check rules config/alerts.yaml
promtool test rules config/alerts.test.yaml

if [ "${1:-}" = "--scrape" ]; then
    scrape="$(mktemp)"
    trap 'rm -f "$scrape"' EXIT
    # The test scrapes a daemon after two sweeps and writes the text where this says.
    STACKSWEEP_METRICS_OUT="$scrape" cargo test -q --test daemon fake::metrics_move_with_sweeps >/dev/null
    set -- "$scrape"
fi

if [ $# -ge 1 ]; then
    # `check metrics` reads the exposition text on stdin and lints names, types and help.
    promtool check metrics < "$1"
fi
echo "alerts: ok"
