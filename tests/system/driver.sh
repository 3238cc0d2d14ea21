#!/bin/bash
# Runs the phase bounded in time, keeps the journal for the host, and ends the boot with its code.
# shellcheck source=/dev/null # written by run.sh for each boot
. /etc/system-test/env
mkdir -p "/out/$PHASE"
timeout -k 5 "${PHASE_TIMEOUT:-120}" /usr/local/lib/system-test/inside.sh >"/out/$PHASE/inside.log" 2>&1
rc=$?
[ $rc -eq 124 ] && echo "system-test: phase $PHASE timed out after ${PHASE_TIMEOUT:-120} s" | tee -a "/out/$PHASE/inside.log"
journalctl -b --no-pager -o short-precise >"/out/$PHASE/journal.txt" 2>&1
echo "system-test: phase $PHASE done (rc=$rc)"
systemctl exit "$rc"
