#!/usr/bin/env bash
# tests/two_hosts.sh — run a program as 2 MPI ranks on two "machines" made on this one: two
# network namespaces joined by a veth pair (a virtual Ethernet cable), 10.77.0.1/24 and
# 10.77.0.2/24, each with its own loopback and hostname. Open MPI's mpirun runs on host A and
# starts its daemon on host B through tests/netns_rsh.sh (what ssh does between machines); the
# ranks then talk over TCP on the veth addresses only (--mca btl tcp,self: no shared memory), so
# every gradient all-reduce crosses a real network stack. Nothing leaves the two namespaces.
#
#   sudo bash tests/two_hosts.sh build/16_trainer train ...      (one rank on each host)
#
# At the end it prints the bytes each host sent over the veth pair. Exit status: the program's
# (mpirun's); 77 with one line "skip: ..." where this machine cannot make network namespaces (no
# root, or a container without CAP_NET_ADMIN): the test suite skips.
# Bounded: mpirun is stopped after TWO_HOSTS_TIMEOUT seconds (default 120; status 124), and the
# namespaces, with any process left in them, are removed on every exit.
set -uo pipefail
[ $# -gt 0 ] || { echo "usage: $0 PROGRAM [ARGS...]  (runs 2 ranks, one on each namespace host)" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
A=bertstep-a-$$ B=bertstep-b-$$  # unique per run: several test runs may share the machine
ADDR_A=10.77.0.1 ADDR_B=10.77.0.2 NET=10.77.0.0/24

cleanup() {
    for ns in "$A" "$B"; do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -f "${hostfile:-}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

skip() { echo "skip: $1" >&2; exit 77; }
command -v ip >/dev/null || skip "no ip command (iproute2) to make network namespaces"
command -v mpirun >/dev/null || skip "mpirun not found: install Open MPI (bash scripts/deps.sh)"
why=$(ip netns add "$A" 2>&1) || skip "cannot make network namespaces here (ip netns add: ${why##*: }); needs root with CAP_NET_ADMIN"
# The rest of the set-up can still be refused in a restricted container (no /sys remount...).
setup() {
    ip netns add "$B" &&
        ip link add veth-a netns "$A" type veth peer name veth-b netns "$B" &&
        ip -n "$A" addr add "$ADDR_A/24" dev veth-a && ip -n "$B" addr add "$ADDR_B/24" dev veth-b &&
        ip -n "$A" link set lo up && ip -n "$B" link set lo up &&
        ip -n "$A" link set veth-a up && ip -n "$B" link set veth-b up &&
        ip netns exec "$A" true
}
why=$(setup 2>&1) || skip "cannot set up the namespace hosts: $(echo "$why" | head -1)"

hostfile=$(mktemp /tmp/bertstep-two-hosts-XXXXXX)
printf '%s slots=1\n%s slots=1\n' "$ADDR_A" "$ADDR_B" > "$hostfile"
export TWO_HOSTS_MAP="$ADDR_A=$A $ADDR_B=$B"
# Open MPI refuses root unless told (this script needs root for the namespaces).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
timeout --foreground -k 5 "${TWO_HOSTS_TIMEOUT:-120}" ip netns exec "$A" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$ADDR_A" \
    mpirun -np 2 --hostfile "$hostfile" --map-by node \
    --mca plm_rsh_agent "$here/netns_rsh.sh" \
    --mca btl tcp,self --mca btl_tcp_if_include "$NET" --mca oob_tcp_if_include "$NET" \
    "$@"
status=$?
# What crossed the cable, read from each end's counters (the test checks the gradients did).
sent() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/tx_bytes" 2>/dev/null || echo 0; }
echo "two_hosts: $(sent "$A" veth-a) bytes sent from $ADDR_A to $ADDR_B, $(sent "$B" veth-b) from $ADDR_B to $ADDR_A" >&2
exit $status
