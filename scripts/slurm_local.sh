#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, on loopback, for trying the SLURM launcher and
# for the tests marked `slurm` (Debian/Ubuntu, as root):
#   scripts/slurm_local.sh up       # install slurm-wlm and munge if missing, configure, start, wait for idle
#   scripts/slurm_local.sh status   # sinfo, or "down"
#   scripts/slurm_local.sh down     # stop the daemons by their pid files
# It writes /etc/slurm/slurm.conf only when there is none or when it wrote the one there (marked by
# its first line); a machine already configured for a real cluster is left alone.
set -euo pipefail

MARK="# written by stockrnn scripts/slurm_local.sh"
CONF=${SLURM_LOCAL_CONF:-/etc/slurm/slurm.conf}  # another path only for its tests
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_PID=/run/munge/munged.pid
WAIT_S=${SLURM_LOCAL_WAIT_S:-60}

die() { echo "slurm_local: error: $*" >&2; exit 1; }
say() { echo "slurm_local: $*"; }

require_root() {
    [ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages, writes $CONF and starts daemons)"
}

ours() { [ -f "$CONF" ] && head -n 1 "$CONF" | grep -qxF "$MARK"; }

require_not_foreign() {
    if [ -e "$CONF" ] && ! ours; then
        die "$CONF exists and was not written by this script: SLURM is configured for another cluster here; not touching it"
    fi
}

alive() {  # alive PIDFILE: the process named in the pid file runs
    [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

install_packages() {
    local missing=()
    command -v slurmctld >/dev/null 2>&1 && command -v slurmd >/dev/null 2>&1 \
        && command -v sinfo >/dev/null 2>&1 || missing+=(slurm-wlm)
    command -v munged >/dev/null 2>&1 || missing+=(munge)
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    say "installing ${missing[*]} (about a minute)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

write_config() {
    local host cpus
    host=$(hostname -s)
    cpus=$(nproc)
    mkdir -p "$(dirname "$CONF")" /var/spool/slurmctld /var/spool/slurmd /var/log/slurm
    cat >"$CONF.tmp" <<EOF
$MARK
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
    mv "$CONF.tmp" "$CONF"
}

start_munge() {
    mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
    chmod 400 /etc/munge/munge.key
    if alive "$MUNGE_PID"; then
        return 0
    fi
    runuser -u munge -- /usr/sbin/munged --force --pid-file="$MUNGE_PID"
    munge -n | unmunge >/dev/null || die "munge does not authenticate (see /var/log/munge/munged.log)"
}

wait_idle() {
    local host deadline state
    host=$(hostname -s)
    deadline=$((SECONDS + WAIT_S))
    while [ $SECONDS -lt $deadline ]; do
        state=$(timeout 5 sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1 || true)
        case "$state" in
            idle|mixed|allocated) say "node $host is $state"; return 0 ;;
            down*|drain*|drained*) timeout 5 scontrol update nodename="$host" state=resume >/dev/null 2>&1 || true ;;
        esac
        sleep 1
    done
    die "the node did not become idle within ${WAIT_S}s (state: ${state:-no answer}); see /var/log/slurm/"
}

up() {
    require_root
    require_not_foreign
    install_packages
    write_config
    start_munge
    alive "$CTLD_PID" || /usr/sbin/slurmctld
    # slurmd needs the controller listening; a few tries cover its start-up.
    alive "$SLURMD_PID" || /usr/sbin/slurmd
    wait_idle
}

stop() {  # stop NAME PIDFILE: TERM, then wait (bounded) for it to go
    local name=$1 pidfile=$2 pid i
    alive "$pidfile" || { rm -f "$pidfile"; return 0; }
    pid=$(cat "$pidfile")
    kill -TERM "$pid"
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { say "stopped $name ($pid)"; rm -f "$pidfile"; return 0; }
        sleep 0.2
    done
    say "$name ($pid) did not stop within 10 s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$pidfile"
}

down() {
    require_root
    require_not_foreign
    stop slurmd "$SLURMD_PID"
    stop slurmctld "$CTLD_PID"
    stop munged "$MUNGE_PID"
}

status() {
    if command -v sinfo >/dev/null 2>&1 && alive "$CTLD_PID" && timeout 5 sinfo 2>/dev/null; then
        return 0
    fi
    echo "slurm_local: down"
    return 3
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
