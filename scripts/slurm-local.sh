#!/bin/bash
# A private single-node Slurm cluster (munged + slurmctld + slurmd) for trying the
# launcher in configs/slurm/ on one machine, e.g. in CI.
#
#   scripts/slurm-local.sh start DIR   # start the daemons, wait until the node is idle
#   eval "$(scripts/slurm-local.sh env DIR)"   # point sbatch/squeue/scontrol at it
#   scripts/slurm-local.sh stop DIR    # stop the daemons (idempotent)
#
# Everything lives under DIR: slurm.conf, the munge key and socket, state, spool,
# logs and pid files; the two Slurm ports are picked free at each start. Nothing in
# /etc, /run or /var is read or written, and no systemd or cgroups are needed.
#
# Needs the Debian/Ubuntu packages slurm-wlm and munge (munged, slurmctld, slurmd and
# the client commands on PATH or in /usr/sbin). Run it as root: the daemons then run
# as root (SlurmUser=root) and jobs may run as any user. As an ordinary user it
# starts the same cluster with SlurmUser = that user; jobs then run as that user
# only (slurmd cannot switch users without root).
set -euo pipefail

PATH=$PATH:/usr/sbin:/sbin
prog=${0##*/}

usage() {
    echo "usage: $prog start DIR | stop DIR | env DIR" >&2
    exit 2
}

die() {
    echo "$prog: error: $*" >&2
    exit 1
}

# A TCP port nobody on this machine is using (any state, IPv4 or IPv6).
used_ports() {
    local f _ addr _rest
    for f in /proc/net/tcp /proc/net/tcp6; do
        [[ -r $f ]] || continue
        while read -r _ addr _rest; do
            if [[ $addr == *:* ]]; then echo $((16#${addr##*:})); fi
        done <"$f"
    done
}
free_port() {
    local used p tries
    used=" $(used_ports | tr '\n' ' ') $* "
    for ((tries = 0; tries < 200; tries++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        [[ $used == *" $p "* ]] || {
            echo "$p"
            return
        }
    done
    die "found no free TCP port"
}

# The pid in FILE if that process is alive and is PROGRAM, else fail.
live_pid() {
    local file=$1 program=$2 pid comm
    [[ -s $file ]] || return 1
    pid=$(<"$file")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    [[ $comm == "$program" ]] || return 1
    echo "$pid"
}

# Stop the daemons PROGRAM:PIDFILE...: SIGTERM to all, SIGKILL to those still
# alive after 10 s, then remove the pid files.
stop_daemons() {
    local spec pid i alive
    local -a pids=() names=()
    for spec in "$@"; do
        if pid=$(live_pid "${spec#*:}" "${spec%%:*}"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
            names+=("${spec%%:*}")
        fi
    done
    for ((i = 0; i < 100; i++)); do
        alive=0
        for pid in "${pids[@]}"; do [[ -d /proc/$pid ]] && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        if [[ -d /proc/${pids[i]} ]]; then
            echo "$prog: ${names[i]} (${pids[i]}) ignored SIGTERM; killing it" >&2
            kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
        echo "$prog: stopped ${names[i]} (${pids[i]})" >&2
    done
    for spec in "$@"; do rm -f "${spec#*:}"; done
}

node_state() {
    SLURM_CONF=$conf timeout 5 sinfo -h -n "$node" -o %T 2>/dev/null | head -n 1 || true
}

show_logs() {
    local f
    for f in "$dir/log/slurmctld.log" "$dir/log/slurmd.log" "$dir/log/munged.log"; do
        [[ -f $f ]] || continue
        echo "----- $f (last 60 lines) -----" >&2
        tail -n 60 "$f" >&2
    done
}

start() {
    local user mem cpus ctld_port d_port pid state i key
    command -v munged >/dev/null || die "munged not found (apt-get install munge)"
    command -v slurmctld >/dev/null || die "slurmctld not found (apt-get install slurm-wlm)"
    command -v slurmd >/dev/null || die "slurmd not found (apt-get install slurm-wlm)"

    if live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null ||
        live_pid "$dir/run/slurmd.pid" slurmd >/dev/null ||
        live_pid "$dir/run/munged.pid" munged >/dev/null; then
        die "a cluster is already running in $dir (run: $prog stop $dir)"
    fi

    mkdir -p "$dir"/{state,spool,log,run,munge}
    chmod 0700 "$dir"/{state,spool,munge}
    user=$(id -un)

    # munge: its own key, socket, pid, log and seed files.
    key=$dir/munge/munge.key
    if [[ ! -s $key ]]; then
        if command -v mungekey >/dev/null; then
            mungekey --create --keyfile="$key" >/dev/null
        else
            dd if=/dev/urandom of="$key" bs=1024 count=1 status=none
        fi
    fi
    chmod 0400 "$key"
    rm -f "$dir/munge.sock" "$dir/munge.sock.lock"
    # --force turns munged's refusals of insecure paths (e.g. a group- or
    # world-writable DIR or parent without the sticky bit) into warnings.
    munged --force --socket="$dir/munge.sock" --key-file="$key" \
        --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
        --seed-file="$dir/munge/munged.seed" --num-threads=2 ||
        {
            show_logs
            die "munged did not start"
        }
    for ((i = 0; i < 50; i++)); do
        [[ -S $dir/munge.sock ]] && break
        sleep 0.1
    done
    munge --socket="$dir/munge.sock" -n | unmunge --socket="$dir/munge.sock" >/dev/null ||
        {
            show_logs
            die "munge does not work with socket $dir/munge.sock"
        }

    # slurm.conf: one node (this host) with nproc CPUs and ~90% of its memory.
    cpus=$(nproc)
    mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
    ctld_port=$(free_port)
    d_port=$(free_port "$ctld_port")
    cat >"$conf" <<EOF
# Generated by $prog; rewritten at every start.
ClusterName=local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$d_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$dir/munge.sock
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,sched_min_interval=0,batch_sched_delay=0,bf_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MaxArraySize=100001
MaxJobCount=200000
MinJobAge=300
KillWait=5
InactiveLimit=0
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node NodeHostname=$node NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF

    slurmctld -f "$conf" || {
        show_logs
        die "slurmctld did not start"
    }
    slurmd -f "$conf" -N "$node" || {
        show_logs
        die "slurmd did not start"
    }

    # Up once the node is idle (or already running jobs kept in DIR/state).
    for ((i = 0; i < 300; i++)); do
        state=$(node_state)
        case $state in
        idle | mixed | allocated)
            echo "$prog: node $node $state (slurmctld port $ctld_port, slurmd port $d_port)" >&2
            echo "$prog: now run: eval \"\$($0 env $dir)\"" >&2
            return 0
            ;;
        esac
        if ((i >= 20)) && ! { live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null &&
            live_pid "$dir/run/slurmd.pid" slurmd >/dev/null; }; then
            echo "$prog: slurmctld or slurmd exited" >&2
            break
        fi
        sleep 0.1
    done
    echo "$prog: node $node not up after $((i / 10)) s (state: ${state:-none})" >&2
    SLURM_CONF=$conf timeout 5 scontrol show node "$node" >&2 2>/dev/null || true
    show_logs
    stop_daemons slurmd:"$dir/run/slurmd.pid" slurmctld:"$dir/run/slurmctld.pid" \
        munged:"$dir/run/munged.pid"
    exit 1
}

stop() {
    local i
    # Cancel what is still queued or running, so that no job outlives slurmd.
    if live_pid "$dir/run/slurmctld.pid" slurmctld >/dev/null &&
        live_pid "$dir/run/slurmd.pid" slurmd >/dev/null; then
        export SLURM_CONF=$conf
        if timeout 5 scancel --full --quiet --user="$(id -un)" 2>/dev/null; then
            for ((i = 0; i < 100; i++)); do
                [[ -z $(timeout 5 squeue -h -t RUNNING,COMPLETING,CONFIGURING -o %A 2>/dev/null) ]] && break
                sleep 0.1
            done
        fi
    fi
    stop_daemons slurmd:"$dir/run/slurmd.pid" slurmctld:"$dir/run/slurmctld.pid" \
        munged:"$dir/run/munged.pid"
}

(($# == 2)) || usage
cmd=$1
[[ $cmd != start ]] || mkdir -p -- "$2" || die "cannot create directory $2"
dir=$(realpath -m -- "$2")
conf=$dir/slurm.conf
node=$(hostname -s 2>/dev/null || uname -n)
node=${node%%.*}
case $cmd in
start) start ;;
stop) stop ;;
env) printf 'export SLURM_CONF=%q\n' "$conf" ;;
*) usage ;;
esac
