#!/usr/bin/env bash
# Stops the throwaway Slurm that up.sh started under $1: cancels jobs, waits for the queue to
# empty, shuts the daemons down, then stops munged. Falls back to signals, to our own PIDs only.
set -uo pipefail
B="${1:?usage: down.sh STATE_DIR}"
export SLURM_CONF="$B/etc/slurm.conf"
pid_of() { [ -f "$1" ] && cat "$1" 2>/dev/null; }
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
ctld=$(pid_of "$B/run/slurmctld.pid"); slurmd=$(pid_of "$B/run/slurmd.pid"); munge=$(pid_of "$B/munge/munged.pid")
if alive "$ctld"; then
  scancel --user="$(id -un)" 2>/dev/null
  for _ in $(seq 1 150); do [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
  scontrol shutdown 2>/dev/null
fi
for _ in $(seq 1 100); do alive "$ctld" || alive "$slurmd" || break; sleep 0.1; done
for sig in TERM KILL; do
  for p in "$ctld" "$slurmd"; do alive "$p" && kill -"$sig" "$p"; done
  sleep 0.5
done
munged --stop --socket="$B/munge/munge.socket.2" >/dev/null 2>&1 || { alive "$munge" && kill "$munge"; }
for _ in $(seq 1 50); do alive "$munge" || break; sleep 0.1; done
echo "slurm down ($B)"
