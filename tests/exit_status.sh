#!/bin/sh
# tests/exit_status.sh FILE COMMAND... — run COMMAND and write its exit status to FILE; a
# SIGTERM to this script is passed on to COMMAND (as mpirun's Ctrl-C sends it to each rank it
# started). Lets a test see how each rank of an mpirun job ended: test_dist.c's Ctrl-C test.
out=$1
shift
"$@" &
pid=$!
trap 'kill -TERM $pid' TERM
wait $pid
status=$?
while kill -0 $pid 2>/dev/null; do  # the trap interrupted wait: wait for COMMAND itself
    wait $pid
    status=$?
done
echo $status > "$out"
