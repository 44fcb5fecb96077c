#!/usr/bin/env bash
# slurm_cluster.sh - a throwaway single-node Slurm cluster (slurmctld + slurmd +
# slurmdbd + MariaDB + munged) for `make test-cluster`, everything under one
# temporary directory; nothing in /etc is read or written.
#
# Usage:
#   slurm_cluster.sh install          apt-install the packages that are missing (as root)
#   slurm_cluster.sh run -- CMD...    start a cluster, smoke-test it (sinfo/sbatch/sacct),
#                                     run CMD with its environment exported (SLURM_CONF,
#                                     client shims first on PATH, SLURM_DEV_*), stop it
#                                     (also on failure or Ctrl-C); exit status of CMD
#   slurm_cluster.sh start            start a cluster and leave it up (prints its state dir)
#   slurm_cluster.sh stop             stop the cluster recorded by `start`, remove its dir
#   slurm_cluster.sh status           show the recorded cluster, its PIDs and sinfo
#   slurm_cluster.sh env              print the exports for the running cluster
#                                     (`source <state dir>/env.sh` does the same)
#   slurm_cluster.sh exec -- CMD...   run CMD against the cluster of `start`
#   slurm_cluster.sh verify           smoke test (sinfo, sbatch, sacct) on a running cluster
#
# Environment knobs:
#   KEEP_CLUSTER=1        keep the state dir (logs, configs) on stop; daemons are still stopped
#   SLURM_DEV_TIMEOUT=60  seconds to wait for each daemon to become ready
#   SLURM_DEV_POINTER=... file recording the state dir of a `start`ed cluster
#                         (default: <repo>/results/.slurm_cluster; `run` never writes it)
#   SLURM_DEV_CLUSTER=pdtest  SLURM_DEV_ACCOUNT=pdtest   cluster and account names
#   TMPDIR                where mktemp -d creates the state dir (default /tmp)
#
# Only processes started by this script (PIDs recorded in <state>/pids) are ever
# signalled, never by name. Must run as root (SlurmUser=root, apt, mariadbd --user=root).
# Versions it was written against: Debian 12 slurm-wlm 22.05, MariaDB 10.11, munge 0.5.15.
set -Eeuo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
POINTER=${SLURM_DEV_POINTER:-$REPO/results/.slurm_cluster}
TIMEOUT=${SLURM_DEV_TIMEOUT:-60}
CLUSTER_NAME=${SLURM_DEV_CLUSTER:-pdtest}
ACCOUNT=${SLURM_DEV_ACCOUNT:-pdtest}
PARTITION=debug
APT_PACKAGES=(slurm-wlm slurmctld slurmd slurm-client slurmdbd munge mariadb-server mariadb-client)
# order in which daemons are started (stopped in reverse)
DAEMONS=(munged mariadbd slurmdbd slurmctld slurmd)

D=""   # state dir of the current cluster

log()  { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die()  { log "ERROR: $*"; exit 1; }
now()  { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1f", b-a}'; }
timing() { # name seconds -> appended to $TIMINGS (if set) and logged
  log "TIMING $1: $2 s"
  [[ -n ${TIMINGS:-} ]] && printf '%-28s %8s s\n' "$1" "$2" >>"$TIMINGS"
  return 0
}

need_root() { [[ $(id -u) == 0 ]] || die "must run as root (apt, SlurmUser=root, mariadbd --user=root)"; }

# ----------------------------------------------------------------------------
# install
# ----------------------------------------------------------------------------
cmd_install() {
  need_root
  local t0 missing=() p out rc created_policy=0
  t0=$(now)
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then
    log "apt: all of ${APT_PACKAGES[*]} already installed"
    timing apt_install "$(since "$t0")"
    return 0
  fi
  log "apt: installing ${missing[*]}"
  # Package postinst scripts would start the system munge/mariadb/slurm services
  # (via invoke-rc.d). Deny that while we install if the machine has no policy yet.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\n# temporary, written by %s\nexit 101\n' "$0" >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    created_policy=1
  fi
  out=$(mktemp)
  set +e
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >"$out" 2>&1
  rc=$?
  if ((rc != 0)) && grep -qE 'Unable to locate package|has no installation candidate|Failed to fetch|404 +Not Found' "$out"; then
    log "apt: install failed for lack of (current) package lists -> apt-get update and retry"
    DEBIAN_FRONTEND=noninteractive apt-get update >>"$out" 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >>"$out" 2>&1
    rc=$?
  fi
  set -e
  ((created_policy)) && rm -f /usr/sbin/policy-rc.d
  if ((rc != 0)); then
    tail -n 30 "$out" >&2
    rm -f "$out"
    die "apt-get install failed (rc=$rc)"
  fi
  grep -E '^[0-9]+ upgraded' "$out" >&2 || true
  rm -f "$out"
  timing apt_install "$(since "$t0")"
}

# ----------------------------------------------------------------------------
# helpers for daemons
# ----------------------------------------------------------------------------
USED_PORTS=" "
pick_port() { # VAR: set VAR to a TCP port nobody listens on (loopback or wildcard) and not picked before
  local -n _port=$1
  local p i
  for i in $(seq 1 200); do
    p=$((20000 + RANDOM % 20000))
    [[ $USED_PORTS == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      USED_PORTS+="$p "
      _port=$p
      return 0
    fi
  done
  die "could not find a free TCP port"
}

# launch NAME CMD...: start a daemon in the foreground mode of its own session
# (setsid: no Ctrl-C/SIGHUP from the terminal), record its PID.
launch() {
  local name=$1; shift
  SLURM_DEV_DAEMON="$D" setsid "$@" </dev/null >>"$D/log/$name.out" 2>&1 &
  local pid=$!
  echo "$pid" >"$D/pids/$name.pid"
  # the real binary (Debian: /usr/sbin/slurmctld -> /etc/alternatives -> slurmctld-wlm),
  # to recognise the process later by /proc/PID/exe
  readlink -f "$(command -v "$1")" >"$D/pids/$name.exe"
  log "started $name (pid $pid)"
}

daemon_pid() { cat "$D/pids/$1.pid" 2>/dev/null || true; }

show_logs() { # NAME: tail of every log file of that daemon
  local f
  for f in "$D"/log/"$1"*; do
    [[ -f $f ]] || continue
    printf -- '----- tail -n 40 %s -----\n' "$f" >&2
    tail -n 40 "$f" >&2
  done
}

daemon_failed() { # NAME MESSAGE
  log "ERROR: $1: $2"
  show_logs "$1"
  exit 1
}

# wait_for NAME TIMEOUT CMD...: poll CMD until it succeeds; fail early if NAME died
wait_for() {
  local name=$1 timeout=$2; shift 2
  local pid t0 deadline
  pid=$(daemon_pid "$name")
  t0=$(now)
  deadline=$((SECONDS + timeout))
  while :; do
    if "$@" >/dev/null 2>&1; then
      log "$name ready after $(since "$t0") s"
      return 0
    fi
    if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
      daemon_failed "$name" "process $pid exited before becoming ready"
    fi
    ((SECONDS >= deadline)) && daemon_failed "$name" "not ready after ${timeout}s (check: $*)"
    sleep 0.25
  done
}

load_state() { # find the state dir of a running cluster (from $D, SLURM_DEV_STATE or pointer)
  if [[ -z $D ]]; then
    D=${SLURM_DEV_STATE:-}
    [[ -z $D && -f $POINTER ]] && D=$(cat "$POINTER")
  fi
  [[ -n $D && -d $D ]] || die "no running cluster found (pointer $POINTER); use '$0 start' first"
  # shellcheck disable=SC1091
  source "$D/env.sh"
}

# ----------------------------------------------------------------------------
# start
# ----------------------------------------------------------------------------
write_configs() {
  local host cpus mem_mb real_mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem_mb=$(awk '/^MemTotal:/{printf "%d", $2/1024}' /proc/meminfo)
  # a bit below what slurmd detects, so the node is never drained for "Low RealMemory"
  real_mem=$((mem_mb * 95 / 100))
  pick_port CTLD_PORT; pick_port SLURMD_PORT; pick_port DBD_PORT; pick_port DB_PORT
  DB_PASS=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  MUNGE_SOCKET=$D/munge/munge.socket

  cat >"$D/etc/slurm.conf" <<EOF
# generated by slurm_cluster.sh - throwaway single-node cluster
ClusterName=$CLUSTER_NAME
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$DBD_PORT
# Messages to slurmdbd are authenticated with the munge socket named here,
# NOT the one of AuthInfo (Slurm 22.05 _global_auth_key()); without it sacctmgr,
# sacct and slurmctld use /run/munge/munge.socket.2 and fail.
AccountingStoragePass=socket=$MUNGE_SOCKET
# store the job comment (the plugin puts rule_<rule>_wildcards_<...> there) so that
# "sacct -o JobID,State,Comment%60" tells which rule a job was
AccountingStoreFlags=job_comment
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
DefMemPerCPU=100
ReturnToService=2
MailProg=/bin/true
StateSaveLocation=$D/spool/slurmctld
SlurmdSpoolDir=$D/spool/slurmd
SlurmctldPidFile=$D/run/slurmctld.pid
SlurmdPidFile=$D/run/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SlurmctldTimeout=30
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
MinJobAge=300
Waittime=0
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mem State=UNKNOWN
PartitionName=$PARTITION Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

  # slurmdbd finds slurmdbd.conf next to $SLURM_CONF; it must be 0600 and owned by SlurmUser
  cat >"$D/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
DbdHost=$host
DbdAddr=127.0.0.1
DbdPort=$DBD_PORT
SlurmUser=root
DebugLevel=info
LogFile=$D/log/slurmdbd.log
PidFile=$D/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$D/etc/slurmdbd.conf"

  # Client shims: snakemake-executor-plugin-slurm-jobstep (>=0.6) runs its `srun`
  # with every SLURM_* variable except a few job-identity ones removed - SLURM_CONF
  # included - so inside a job srun would look for /etc/slurm/slurm.conf and fail
  # ("Could not establish a configuration source"). PATH survives, so these shims
  # (first on PATH) re-add SLURM_CONF for every Slurm client command.
  mkdir -p "$D/bin"
  local c real
  for c in srun sbatch salloc squeue scancel scontrol sinfo sacct sacctmgr sshare sstat sprio; do
    real=$(command -v "$c") || continue
    cat >"$D/bin/$c" <<EOF
#!/bin/sh
# written by slurm_cluster.sh: re-add SLURM_CONF; with TEST_CLUSTER_TRACE=FILE log each call
export SLURM_CONF="\${SLURM_CONF:-$D/etc/slurm.conf}"
[ -n "\${TEST_CLUSTER_TRACE:-}" ] && echo "\$(date +%T.%N) $c \$*" >>"\$TEST_CLUSTER_TRACE"
exec $real "\$@"
EOF
    chmod 755 "$D/bin/$c"
  done

  cat >"$D/env.sh" <<EOF
# source this to talk to the throwaway cluster
case ":\$PATH:" in *":$D/bin:"*) ;; *) export PATH=$D/bin:\$PATH ;; esac
export SLURM_CONF=$D/etc/slurm.conf
export SLURM_DEV_STATE=$D
export SLURM_DEV_CLUSTER=$CLUSTER_NAME
export SLURM_DEV_ACCOUNT=$ACCOUNT
export SLURM_DEV_PARTITION=$PARTITION
export MUNGE_SOCKET=$MUNGE_SOCKET
export SLURM_DEV_DB_SOCKET=$D/mysql/mysqld.sock
EOF
}

start_munged() {
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile="$D/munge/munge.key" >/dev/null
  else
    dd if=/dev/urandom of="$D/munge/munge.key" bs=1024 count=1 status=none
  fi
  chmod 400 "$D/munge/munge.key"
  # munged refuses group/world-writable dirs; the mktemp dir is 0700
  launch munged munged --foreground --force \
    --socket="$MUNGE_SOCKET" --key-file="$D/munge/munge.key" \
    --pid-file="$D/run/munged.pid" --log-file="$D/log/munged.log" \
    --seed-file="$D/munge/munged.seed"
  wait_for munged "$TIMEOUT" bash -c "munge -n -S '$MUNGE_SOCKET' | unmunge -S '$MUNGE_SOCKET'"
}

start_mariadbd() {
  local t0
  t0=$(now)
  mkdir -p "$D/mysql/data" "$D/mysql/tmp"
  if ! mariadb-install-db --no-defaults --user=root --datadir="$D/mysql/data" \
    --auth-root-authentication-method=socket --skip-test-db \
    >"$D/log/mariadbd-install.log" 2>&1; then
    daemon_failed mariadbd "mariadb-install-db failed"
  fi
  timing mariadb_install_db "$(since "$t0")"
  launch mariadbd mariadbd --no-defaults --user=root \
    --datadir="$D/mysql/data" --tmpdir="$D/mysql/tmp" \
    --socket="$D/mysql/mysqld.sock" --pid-file="$D/run/mariadbd.pid" \
    --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --log-error="$D/log/mariadbd.err" \
    --innodb-buffer-pool-size=128M --innodb-log-file-size=48M \
    --innodb-lock-wait-timeout=900 --max-connections=50
  wait_for mariadbd "$TIMEOUT" mariadb-admin --no-defaults --socket="$D/mysql/mysqld.sock" -uroot ping
  mariadb --no-defaults --socket="$D/mysql/mysqld.sock" -uroot <<EOF || daemon_failed mariadbd "creating the slurm DB user failed"
CREATE USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$DB_PASS';
CREATE USER 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

start_slurmdbd() {
  launch slurmdbd slurmdbd -D
  # sacctmgr talks to slurmdbd (AccountingStorageHost/Port from slurm.conf)
  wait_for slurmdbd "$TIMEOUT" sacctmgr -n -P list cluster
  sacctmgr -i add cluster "$CLUSTER_NAME" >/dev/null
  sacctmgr -i add account "$ACCOUNT" Description="test account" Organization=dev >/dev/null
  sacctmgr -i add user root Account="$ACCOUNT" >/dev/null
  log "slurmdbd: cluster $CLUSTER_NAME, account $ACCOUNT (user root) registered"
}

node_idle() { [[ $(sinfo -h -N -n "$(hostname -s)" -o %T 2>/dev/null) =~ ^(idle|mixed|allocated)$ ]]; }

start_slurmctld() {
  launch slurmctld slurmctld -D -f "$SLURM_CONF"
  wait_for slurmctld "$TIMEOUT" bash -c 'scontrol ping | grep -q "is UP"'
}

start_slurmd() {
  launch slurmd slurmd -D -f "$SLURM_CONF"
  local t0 deadline st
  t0=$(now)
  deadline=$((SECONDS + TIMEOUT))
  until node_idle; do
    kill -0 "$(daemon_pid slurmd)" 2>/dev/null || daemon_failed slurmd "process exited before the node became idle"
    st=$(sinfo -h -N -o '%T' 2>/dev/null || true)
    if [[ $st == drain* || $st == *fail* ]]; then
      sinfo -R >&2 || true
      daemon_failed slurmd "node is $st"
    fi
    ((SECONDS >= deadline)) && { sinfo -N -l >&2 || true; daemon_failed slurmd "node not idle after ${TIMEOUT}s"; }
    sleep 0.25
  done
  log "slurmd ready (node idle) after $(since "$t0") s"
}

cluster_start() { # [record]: with "record", write the state dir to $POINTER (for stop/exec)
  need_root
  local t0 name record=${1:-}
  t0=$(now)
  for name in munged mariadbd slurmdbd slurmctld slurmd mariadb-admin sacctmgr sinfo sbatch sacct; do
    command -v "$name" >/dev/null || die "$name not found; run '$0 install' first"
  done
  if [[ -n $record && -f $POINTER ]]; then
    local old
    old=$(cat "$POINTER")
    if [[ -d $old/pids ]] && any_alive "$old"; then
      die "a cluster from $old is still running; '$0 stop' first"
    fi
  fi
  D=$(mktemp -d "${TMPDIR:-/tmp}/pd-slurm.XXXXXX")
  mkdir -p "$D"/{etc,log,run,munge,mysql,pids,spool/slurmd,spool/slurmctld}
  # munged wants its socket reachable by everybody (x on every parent dir) and its
  # dirs not writable by others; secrets (munge.key, slurmdbd.conf) are 0400/0600 files
  chmod 711 "$D"
  chmod 755 "$D/munge"
  if [[ -n $record ]]; then
    mkdir -p "$(dirname "$POINTER")"
    echo "$D" >"$POINTER"
  fi
  log "state dir: $D"
  # unix socket paths are limited to 107 bytes
  ((${#D} <= 80)) || die "state dir path too long for unix sockets ($D); set TMPDIR to a shorter dir"
  write_configs
  # SLURM_CONF, the shim dir first on PATH, SLURM_DEV_* (cluster, account, partition)
  # shellcheck disable=SC1091
  source "$D/env.sh"
  start_munged
  start_mariadbd
  start_slurmdbd
  start_slurmctld
  start_slurmd
  timing cluster_start "$(since "$t0")"
}

# ----------------------------------------------------------------------------
# stop
# ----------------------------------------------------------------------------
pid_matches() { # PID NAME: is PID still the daemon we started (guards against PID reuse)?
  local exe want
  [[ -n $1 ]] || return 1
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  want=$(cat "$D/pids/$2.exe" 2>/dev/null) || return 1
  [[ $exe == "$want" ]]
}

any_alive() { # STATEDIR
  local f n D=$1
  for f in "$D"/pids/*.pid; do
    [[ -f $f ]] || continue
    n=$(basename "$f" .pid)
    pid_matches "$(cat "$f")" "$n" && return 0
  done
  return 1
}

stop_pid() { # NAME PID
  local name=$1 pid=$2 i
  pid_matches "$pid" "$name" || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for i in $(seq 1 60); do # up to 15 s
    pid_matches "$pid" "$name" || { log "stopped $name (pid $pid)"; return 0; }
    sleep 0.25
  done
  log "WARNING: $name (pid $pid) ignored SIGTERM for 15 s -> SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}

# processes that inherited our marker from the daemons (e.g. a slurmstepd of a job
# still running at stop time); never the caller, whose environment lacks the marker
marked_pids() {
  local p
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [[ $p == "$$" ]] && continue
    { tr '\0' '\n' <"/proc/$p/environ"; } 2>/dev/null | grep -qxF "SLURM_DEV_DAEMON=$D" && echo "$p"
  done
  return 0
}

cluster_stop() {
  [[ -n $D && -d $D ]] || { log "stop: nothing to stop"; return 0; }
  local t0 i name pid leftovers
  t0=$(now)
  export SLURM_CONF=$D/etc/slurm.conf
  # cancel jobs of this cluster so no slurmstepd outlives slurmd
  if pid_matches "$(daemon_pid slurmctld)" slurmctld; then
    if [[ -n $(squeue -h -o %i 2>/dev/null) ]]; then
      log "cancelling remaining jobs"
      scancel --full -u "$(id -un)" 2>/dev/null || true
      for i in $(seq 1 40); do [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break; sleep 0.25; done
    fi
  fi
  for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do
    name=${DAEMONS[i]}
    pid=$(daemon_pid "$name")
    [[ -n $pid ]] && stop_pid "$name" "$pid"
  done
  leftovers=$(marked_pids)
  if [[ -n $leftovers ]]; then
    log "WARNING: leftover processes of this cluster: ${leftovers//$'\n'/ } -> SIGKILL"
    # shellcheck disable=SC2086
    kill -KILL $leftovers 2>/dev/null || true
  fi
  if [[ ${KEEP_CLUSTER:-0} == 1 ]]; then
    log "KEEP_CLUSTER=1: state dir kept: $D"
  else
    rm -rf "$D"
  fi
  if [[ -f $POINTER && $(cat "$POINTER") == "$D" ]]; then rm -f "$POINTER"; fi
  timing cluster_stop "$(since "$t0")"
  D=""
}

# ----------------------------------------------------------------------------
# verify
# ----------------------------------------------------------------------------
cmd_verify() {
  load_state
  local t0 jid t_end st out
  t0=$(now)
  log "sinfo:"
  sinfo | tee "$D/sinfo.txt" >&2
  node_idle || die "node $(hostname -s) is not idle"
  out=$D/verify-%j.out
  local name=verify-$$
  jid=$(sbatch --parsable -J "$name" -p "$PARTITION" -A "$ACCOUNT" -o "$out" --wrap 'hostname')
  jid=${jid%%;*}
  log "submitted job $jid"
  # wait for the controller to see the job finished
  local deadline=$((SECONDS + 60))
  while :; do
    st=$(scontrol show job "$jid" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
    [[ $st == COMPLETED ]] && break
    [[ $st =~ ^(FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL)$ ]] && die "job $jid ended $st"
    ((SECONDS >= deadline)) && die "job $jid not finished after 60s (state '$st')"
    sleep 0.2
  done
  t_end=$(now)
  local hostout
  hostout=$(cat "${out//%j/$jid}")
  [[ $hostout == "$(hostname)" ]] || die "job output '$hostout' != hostname"
  log "job $jid COMPLETED (scontrol), output: $hostout"
  # (a) by job id, as asked; (b) by job name, as snakemake-executor-plugin-slurm
  # queries (sacct -X --name <run uuid>): the job appears under its name only once
  # slurmctld's db_inx thread (runs every 5 s) has sent the job record to slurmdbd
  local got_id=0 got_name=0
  deadline=$((SECONDS + 30))
  while ((got_id == 0 || got_name == 0)); do
    if ((got_id == 0)) && [[ $(sacct -j "$jid" -n -X -o State 2>/dev/null | tr -d ' ') == COMPLETED ]]; then
      got_id=1
      timing sacct_by_id_lag_after_end "$(since "$t_end")"
    fi
    if ((got_name == 0)) && [[ $(sacct -X -n -P --name "$name" -o JobIdRaw,State 2>/dev/null) == "$jid|COMPLETED" ]]; then
      got_name=1
      timing sacct_by_name_lag_after_end "$(since "$t_end")"
    fi
    ((SECONDS >= deadline)) && die "sacct does not report job $jid COMPLETED after 30s (by id: $got_id, by name: $got_name)"
    sleep 0.2
  done
  log "sacct -j $jid -n -o JobID,State:"
  sacct -j "$jid" -n -o JobID,State >&2
  sacct -j "$jid" -o JobID,JobName,Partition,Account,AllocCPUS,State,ExitCode >&2
  timing verify "$(since "$t0")"
}

# ----------------------------------------------------------------------------
# dispatch
# ----------------------------------------------------------------------------
with_cluster_trap() {
  trap 'rc=$?; trap - EXIT; cluster_stop || true; exit $rc' EXIT
  trap 'log "interrupted"; exit 130' INT
  trap 'log "terminated"; exit 143' TERM
}

main() {
  local cmd=${1:-help}
  shift || true
  case $cmd in
    install) cmd_install ;;
    start)
      # on failure, stop whatever was already started
      with_cluster_trap
      cluster_start record
      trap - EXIT INT TERM
      log "cluster up. Use: source $D/env.sh   (or: $0 exec -- CMD)"
      echo "$D"
      ;;
    stop)
      if [[ -f $POINTER ]]; then D=$(cat "$POINTER"); fi
      D=${SLURM_DEV_STATE:-$D}
      cluster_stop
      ;;
    status)
      load_state
      local n
      echo "state dir: $D"
      for n in "${DAEMONS[@]}"; do
        if pid_matches "$(daemon_pid "$n")" "$n"; then echo "$n: running (pid $(daemon_pid "$n"))"; else echo "$n: NOT running"; fi
      done
      sinfo
      ;;
    env) load_state; cat "$D/env.sh" ;;
    exec)
      [[ ${1:-} == -- ]] && shift
      (($#)) || die "usage: $0 exec -- CMD..."
      load_state
      "$@"
      ;;
    run)
      [[ ${1:-} == -- ]] && shift
      (($#)) || die "usage: $0 run -- CMD..."
      with_cluster_trap
      cluster_start
      cmd_verify
      log "running: $*"
      set +e
      "$@"
      local rc=$?
      set -e
      log "command exited with $rc"
      exit $rc
      ;;
    verify) cmd_verify ;;
    help | -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$cmd' (try: $0 help)" ;;
  esac
}

main "$@"
