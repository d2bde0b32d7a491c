#!/usr/bin/env bash
# A real single-node Slurm cluster for tests and laptop runs: munged + slurmctld + slurmd.
#   scripts/slurm.sh up      install (apt, as root) if missing, write the config, start the daemons
#   scripts/slurm.sh down    stop the daemons this script started (pids recorded), nothing else
#   scripts/slurm.sh status  what is running
# Partition "debug" holds this machine with all its CPUs. State, logs and pids live in $MATHFORGE_SLURM_DIR.
set -euo pipefail
state="${MATHFORGE_SLURM_DIR:-/var/tmp/mathforge-slurm}"
conf=/etc/slurm/slurm.conf
marker="# written by mathforge scripts/slurm.sh"

die() { echo "slurm.sh: $*" >&2; exit 1; }

install_packages() {
    command -v slurmctld >/dev/null && command -v munged >/dev/null && return
    [[ $EUID -eq 0 ]] || die "slurm-wlm and munge are not installed and installing them needs root"
    command -v apt-get >/dev/null || die "no apt-get: install slurm-wlm and munge by hand"
    echo "slurm.sh: installing slurm-wlm and munge with apt-get"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
}

write_config() {
    if [[ -f $conf ]] && ! grep -qF "$marker" "$conf"; then
        die "$conf exists and was not written by mathforge: refusing to overwrite a real cluster's config"
    fi
    local host cpus mem_mb
    host=$(hostname -s)
    cpus=$(nproc)
    mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
    mkdir -p "$state"/{ctld,d,log} /etc/slurm
    cat > "$conf" <<CONF
$marker
ClusterName=mathforge
SlurmctldHost=$host
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
SlurmUser=root
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=$host CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
}

start_munge() {
    if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    [[ -f /etc/munge/munge.key ]] || { dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none; }
    chmod 0400 /etc/munge/munge.key
    munged --force --pid-file="$state/munged.pid" --socket=/run/munge/munge.socket.2
    echo munged >> "$state/started"
}

up() {
    install_packages
    [[ $EUID -eq 0 ]] || die "starting the cluster's daemons needs root"
    write_config
    : > "$state/started.new"; mv "$state/started.new" "$state/started"
    start_munge
    pgrep -F "$state/slurmctld.pid" >/dev/null 2>&1 || { slurmctld; echo slurmctld >> "$state/started"; }
    pgrep -F "$state/slurmd.pid" >/dev/null 2>&1 || { slurmd; echo slurmd >> "$state/started"; }
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
            echo "slurm.sh: cluster up ($(sinfo -h -o '%P %D %C %T' | head -1)); state in $state"
            return
        fi
        scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
        sleep 1
    done
    tail -n 20 "$state"/log/*.log >&2 || true
    die "the node did not become idle within 60 s (logs above, in $state/log)"
}

down() {
    [[ -f $state/started ]] || { echo "slurm.sh: nothing started by this script"; return; }
    local name pid
    for name in slurmd slurmctld munged; do
        grep -qx "$name" "$state/started" || continue
        pid=$(cat "$state/$name.pid" 2>/dev/null || true)
        if [[ -n $pid ]] && kill "$pid" 2>/dev/null; then
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            echo "slurm.sh: stopped $name ($pid)"
        fi
    done
    rm -f "$state/started"
}

status() {
    local name
    for name in munged slurmctld slurmd; do
        if pgrep -F "$state/$name.pid" >/dev/null 2>&1; then echo "$name: running ($(cat "$state/$name.pid"))"; else echo "$name: not running"; fi
    done
    sinfo 2>/dev/null || true
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: $0 up|down|status" ;;
esac
