#!/usr/bin/env bash
# Installs Debian's Slurm (slurmctld, slurmd, client tools) and munge for the throwaway-cluster
# test, without recommended packages (7 packages instead of 34). A no-op when present. Retries
# around a busy dpkg lock and archives a concurrent apt run deleted.
set -euo pipefail
PACKAGES=(slurm-wlm slurmctld slurmd slurm-client munge)
missing=()
for p in "${PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
[ ${#missing[@]} -eq 0 ] && { echo "slurm install: all present"; exit 0; }
if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi
export DEBIAN_FRONTEND=noninteractive
retry() {
  local i
  for i in $(seq 1 10); do
    "$@" && return 0
    echo "slurm install: '$*' failed (attempt $i/10); retrying in 10 s" >&2
    sleep 10
  done
  return 1
}
retry "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=120 update -q
retry "${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=120 install -y -q --no-install-recommends "${missing[@]}"
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || { echo "slurm install: $p is still missing" >&2; exit 1; }
done
echo "slurm install: done"
