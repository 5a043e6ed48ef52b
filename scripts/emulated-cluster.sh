#!/usr/bin/env bash
# An emulated multi-node cluster on one machine, for tests and experiments (docs/cluster.md).
#
#   scripts/emulated-cluster.sh up N [--rate R] [--slurm]   N nodes node1..nodeN (+ the head node)
#   scripts/emulated-cluster.sh mpirun ARGS...              mpirun from the head node across them
#   scripts/emulated-cluster.sh exec CMD...                 CMD on the head node (sbatch, squeue, ...)
#   scripts/emulated-cluster.sh on NODE CMD...              CMD on NODE (its network, its hostname)
#   scripts/emulated-cluster.sh rate R [NODE...]            shape links to R (tc rate: 1gbit, 100mbit; "off")
#   scripts/emulated-cluster.sh link NODE up|down           take a node's link down or up
#   scripts/emulated-cluster.sh status | down
#
# Each node is a Linux network namespace with one veth link to a bridge; the bridge lives in a
# namespace of its own, the head node ("head"), where mpirun, slurmctld and munged run, as on
# a cluster's login node. Addresses come from a private test subnet that exists only inside these
# namespaces (nothing is added to the machine's own network, and no route leads out), so traffic
# between nodes never leaves the machine. Each node gets its own hostname (a UTS namespace per
# launch), so Open MPI sees distinct nodes: TCP between them, shared memory within one. Links are
# shaped with tc's tbf in both directions; these kernels have no netem, so no delay emulation.
# The machine's filesystem stands in for a shared one. Needs root, ip (iproute2) and tc.
#
# Everything the script makes is recorded under $SPARKNET_CLUSTER_DIR (default
# /run/sparknet-emulated-cluster) as it is made, so `down` removes it all (namespaces, links,
# processes, /etc/hosts lines), also after a failed `up`. `up` is idempotent and refuses to touch
# namespaces or hosts entries it did not make.
set -uo pipefail

STATE="${SPARKNET_CLUSTER_DIR:-/run/sparknet-emulated-cluster}"
NET="${SPARKNET_CLUSTER_NET:-10.213.37}"     # /24 prefix; nodes .1..N, head .254
HEAD=head
HEADNS=sn-head
BRIDGE=sn-br0
MARK="# sparknet-emulated-cluster"
ME="emulated-cluster"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

die() { echo "$ME: $*" >&2; exit 1; }
say() { echo "$ME: $*"; }

need_tools() {
  [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, veth links and tc); run it as root"
  local t
  for t in ip tc unshare; do command -v "$t" >/dev/null || die "needs '$t' (Debian: iproute2, util-linux)"; done
}

nodes() { cat "$STATE/nodes" 2>/dev/null || echo 0; }
made() { echo "$*" >>"$STATE/made"; }
is_ours() { [ -f "$STATE/made" ] && grep -qxF "$1" "$STATE/made"; }
ns_exists() { [ -e "/var/run/netns/$1" ]; }
in_head() { ip netns exec "$HEADNS" "$@"; }

# tc's rate (1gbit, 100mbit, 10kbit, 500kbps, 1000000) in bits per second.
rate_bps() {
  local r="${1,,}" n unit
  [[ "$r" =~ ^([0-9]+(\.[0-9]+)?)([a-z]*)$ ]] || return 1
  n=${BASH_REMATCH[1]}; unit=${BASH_REMATCH[3]}
  case "$unit" in
    ""|bit) awk -v n="$n" 'BEGIN { printf "%.0f", n }' ;;
    kbit) awk -v n="$n" 'BEGIN { printf "%.0f", n * 1e3 }' ;;
    mbit) awk -v n="$n" 'BEGIN { printf "%.0f", n * 1e6 }' ;;
    gbit) awk -v n="$n" 'BEGIN { printf "%.0f", n * 1e9 }' ;;
    bps) awk -v n="$n" 'BEGIN { printf "%.0f", n * 8 }' ;;
    kbps) awk -v n="$n" 'BEGIN { printf "%.0f", n * 8e3 }' ;;
    mbps) awk -v n="$n" 'BEGIN { printf "%.0f", n * 8e6 }' ;;
    gbps) awk -v n="$n" 'BEGIN { printf "%.0f", n * 8e9 }' ;;
    *) return 1 ;;
  esac
}

# shape_dev NS DEV RATE: tbf on DEV's egress in namespace NS, or none for "off".
shape_dev() {
  local ns=$1 dev=$2 rate=$3
  ip -n "$ns" link show "$dev" >/dev/null 2>&1 || return 0
  tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null || true
  [ "$rate" = off ] && return 0
  local bps burst limit
  bps=$(rate_bps "$rate") || die "rate '$rate' is not a tc rate (examples: 1mbit, 100mbit, 1gbit, 10gbit, off)"
  # Burst: 1 ms at the rate, at least two full frames (a larger bucket lets a short exchange
  # run above the rate: 4 ms made a 1.7 MB reduce + broadcast measure 130 % of 1 Gbit/s);
  # queue: 100 ms.
  burst=$(awk -v b="$bps" 'BEGIN { x = b / 8 * 0.001; if (x < 3100) x = 3100; printf "%.0f", x }')
  limit=$(awk -v b="$bps" -v u="$burst" 'BEGIN { x = b / 8 * 0.1 + u; if (x < 65536) x = 65536; printf "%.0f", x }')
  tc -n "$ns" qdisc add dev "$dev" root tbf rate "$bps"bit burst "$burst" limit "$limit" ||
    die "tc could not shape $dev on $ns to $rate"
}

# shape NODE RATE: both directions of NODE's link (its eth0 out, the bridge port towards it).
shape() {
  shape_dev "$1" eth0 "$2"
  shape_dev "$HEADNS" "sn-$1" "$2"
  echo "$2" >"$STATE/rate.$1"
}

# A node that vanishes (link down, crash) leaves TCP retrying unacknowledged data for ~15 min
# with Linux's defaults, and mpirun waits that long for its daemon there. Inside these
# namespaces a connection gives up after ~6 s of silence (tcp_retries2=4: 0.2+0.4+...+3.2 s)
# and idle ones are probed every second after 2 s; docs/cluster.md says how to do the same on a
# real cluster.
TCP_RETRIES="${SPARKNET_CLUSTER_TCP_RETRIES:-4}"
tcp_tuning() {
  ip netns exec "$1" sysctl -qw net.ipv4.tcp_retries2="$TCP_RETRIES" net.ipv4.tcp_keepalive_time=2 \
    net.ipv4.tcp_keepalive_intvl=1 net.ipv4.tcp_keepalive_probes=3 >/dev/null
}

# named_elsewhere HOST: a line of /etc/hosts that this script did not write names HOST.
named_elsewhere() {
  awk -v h="$1" -v m="$MARK" '!/^[[:space:]]*#/ && index($0, m) == 0 { for (i = 2; i <= NF; i++) if ($i == h) f = 1 } END { exit !f }' /etc/hosts
}

hosts_add() {
  grep -qF "$1 $2 $MARK" /etc/hosts && return 0
  # Another line that names this host is not ours: refuse rather than shadow it.
  if named_elsewhere "$2"; then
    die "/etc/hosts already names '$2' (not a line this script wrote); remove it or set SPARKNET_CLUSTER_NET/use another machine"
  fi
  [ -z "$(tail -c 1 /etc/hosts)" ] || echo >>/etc/hosts
  echo "$1 $2 $MARK" >>/etc/hosts
}

hosts_remove() {
  grep -qF "$MARK" /etc/hosts || return 0
  # Rewrite in place (a bind-mounted /etc/hosts cannot be replaced by rename).
  local kept; kept=$(grep -vF "$MARK" /etc/hosts)
  printf '%s\n' "$kept" >/etc/hosts
}

cmd_up() {
  local n="" rate=off slurm=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --rate) rate="${2:-}"; shift 2 || die "--rate needs a value (e.g. 1gbit)" ;;
      --rate=*) rate="${1#--rate=}"; shift ;;
      --slurm) slurm=1; shift ;;
      [0-9]*) n=$1; shift ;;
      *) die "up: unknown argument '$1' (usage: up N [--rate R] [--slurm])" ;;
    esac
  done
  [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] && [ "$n" -le 200 ] || die "up: N must be a number of nodes from 1 to 200 (got '${n}')"
  [ "$rate" = off ] || rate_bps "$rate" >/dev/null || die "--rate '$rate' is not a tc rate (examples: 1mbit, 100mbit, 1gbit, 10gbit)"
  need_tools
  if [ -f "$STATE/nodes" ]; then
    local have; have=$(nodes)
    [ "$have" -eq "$n" ] || die "a cluster of $have nodes is up; run '$0 down' first"
    [ -f "$STATE/up" ] || die "an earlier 'up' did not finish; run '$0 down' first"
    cmd_rate "$rate"
    if [ "$slurm" = 1 ] && [ ! -f "$STATE/slurm/up" ]; then slurm_up || exit 1; fi
    say "$n nodes already up (links: $rate)"
    return 0
  fi
  # Refuse to clobber what someone else made.
  local i
  for i in $HEADNS $(seq -f 'node%g' 1 "$n"); do
    ns_exists "$i" && die "a network namespace '$i' exists that this script did not make (state: $STATE); remove it or run elsewhere"
  done
  for i in $HEAD $(seq -f 'node%g' 1 "$n"); do
    named_elsewhere "$i" && die "/etc/hosts already names '$i' (not a line this script wrote)"
  done
  mkdir -p "$STATE" && chmod 755 "$STATE"
  : >"$STATE/made"
  echo "$n" >"$STATE/nodes"
  trap 'echo "$ME: up failed (line $LINENO); removing what it made" >&2; cmd_down >/dev/null 2>&1; exit 1' ERR
  set -E
  made "ns $HEADNS"
  ip netns add "$HEADNS" || false
  in_head ip link set lo up
  tcp_tuning "$HEADNS"
  in_head ip link add "$BRIDGE" type bridge
  in_head ip link set "$BRIDGE" up
  in_head ip addr add "$NET.254/24" dev "$BRIDGE"
  made "hosts $HEAD"; hosts_add "$NET.254" "$HEAD"
  for i in $(seq 1 "$n"); do
    local node="node$i"
    made "ns $node"
    ip netns add "$node"
    ip -n "$node" link set lo up
    tcp_tuning "$node"
    # The veth pair: eth0 in the node, sn-nodeI on the head node's bridge.
    ip link add "sn-$node" netns "$HEADNS" type veth peer name eth0 netns "$node"
    in_head ip link set "sn-$node" master "$BRIDGE" up
    ip -n "$node" addr add "$NET.$i/24" dev eth0
    ip -n "$node" link set eth0 up
    made "hosts $node"; hosts_add "$NET.$i" "$node"
    shape "$node" "$rate"
  done
  # Open MPI's launcher: runs orted on a node (its namespace, its own hostname), as ssh would.
  cat >"$STATE/rsh-agent" <<'AGENT'
#!/bin/sh
# plm_rsh_agent of scripts/emulated-cluster.sh: AGENT [options] HOST COMMAND...
while [ $# -gt 0 ]; do case "$1" in -*) shift ;; *) break ;; esac; done
host=$1; shift
case "$host" in *.*) host=$(awk -v a="$host" '$1 == a { print $2; exit }' /etc/hosts) ;; esac
[ -e "/var/run/netns/$host" ] || { echo "emulated-cluster agent: no node '$host'" >&2; exit 255; }
exec ip netns exec "$host" unshare --uts sh -c "hostname $host && $*"
AGENT
  chmod 755 "$STATE/rsh-agent"
  # Wait until every node answers on TCP (the bridge learns its ports).
  for i in $(seq 1 "$n"); do
    reachable "node$i" || { echo "$ME: node$i cannot reach the head node" >&2; false; }
  done
  touch "$STATE/up"
  if [ "$slurm" = 1 ]; then slurm_up || false; fi
  trap - ERR
  say "$n nodes up: $(seq -s ' ' -f 'node%g' 1 "$n") on $NET.0/24 (head: $NET.254), links: $rate"
}

cmd_rate() {
  local rate="${1:?usage: rate R [NODE...]}"; shift
  [ -f "$STATE/up" ] || die "no cluster is up (run '$0 up N')"
  [ "$rate" = off ] || rate_bps "$rate" >/dev/null || die "rate '$rate' is not a tc rate (examples: 1mbit, 100mbit, 1gbit, 10gbit, off)"
  local targets=("$@") i
  [ ${#targets[@]} -gt 0 ] || targets=($(seq -f 'node%g' 1 "$(nodes)"))
  for i in "${targets[@]}"; do
    is_ours "ns $i" || die "no node '$i' in this cluster (nodes: node1..node$(nodes))"
    shape "$i" "$rate"
  done
  say "links of ${targets[*]}: $rate"
}

# reachable NODE: waits (up to 5 s) until NODE reaches the head node over TCP (a refused
# connection to port 9 is an answer).
reachable() {
  local said
  for _ in $(seq 1 50); do
    said=$(ip netns exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$NET.254/9" 2>&1) || true
    [[ "$said" == *refused* ]] && return 0
    sleep 0.1
  done
  return 1
}

cmd_link() {
  local node="${1:-}" state="${2:-}"
  [ -f "$STATE/up" ] || die "no cluster is up (run '$0 up N')"
  is_ours "ns $node" || die "no node '$node' in this cluster (nodes: node1..node$(nodes))"
  case "$state" in up|down) ;; *) die "usage: link NODE up|down" ;; esac
  # The bridge's port: the node keeps its address and its processes, but nothing crosses.
  in_head ip link set "sn-$node" "$state"
  if [ "$state" = up ]; then
    # Addresses the link's loss marked unreachable would fail the next connection at once.
    ip -n "$node" neigh flush all 2>/dev/null || true
    in_head ip neigh flush all 2>/dev/null || true
    reachable "$node" || die "$node does not answer after its link came up"
  fi
  say "$node's link is $state"
}

cmd_status() {
  if [ ! -f "$STATE/nodes" ]; then echo "$ME: no cluster"; return 0; fi
  local n; n=$(nodes)
  echo "$ME: $n nodes$([ -f "$STATE/up" ] || echo ' (up incomplete: run down)'), state in $STATE"
  local i
  for i in $(seq 1 "$n"); do
    local node="node$i" link="?" procs
    ns_exists "$node" || { echo "  $node: missing"; continue; }
    link=$(in_head ip -br link show "sn-$node" 2>/dev/null | awk '{ print $2 }')
    procs=$(ip netns pids "$node" 2>/dev/null | wc -l)
    printf '  %-7s %s.%s  link %-5s rate %-8s processes %s\n' "$node" "$NET" "$i" "${link,,}" "$(cat "$STATE/rate.$node" 2>/dev/null || echo off)" "$procs"
  done
  if [ -f "$STATE/slurm/up" ]; then
    echo "  slurm: up (SLURM_CONF=$STATE/slurm/etc/slurm.conf; submit with '$0 exec sbatch ...')"
    in_head env SLURM_CONF="$STATE/slurm/etc/slurm.conf" sinfo -N -h -o '    %N %T' 2>/dev/null
  fi
}

# Kills every process in namespace $1 (TERM, then KILL).
kill_ns() {
  ns_exists "$1" || return 0
  local pids sig
  for sig in TERM KILL; do
    pids=$(ip netns pids "$1" 2>/dev/null)
    [ -n "$pids" ] || return 0
    kill -"$sig" $pids 2>/dev/null
    for _ in $(seq 1 20); do [ -z "$(ip netns pids "$1" 2>/dev/null)" ] && return 0; sleep 0.1; done
  done
}

cmd_down() {
  [ "$(id -u)" -eq 0 ] || die "needs root"
  if [ ! -f "$STATE/made" ]; then
    hosts_remove
    say "no cluster (nothing to remove)"
    return 0
  fi
  [ -f "$STATE/slurm/up" ] && slurm_down
  local line kind name
  # Processes first (nodes, then the head node), then namespaces: their veths go with them.
  while read -r kind name; do [ "$kind" = ns ] && [ "$name" != "$HEADNS" ] && kill_ns "$name"; done <"$STATE/made"
  kill_ns "$HEADNS"
  while read -r kind name; do
    [ "$kind" = ns ] && ns_exists "$name" && ip netns del "$name"
  done <"$STATE/made"
  hosts_remove
  # Deleting a namespace removes its links asynchronously: wait for them.
  for _ in $(seq 1 50); do ip -br link | grep -q '^sn-' || break; sleep 0.1; done
  rm -rf "$STATE"
  say "down: namespaces, links, processes and hosts lines removed"
}

# --- Slurm across the nodes: slurmctld and munged on the head node, one slurmd per node.
SLURM_PORTS=(26827 26828)
slurm_up() {
  local S="$STATE/slurm" n i
  n=$(nodes)
  local t
  for t in slurmctld slurmd munged mungekey; do
    command -v "$t" >/dev/null || { echo "$ME: --slurm needs $t (Tests/slurm/install.sh installs Slurm and munge)" >&2; return 1; }
  done
  mkdir -p "$S"/{etc,munge,state,spool,log,run} && chmod 755 "$S" "$S/munge"
  local cpus; cpus=$(nproc)
  {
    cat <<CONF
ClusterName=emulated
SlurmctldHost=$HEAD($NET.254)
SlurmctldPort=${SLURM_PORTS[0]}
SlurmdPort=${SLURM_PORTS[1]}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge/munge.socket.2,cred_expire=10
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/%n
SlurmctldPidFile=$S/run/slurmctld.pid
SlurmdPidFile=$S/run/slurmd.%n.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.%n.log
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
SlurmdTimeout=30
SchedulerParameters=sched_interval=2,batch_sched_delay=0
InactiveLimit=0
CONF
    for i in $(seq 1 "$n"); do
      echo "NodeName=node$i NodeAddr=$NET.$i CPUs=$cpus RealMemory=1000 State=UNKNOWN"
    done
    echo "PartitionName=debug Nodes=node[1-$n] Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO"
  } >"$S/etc/slurm.conf"
  for i in $(seq 1 "$n"); do mkdir -p "$S/spool/node$i"; done
  [ -f "$S/munge/munge.key" ] || mungekey --create --keyfile="$S/munge/munge.key" >/dev/null
  chmod 600 "$S/munge/munge.key"
  export SLURM_CONF="$S/etc/slurm.conf"
  in_head munged --key-file="$S/munge/munge.key" --socket="$S/munge/munge.socket.2" \
    --pid-file="$S/munge/munged.pid" --log-file="$S/munge/munged.log" --seed-file="$S/munge/munged.seed" || return 1
  in_head unshare --uts sh -c "hostname $HEAD && exec slurmctld -f '$SLURM_CONF'" || return 1
  for i in $(seq 1 "$n"); do
    # The node's own hostname (UTS namespace), so jobs and Open MPI see node$i. nsenter, not
    # `ip netns exec`, which remounts /sys and hides the cgroup filesystems slurmd needs.
    setsid nsenter --net="/var/run/netns/node$i" unshare --uts sh -c "hostname node$i && exec slurmd -D -f '$SLURM_CONF' -N node$i" \
      >>"$S/log/slurmd.node$i.out" 2>&1 </dev/null &
  done
  local idle=""
  for _ in $(seq 1 300); do
    idle=$(in_head sinfo -h -N -o '%N %T' 2>/dev/null | awk '$2 == "idle"' | wc -l)
    [ "$idle" -eq "$n" ] && break
    sleep 0.2
  done
  if [ "$idle" -ne "$n" ]; then
    echo "$ME: slurm: $idle of $n nodes idle after 60 s; logs in $S/log" >&2
    return 1
  fi
  touch "$S/up"
  say "slurm up: slurmctld on $HEAD, slurmd on node1..node$n (SLURM_CONF=$SLURM_CONF)"
}

slurm_down() {
  local S="$STATE/slurm"
  export SLURM_CONF="$S/etc/slurm.conf"
  in_head scancel --user=root 2>/dev/null
  for _ in $(seq 1 150); do [ -z "$(in_head squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
  in_head scontrol shutdown >/dev/null 2>&1
  for _ in $(seq 1 50); do
    [ -n "$(cat "$S"/run/*.pid 2>/dev/null | while read -r p; do kill -0 "$p" 2>/dev/null && echo "$p"; done)" ] || break
    sleep 0.1
  done
  in_head munged --stop --socket="$S/munge/munge.socket.2" >/dev/null 2>&1
  rm -f "$S/up"
}

# --- launching across the nodes
cmd_mpirun() {
  [ -f "$STATE/up" ] || die "no cluster is up (run '$0 up N')"
  local n; n=$(nodes)
  local a mapped=0 bound=0
  for a in "$@"; do
    case "$a" in
      -H|--host|-host|--hostfile|-hostfile|--machinefile|-machinefile|--rankfile|-rf|--map-by|-map-by|--npernode|-npernode|-N|--ppr|-ppr|--bynode|-bynode) mapped=1 ;;
      --bind-to|-bind-to) bound=1 ;;
    esac
  done
  local hosts; hosts=$(seq -s, -f 'node%g' 1 "$n")
  local extra=(--mca plm_rsh_agent "$STATE/rsh-agent" --mca plm_rsh_no_tree_spawn 1
               --mca btl self,vader,tcp --mca btl_tcp_if_include "$NET.0/24" --mca oob_tcp_if_include "$NET.0/24"
               --mca oob_tcp_keepalive_time 2 --mca oob_tcp_keepalive_intvl 1 --mca oob_tcp_keepalive_probes 3)
  # Without a mapping of the user's, one rank per node in turn over every node's slots.
  if [ "$mapped" = 0 ]; then
    local slots; slots=$(nproc)
    hosts=$(seq -s, -f "node%g:$slots" 1 "$n")
    extra+=(-H "$hosts" --map-by node)
  else
    # The user maps ranks; the nodes are known to mpirun as a hostfile.
    awk -v n="$n" -v s="$(nproc)" 'BEGIN { for (i = 1; i <= n; i++) print "node" i " slots=" s }' >"$STATE/hostfile"
    extra+=(--mca orte_default_hostfile "$STATE/hostfile")
  fi
  # The emulated nodes share this machine's cores: binding would pile every node's first rank
  # onto core 0.
  [ "$bound" = 1 ] || extra+=(--bind-to none)
  # ... and they are oversubscribed whatever each node's slots say: ranks waiting in MPI yield
  # the core instead of spinning on it (Open MPI does this by itself on one oversubscribed node).
  extra+=(--mca mpi_yield_when_idle 1)
  export OMPI_MCA_plm_rsh_agent="$STATE/rsh-agent"
  exec ip netns exec "$HEADNS" unshare --uts sh -c "hostname $HEAD && exec \"\$@\"" mpirun mpirun "${extra[@]}" "$@"
}

cmd_exec() {
  [ -f "$STATE/up" ] || die "no cluster is up (run '$0 up N')"
  [ $# -gt 0 ] || die "usage: exec CMD..."
  [ -f "$STATE/slurm/etc/slurm.conf" ] && export SLURM_CONF="$STATE/slurm/etc/slurm.conf"
  exec ip netns exec "$HEADNS" unshare --uts sh -c "hostname $HEAD && exec \"\$@\"" "$1" "$@"
}

cmd_on() {
  local node="${1:-}"; shift || true
  [ -f "$STATE/up" ] || die "no cluster is up (run '$0 up N')"
  is_ours "ns $node" || die "no node '$node' in this cluster"
  [ $# -gt 0 ] || die "usage: on NODE CMD..."
  exec ip netns exec "$node" unshare --uts sh -c "hostname $node && exec \"\$@\"" "$1" "$@"
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) shift; cmd_down ;;
  status) shift; cmd_status ;;
  rate) shift; need_tools; cmd_rate "$@" ;;
  link) shift; need_tools; cmd_link "$@" ;;
  mpirun) shift; need_tools; cmd_mpirun "$@" ;;
  exec) shift; need_tools; cmd_exec "$@" ;;
  on) shift; need_tools; cmd_on "$@" ;;
  ""|-h|--help|help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; [ -n "${1:-}" ] ;;
  *) die "unknown command '$1' (up, mpirun, exec, on, rate, link, status, down)" ;;
esac
