#!/usr/bin/env bash
# scripts/deps.sh — check that the Debian packages bertstep builds with are installed; as root
# with apt-get, install the missing ones, else print the one command that does.
# `deps.sh --check` only checks (exit 1 with the same message), never installs: for machines
# with no network, such as the GPU machine bench/gpu_quick.sh runs on (make test-gpu asks so).
set -euo pipefail
pkgs="build-essential libutf8proc-dev libstb-dev libcjson-dev libcsv-dev libcriterion-dev python3-pip unzip curl openmpi-bin libopenmpi-dev iproute2"
missing=""
for p in $pkgs; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
[ -z "$missing" ] && exit 0
if [ "${1:-}" != --check ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "deps: installing$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
    echo "error: missing Debian packages:$missing; install them with: sudo apt-get install$missing" >&2
    exit 1
fi
