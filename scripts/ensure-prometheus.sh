#!/usr/bin/env bash
# Make Debian's `prometheus` and `promtool` available: apt-get install when missing and root.
set -euo pipefail
if command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-prometheus: installing Debian's prometheus package (no recommends)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  exit 0
fi
echo "ensure-prometheus: 'prometheus' is not on PATH and cannot be installed here" >&2
echo "  (needs root and apt-get). Install it: sudo apt-get install --no-install-recommends prometheus" >&2
echo "  Tests that need a real Prometheus will be skipped with this reason." >&2
exit 0
