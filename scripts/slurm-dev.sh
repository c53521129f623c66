#!/usr/bin/env bash
# A Slurm cluster on this one host, for development and CI: `scripts/slurm-dev.sh start|stop|status`.
#
# start   installs Slurm, munge and MariaDB from Debian's packages when they are missing, then
#         starts (only what is not running yet) a private munged, MariaDB + slurmdbd (so `sacct`
#         works), slurmctld, and one slurmd per simulated node (n1..nN), each node with fake GPUs:
#         character devices (major 195, like /dev/nvidiaN) that gres hands out. Everything lives
#         under .slurm-dev/; `source .slurm-dev/env.sh` points the Slurm commands at it.
# stop    stops every daemon it started (and the job steps they left behind).
# kill-node NAME   loses node NAME as a machine is lost (power, kernel panic): its slurmd and
#         every job step on it are SIGKILLed at once. slurmctld marks it DOWN after
#         SlurmdTimeout and its jobs NODE_FAIL; `start` brings it back. (Killing the slurmd
#         alone is not a node loss: its job steps run on until the slurmd restarts.)
# status  says which daemons run, and prints `sinfo`.
#
# Settings (environment): SLURM_DEV_DIR (.slurm-dev in the repository), SLURM_DEV_NODES (3),
# SLURM_DEV_CPUS per node (2), SLURM_DEV_MEMORY_MIB per node (2048), SLURM_DEV_GPUS per node (2),
# SLURM_DEV_GPU_TYPE (empty: untyped `gpu:N`; e.g. `h100` for `gpu:h100:N`),
# SLURM_DEV_ACCOUNTING (1: MariaDB + slurmdbd; 0: jobcomp/filetxt only),
# SLURM_DEV_SLURMD_TIMEOUT (10 s before an unresponsive node is marked DOWN),
# SLURM_DEV_SCHEDULER_PARAMETERS (empty: Slurm's defaults; `batch_sched_delay=0` starts a job
# submitted right after another without Slurm's default batching delay of up to 3 s),
# SLURM_DEV_MESSAGE_TIMEOUT (empty: Slurm's 10 s; each ping of a lost node waits it out, so a
# lost node is DOWN after about SlurmdTimeout + 2 x MessageTimeout: 26 s at 10, 14 s at 5).
# Runs as root (Debian 12): Slurm's daemons as root, MariaDB as its mysql user.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SLURM_DEV_DIR:-$REPO/.slurm-dev}"
NODES="${SLURM_DEV_NODES:-3}"
CPUS="${SLURM_DEV_CPUS:-2}"
MEMORY_MIB="${SLURM_DEV_MEMORY_MIB:-2048}"
GPUS="${SLURM_DEV_GPUS:-2}"
GPU_TYPE="${SLURM_DEV_GPU_TYPE:-}"
ACCOUNTING="${SLURM_DEV_ACCOUNTING:-1}"
SLURMD_TIMEOUT="${SLURM_DEV_SLURMD_TIMEOUT:-10}"
SCHEDULER_PARAMETERS="${SLURM_DEV_SCHEDULER_PARAMETERS:-}"
MESSAGE_TIMEOUT="${SLURM_DEV_MESSAGE_TIMEOUT:-}"

ETC="$DIR/etc"
RUN="$DIR/run"
LOG="$DIR/log"
STATE="$DIR/state"
MUNGE_SOCKET="$DIR/munge/munge.socket"
export SLURM_CONF="$ETC/slurm.conf"

say() { echo "slurm-dev: $*"; }
die() {
  echo "slurm-dev: error: $*" >&2
  exit 1
}
# Exit status 4 means "Slurm cannot be installed here" (tests skip, loudly, on it alone).
cannot_install() {
  echo "slurm-dev: error: $*" >&2
  exit 4
}

# ------------------------------------------------------------------------------ processes

# A pid from a pid file, if that process is alive (not a zombie) and runs the expected program.
live_pid() {
  local file="$1" comm="$2" pid
  [[ -s "$file" ]] || return 1
  pid="$(tr -dc '0-9' <"$file")"
  [[ -n "$pid" && -r "/proc/$pid/status" ]] || return 1
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null && return 1
  [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == "$comm" ]] || return 1
  echo "$pid"
}

gone() { # true when the pid no longer exists or is a zombie
  local pid="$1"
  [[ -r "/proc/$pid/status" ]] || return 0
  grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" 2>/dev/null
}

# Start a program in the foreground mode of its own, detached: new session, stdio on its log.
spawn() {
  local name="$1"
  shift
  setsid "$@" </dev/null >>"$LOG/$name.out" 2>&1 &
  echo $! >"$RUN/$name.pid"
}

# Stop a daemon by its pid file: SIGTERM, then SIGKILL once `wait_s` seconds have passed.
stop_daemon() {
  local name="$1" comm="$2" wait_s="$3" pid deadline
  pid="$(live_pid "$RUN/$name.pid" "$comm")" || {
    rm -f "$RUN/$name.pid"
    return 0
  }
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + wait_s))
  while ! gone "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if ! gone "$pid"; then
    kill -KILL "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 5))
    while ! gone "$pid" && ((SECONDS < deadline)); do sleep 0.1; done
  fi
  rm -f "$RUN/$name.pid"
  say "stopped $name ($pid)"
}

wait_until() { # wait_until SECONDS DESCRIPTION COMMAND...
  local limit="$1" what="$2" deadline
  shift 2
  deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what did not come up within ${limit} s (logs: $LOG)"
    sleep 0.2
  done
}

node_names() {
  local i
  for ((i = 1; i <= NODES; i++)); do echo "n$i"; done
}

any_daemon_running() {
  local f
  for f in "$RUN"/*.pid; do
    [[ -e "$f" ]] || continue
    local comm
    case "$(basename "$f" .pid)" in
      munged) comm=munged ;;
      mariadb) comm=mariadbd ;;
      slurmdbd) comm=slurmdbd ;;
      slurmctld) comm=slurmctld ;;
      slurmd-*) comm=slurmd ;;
      *) continue ;;
    esac
    live_pid "$f" "$comm" >/dev/null && return 0
  done
  return 1
}

# ------------------------------------------------------------------------------ install

install_packages() {
  local need=() want=(slurmctld slurmd slurm-client munge)
  [[ "$ACCOUNTING" == 1 ]] && want+=(slurmdbd mariadb-server)
  local pkg
  for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      need+=("$pkg")
  done
  ((${#need[@]} == 0)) && return 0
  say "installing ${need[*]}"
  command -v apt-get >/dev/null || cannot_install "apt-get not found: install ${need[*]} by hand"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || cannot_install "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
    cannot_install "apt-get could not install ${need[*]}"
}

# ------------------------------------------------------------------------------ configuration

port_free() { ! ss -Htln "sport = :$1" 2>/dev/null | grep -q .; }

# A base port whose block (base .. base+10+NODES) is free; the same one as last time if it still is.
choose_ports() {
  local base candidate p ok
  if [[ -s "$ETC/ports" ]]; then
    candidate="$(cat "$ETC/ports")"
  else
    # Spread checkouts over 17000-26900 so that two of them on one host rarely meet.
    candidate=$((17000 + ($(echo "$DIR" | cksum | cut -d' ' -f1) % 100) * 100))
  fi
  for ((tries = 0; tries < 100; tries++)); do
    ok=1
    for p in $candidate $((candidate + 1)) $((candidate + 2)); do port_free "$p" || ok=0; done
    for ((p = candidate + 10; p < candidate + 10 + NODES; p++)); do port_free "$p" || ok=0; done
    if ((ok)); then
      base=$candidate
      break
    fi
    candidate=$((17000 + ((candidate - 17000 + 100) % 10000)))
  done
  [[ -n "${base:-}" ]] || die "no free block of ports found in 17000-26999"
  echo "$base" >"$ETC/ports"
  echo "$base"
}

write_config() {
  local base="$1" host node g
  host="$(hostname -s)"
  local ctld_port=$base dbd_port=$((base + 1)) first=$((base + 10)) last=$((base + 9 + NODES))
  local gres="gpu:$GPUS"
  [[ -n "$GPU_TYPE" ]] && gres="gpu:$GPU_TYPE:$GPUS"

  local accounting
  if [[ "$ACCOUNTING" == 1 ]]; then
    accounting="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$dbd_port
AccountingStoragePass=$MUNGE_SOCKET
AccountingStorageTRES=gres/gpu
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30"
  else
    accounting="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
  fi

  cat >"$ETC/slurm.conf.new" <<EOF
# Written by scripts/slurm-dev.sh: a development cluster on one host. Do not edit; it is rewritten.
ClusterName=aiccdev
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd-%n
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
SlurmdParameters=config_overrides
CommunicationParameters=NoInAddrAny,NoCtldInAddrAny
PlugStackConfig=$ETC/plugstack.conf
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
${SCHEDULER_PARAMETERS:+SchedulerParameters=$SCHEDULER_PARAMETERS}
GresTypes=gpu
DefMemPerCPU=256
# Exit codes must outlive an AICC outage; a lost node must be noticed quickly in tests.
MinJobAge=3600
SlurmdTimeout=$SLURMD_TIMEOUT
${MESSAGE_TIMEOUT:+MessageTimeout=$MESSAGE_TIMEOUT}
ReturnToService=2
KillWait=5
InactiveLimit=0
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.txt
$accounting
NodeName=n[1-$NODES] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[$first-$last] CPUs=$CPUS RealMemory=$MEMORY_MIB Gres=$gres State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
  mv "$ETC/slurm.conf.new" "$ETC/slurm.conf"

  {
    echo "# Written by scripts/slurm-dev.sh: fake GPUs (character devices) for gres."
    echo "AutoDetect=off"
    while read -r node; do
      local type=""
      [[ -n "$GPU_TYPE" ]] && type=" Type=$GPU_TYPE"
      echo "NodeName=$node Name=gpu$type File=$DIR/dev/$node/nvidia[0-$((GPUS - 1))]"
    done < <(node_names)
  } >"$ETC/gres.conf"
  # 22.05 has no CgroupPlugin=disabled; autodetect works with proctrack/linuxproc and task/none.
  echo "CgroupPlugin=autodetect" >"$ETC/cgroup.conf"
  : >"$ETC/plugstack.conf"

  if [[ "$ACCOUNTING" == 1 ]]; then
    local password
    password="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
    (
      umask 077
      cat >"$ETC/slurmdbd.conf" <<EOF
# Written by scripts/slurm-dev.sh.
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=$host
DbdAddr=127.0.0.1
DbdPort=$dbd_port
SlurmUser=root
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((base + 2))
StorageUser=slurm
StoragePass=$password
StorageLoc=slurm_acct_db
EOF
    )
  fi

  # Fake GPUs: plain files are refused by gres ("not a valid character or block device").
  while read -r node; do
    mkdir -p "$DIR/dev/$node"
    for ((g = 0; g < GPUS; g++)); do
      [[ -c "$DIR/dev/$node/nvidia$g" ]] || mknod "$DIR/dev/$node/nvidia$g" c 195 "$g"
    done
    mkdir -p "$STATE/slurmd-$node"
  done < <(node_names)

  cat >"$DIR/env.sh" <<EOF
# Source this to use the development Slurm cluster (written by scripts/slurm-dev.sh).
export SLURM_CONF=$ETC/slurm.conf
export SLURM_DEV_DIR=$DIR
EOF
  say "config written (ports $ctld_port-$last)"
}

# ------------------------------------------------------------------------------ daemons

start_munge() {
  live_pid "$RUN/munged.pid" munged >/dev/null && return 0
  mkdir -p "$DIR/munge"
  chmod 700 "$DIR/munge"
  [[ -s "$DIR/munge/munge.key" ]] || mungekey --create --keyfile="$DIR/munge/munge.key"
  chmod 600 "$DIR/munge/munge.key"
  rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock"
  spawn munged munged --foreground --force --socket="$MUNGE_SOCKET" \
    --key-file="$DIR/munge/munge.key" --pid-file="$DIR/munge/munged.pid" \
    --log-file="$LOG/munged.log" --seed-file="$DIR/munge/munged.seed"
  wait_until 20 munged sh -c "munge -n --socket='$MUNGE_SOCKET' | unmunge --socket='$MUNGE_SOCKET'"
  say "munged running"
}

mysql_client() { mariadb --no-defaults --socket="$DIR/mysql/mysqld.sock" -u root "$@"; }

start_mariadb() {
  live_pid "$RUN/mariadb.pid" mariadbd >/dev/null && return 0
  local data="$DIR/mysql"
  # MariaDB runs as its own user, who must be able to reach the data directory.
  if ! runuser -u mysql -- test -x "$DIR"; then
    local elsewhere
    elsewhere="/var/lib/aicc-slurm-dev/$(echo "$DIR" | cksum | cut -d' ' -f1)"
    mkdir -p "$elsewhere"
    chmod 755 /var/lib/aicc-slurm-dev
    [[ -L "$data" ]] || ln -sfn "$elsewhere" "$data"
    data="$elsewhere"
  fi
  mkdir -p "$data"
  chown mysql:mysql "$data"
  if [[ ! -d "$data/db/mysql" ]]; then
    say "initialising MariaDB"
    rm -rf "$data/db"
    mariadb-install-db --no-defaults --user=mysql --datadir="$data/db" \
      --auth-root-authentication-method=socket --skip-test-db >"$LOG/mariadb-install.log" 2>&1 ||
      die "mariadb-install-db failed (see $LOG/mariadb-install.log)"
  fi
  rm -f "$data/mysqld.sock"
  spawn mariadb mariadbd --no-defaults --user=mysql --datadir="$data/db" \
    --socket="$data/mysqld.sock" --port="$(($(cat "$ETC/ports") + 2))" --bind-address=127.0.0.1 \
    --skip-name-resolve --pid-file="$data/mariadbd.pid" --log-error="$LOG/mariadb.log" \
    --innodb-buffer-pool-size=64M --max-connections=50
  wait_until 60 MariaDB mysql_client -e "SELECT 1"
  say "MariaDB running"
}

grant_slurm_user() {
  local password
  password="$(sed -n 's/^StoragePass=//p' "$ETC/slurmdbd.conf")"
  mysql_client <<EOF
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$password';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
EOF
}

start_slurmdbd() {
  live_pid "$RUN/slurmdbd.pid" slurmdbd >/dev/null && return 0
  grant_slurm_user
  spawn slurmdbd slurmdbd -D
  wait_until 60 slurmdbd sacctmgr -n list cluster
  say "slurmdbd running"
}

start_slurmctld() {
  live_pid "$RUN/slurmctld.pid" slurmctld >/dev/null && return 0
  mkdir -p "$STATE/slurmctld"
  spawn slurmctld slurmctld -D -f "$SLURM_CONF"
  wait_until 60 slurmctld scontrol ping
  say "slurmctld running"
}

start_slurmd() {
  local node="$1"
  live_pid "$RUN/slurmd-$node.pid" slurmd >/dev/null && return 0
  mkdir -p "$STATE/slurmd-$node"
  spawn "slurmd-$node" slurmd -D -f "$SLURM_CONF" -N "$node"
}

nodes_ready() {
  local states
  states="$(sinfo -h -N -o '%N %T' 2>/dev/null)" || return 1
  [[ "$(wc -l <<<"$states")" -ge "$NODES" ]] || return 1
  ! grep -Eqv ' (idle|mixed|allocated|completing|drained|draining)$' <<<"$states"
}

# ------------------------------------------------------------------------------ commands

cmd_start() {
  local began=$SECONDS
  [[ "$(id -u)" -eq 0 ]] || cannot_install "run as root (Slurm's daemons and MariaDB need it)"
  install_packages
  mkdir -p "$ETC" "$RUN" "$LOG" "$STATE" "$DIR/dev"
  if ! any_daemon_running || [[ ! -s "$ETC/slurm.conf" ]]; then
    write_config "$(choose_ports)"
  fi
  start_munge
  if [[ "$ACCOUNTING" == 1 ]]; then
    start_mariadb
    start_slurmdbd
  fi
  start_slurmctld
  local node
  while read -r node; do start_slurmd "$node"; done < <(node_names)
  wait_until 60 "the nodes" nodes_ready
  # A node that was down (its slurmd killed) comes back once its slurmd registers again.
  scontrol update nodename="n[1-$NODES]" state=resume >/dev/null 2>&1 || true
  say "cluster up in $((SECONDS - began)) s; use: source $DIR/env.sh"
}

# Job steps outlive a killed slurmd: find the slurmstepd processes this cluster started (they
# inherit SLURM_CONF) and their children.
stray_steps() {
  local pid
  for pid in $(pgrep -x slurmstepd || true); do
    if tr '\0' '\n' 2>/dev/null <"/proc/$pid/environ" | grep -qx "SLURM_CONF=$SLURM_CONF"; then
      echo "$pid"
    fi
  done
  return 0
}

descendants() {
  local pid child
  for pid in "$@"; do
    echo "$pid"
    for child in $(pgrep -P "$pid" || true); do descendants "$child"; done
  done
}

# The job steps of one node: the slurmstepd processes listening on a socket in its spool
# directory (a job's steps on other nodes have the same command line).
node_steps() {
  local node="$1" pid inode inodes
  inodes="$(awk -v dir="$STATE/slurmd-$node/" 'index($8, dir) == 1 {print $7}' /proc/net/unix)"
  [[ -n "$inodes" ]] || return 0
  for pid in $(stray_steps); do
    for inode in $(find "/proc/$pid/fd" -lname 'socket:*' -printf '%l\n' 2>/dev/null | tr -dc '0-9\n'); do
      if grep -qx "$inode" <<<"$inodes"; then
        echo "$pid"
        break
      fi
    done
  done
}

cmd_kill_node() {
  local node="${1:-}" pids=() slurmd
  [[ "$node" =~ ^n[0-9]+$ ]] || die "usage: $0 kill-node NAME (n1..n$NODES)"
  slurmd="$(live_pid "$RUN/slurmd-$node.pid" slurmd)" && pids+=("$slurmd")
  local steps
  steps="$(node_steps "$node")"
  # shellcheck disable=SC2046
  [[ -n "$steps" ]] && pids+=($(descendants $steps))
  ((${#pids[@]})) || die "node $node has no slurmd running"
  kill -KILL "${pids[@]}" 2>/dev/null || true
  say "node $node lost: slurmd and $(wc -w <<<"$steps") job step(s) killed"
}

cmd_stop() {
  local node
  [[ -d "$RUN" ]] || {
    say "nothing to stop"
    return 0
  }
  # Jobs cannot outlive their nodes: end them first, so a later start finds no stale ones.
  if live_pid "$RUN/slurmctld.pid" slurmctld >/dev/null && [[ -s "$SLURM_CONF" ]]; then
    local state deadline=$((SECONDS + 15))
    for state in PENDING SUSPENDED RUNNING; do
      timeout 10 scancel --state="$state" >/dev/null 2>&1 || true
    done
    while [[ -n "$(timeout 10 squeue -h -t PENDING,RUNNING,SUSPENDED,COMPLETING -o %i 2>/dev/null)" ]] &&
      ((SECONDS < deadline)); do
      sleep 0.2
    done
  fi
  while read -r node; do stop_daemon "slurmd-$node" slurmd 3; done < <(node_names)
  for f in "$RUN"/slurmd-*.pid; do # nodes of an earlier, larger configuration
    [[ -e "$f" ]] && stop_daemon "$(basename "$f" .pid)" slurmd 3
  done
  local steps
  steps="$(stray_steps)"
  if [[ -n "$steps" ]]; then
    # shellcheck disable=SC2046
    kill -KILL $(descendants $steps) 2>/dev/null || true
    say "killed job steps left behind"
  fi
  stop_daemon slurmctld slurmctld 10
  stop_daemon slurmdbd slurmdbd 10
  stop_daemon mariadb mariadbd 30
  stop_daemon munged munged 5
}

cmd_status() {
  local name comm f running=0
  for f in "$RUN"/*.pid; do
    [[ -e "$f" ]] || continue
    name="$(basename "$f" .pid)"
    case "$name" in
      munged) comm=munged ;;
      mariadb) comm=mariadbd ;;
      slurmdbd) comm=slurmdbd ;;
      slurmctld) comm=slurmctld ;;
      slurmd-*) comm=slurmd ;;
      *) continue ;;
    esac
    if pid="$(live_pid "$f" "$comm")"; then
      echo "$name: running ($pid)"
      running=1
    else
      echo "$name: stopped"
    fi
  done
  if ((running)) && [[ -s "$SLURM_CONF" ]]; then
    sinfo -N -o '%N %P %T %C %m %G %E' || true
  else
    say "not running"
    return 3
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  kill-node) cmd_kill_node "${2:-}" ;;
  *)
    echo "usage: $0 start|stop|status|kill-node NAME" >&2
    exit 2
    ;;
esac
