#!/usr/bin/env bash
# A single-node SLURM cluster on 127.0.0.1 for tests: scripts/slurm-local.sh start|stop|status
# Idempotent. No cgroups, no accounting (status must come from squeue: MinJobAge=600).
# State lives in $SLURM_DIR (default /tmp/resmap-slurm); daemons are stopped by their PID files.
# Needs root (munged runs as the munge user; slurmd as root) and the Debian packages slurmctld,
# slurmd, slurm-client and munge. /etc/slurm/slurm.conf must exist because the SLURM executor
# plugin strips SLURM_CONF from job environments, so it is symlinked to our config.
set -euo pipefail
SLURM_DIR=${SLURM_DIR:-/tmp/resmap-slurm}
CONF=$SLURM_DIR/etc/slurm.conf
MUNGE_PID=/run/munge/munged.pid

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
  local node cpus mem
  node=$(hostname -s)
  cpus=$(nproc)
  mem=$(($(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 3 / 4))
  mkdir -p "$SLURM_DIR"/{etc,state,spool,log,run}
  cat >"$CONF" <<CONF
ClusterName=resmaptest
SlurmctldHost=${node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
MinJobAge=600
NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${mem} State=UNKNOWN
PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP
CONF
}

start() {
  for tool in slurmctld slurmd munged sinfo; do
    command -v "$tool" >/dev/null || { echo "slurm-local: $tool not installed" >&2; exit 3; }
  done
  write_conf
  mkdir -p /etc/slurm
  ln -sf "$CONF" /etc/slurm/slurm.conf
  export SLURM_CONF=$CONF
  if ! pid_alive "$MUNGE_PID"; then
    mkdir -p /run/munge && chown munge:munge /run/munge
    runuser -u munge -- /usr/sbin/munged
  fi
  pid_alive "$SLURM_DIR/run/slurmctld.pid" || slurmctld
  pid_alive "$SLURM_DIR/run/slurmd.pid" || slurmd
  for _ in $(seq 1 60); do
    if sinfo -h -o %T 2>/dev/null | grep -q idle; then
      echo "slurm-local: up ($CONF)"
      return 0
    fi
    sleep 0.5
  done
  echo "slurm-local: node did not become idle; see $SLURM_DIR/log" >&2
  exit 1
}

stop_pid() {
  local file=$1
  if pid_alive "$file"; then
    local pid
    pid=$(cat "$file")
    kill "$pid"
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$file"
}

stop() {
  stop_pid "$SLURM_DIR/run/slurmd.pid"
  stop_pid "$SLURM_DIR/run/slurmctld.pid"
  stop_pid "$MUNGE_PID"
  if [ "$(readlink /etc/slurm/slurm.conf 2>/dev/null)" = "$CONF" ]; then
    rm -f /etc/slurm/slurm.conf
  fi
  echo "slurm-local: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) pid_alive "$SLURM_DIR/run/slurmctld.pid" && pid_alive "$SLURM_DIR/run/slurmd.pid" && sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
