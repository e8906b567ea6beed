#!/bin/sh
# tests/netns_rsh.sh — the "ssh" of tests/two_hosts.sh: Open MPI's mpirun starts its daemon on
# a remote host by running `<rsh agent> [options] HOST COMMAND...` (plm_rsh_agent). This agent
# runs COMMAND in the network namespace that plays HOST instead of logging in anywhere:
# TWO_HOSTS_MAP lists "ADDRESS=NAMESPACE" pairs. The namespace also gets a hostname of its own
# (a UTS namespace): two machines have two names.
while [ $# -gt 0 ] && [ "${1#-}" != "$1" ]; do shift; done  # ssh-style options (-x ...): none apply
host=$1
shift
for pair in $TWO_HOSTS_MAP; do
    if [ "${pair%%=*}" = "$host" ]; then
        exec ip netns exec "${pair#*=}" unshare --uts sh -c 'hostname "$0" && exec sh -c "$1"' "$host" "$*"
    fi
done
echo "error: netns_rsh.sh: no network namespace plays host $host (TWO_HOSTS_MAP=$TWO_HOSTS_MAP)" >&2
exit 1
