#!/usr/bin/env bash
# Starts a throwaway single-node Slurm (munged, slurmctld, slurmd as root, no systemd) with all
# state under the directory $1, on ports 26817/26818 so it never meets a system Slurm.
# Afterwards: export SLURM_CONF=$1/etc/slurm.conf, then sbatch/squeue/...; stop with down.sh $1.
# Recipe and pitfalls: ../shared/notes/local-slurm.md.
set -euo pipefail
B="${1:?usage: up.sh STATE_DIR}"
B="$(cd "$B" && pwd)"
CPUS="${SLURM_TEST_CPUS:-$(nproc)}"
mkdir -p "$B"/{etc,munge,state,spool/slurmd,log,run}
chmod 755 "$B/munge"      # munged refuses a socket directory others cannot traverse
export SLURM_CONF="$B/etc/slurm.conf"
cat >"$SLURM_CONF" <<CONF
ClusterName=local
SlurmctldHost=localhost
SlurmctldPort=26817
SlurmdPort=26818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$B/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$B/state
SlurmdSpoolDir=$B/spool/slurmd
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MailProg=/bin/true
KillWait=5
MinJobAge=5
SchedulerParameters=sched_interval=2,batch_sched_delay=0
InactiveLimit=0
NodeName=localhost CPUs=$CPUS RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
[ -f "$B/munge/munge.key" ] || mungekey --create --keyfile="$B/munge/munge.key"
chmod 600 "$B/munge/munge.key"
munged --key-file="$B/munge/munge.key" --socket="$B/munge/munge.socket.2" \
       --pid-file="$B/munge/munged.pid" --log-file="$B/munge/munged.log" --seed-file="$B/munge/munged.seed"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF" -N localhost     # -N: the node is "localhost" whatever the hostname
for _ in $(seq 1 150); do
  state=$(sinfo -h -N -o %T 2>/dev/null || true)
  [ "$state" = "idle" ] && { echo "slurm up: node idle ($B)"; exit 0; }
  sleep 0.2
done
echo "slurm up: the node did not become idle (state '${state:-}'); logs in $B/log" >&2
exit 1
