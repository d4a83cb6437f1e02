#!/bin/bash
# Submit an nncosmo-gpu ensemble to Slurm as SHARDS array tasks (ensemble.sbatch)
# plus one merge job (merge.sbatch) that starts only if every shard succeeded.
#
#   NNCOSMO_CONFIG=paper.toml NNCOSMO_WORK=/scratch/me/paper \
#       configs/slurm/submit.sh [--wait] SHARDS [SBATCH_OPTION...]
#
# Prints ARRAY_JOB=<id> and MERGE_JOB=<id> on stdout (shell syntax, for eval).
# With --wait it then blocks until the merge job ends and exits with its status:
# 0 when the merge completed; non-zero when it failed, or when a shard failed and
# the merge was therefore cancelled (--kill-on-invalid-dep=yes). Any SBATCH_OPTION
# (--partition=..., --account=..., --gres=gpu:1, --time=...) goes to both sbatch
# calls. The jobs inherit this environment (sbatch --export=ALL), so set e.g.
# WGPU_BACKEND here if the binary needs it.
#
# Environment:
#   NNCOSMO_CONFIG   the TOML config (checked to exist, made absolute)
#   NNCOSMO_WORK     work directory for shard-I/ and the job logs (required)
#   NNCOSMO_OUT      merged output (default $NNCOSMO_WORK/merged)
#   NNCOSMO_BIN      the binary (default nncosmo-gpu; made absolute when on PATH)
#   NNCOSMO_COMMAND  run or nn (default run)
#   NNCOSMO_ARGS     extra flags for every shard, split at whitespace
#   NNCOSMO_POLL     seconds between status queries with --wait (default 5)
# Job logs go to $NNCOSMO_WORK/logs/ (<name>-<array>_<task>.out, <name>-<job>.out).
set -euo pipefail

prog=${0##*/}
here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)

usage() {
    echo "usage: $prog [--wait] SHARDS [SBATCH_OPTION...]" >&2
    exit 2
}
die() {
    echo "$prog: error: $*" >&2
    exit 2
}

wait_mode=0
if [[ ${1:-} == --wait ]]; then
    wait_mode=1
    shift
fi
(($# >= 1)) || usage
shards=$1
shift
[[ $shards =~ ^[1-9][0-9]*$ ]] || die "SHARDS '$shards' is not a positive integer"
sbatch_opts=("$@")

abs() { realpath -m -- "$1"; }

[[ -n ${NNCOSMO_WORK:-} ]] || die "set NNCOSMO_WORK to the work directory"
NNCOSMO_WORK=$(abs "$NNCOSMO_WORK")
NNCOSMO_OUT=$(abs "${NNCOSMO_OUT:-$NNCOSMO_WORK/merged}")
if [[ -n ${NNCOSMO_CONFIG:-} ]]; then
    [[ -f $NNCOSMO_CONFIG ]] || die "config file '$NNCOSMO_CONFIG' not found"
    NNCOSMO_CONFIG=$(abs "$NNCOSMO_CONFIG")
fi
NNCOSMO_BIN=${NNCOSMO_BIN:-nncosmo-gpu}
if path=$(command -v -- "$NNCOSMO_BIN"); then
    NNCOSMO_BIN=$(abs "$path")
else
    echo "$prog: note: '$NNCOSMO_BIN' is not found here; the jobs must find it" >&2
fi
NNCOSMO_COMMAND=${NNCOSMO_COMMAND:-run}
[[ $NNCOSMO_COMMAND == run || $NNCOSMO_COMMAND == nn ]] ||
    die "NNCOSMO_COMMAND is '$NNCOSMO_COMMAND', not run or nn"
poll=${NNCOSMO_POLL:-5}
[[ $poll =~ ^[0-9]+([.][0-9]+)?$ ]] || die "NNCOSMO_POLL '$poll' is not a number of seconds"
NNCOSMO_SHARDS=$shards
export NNCOSMO_WORK NNCOSMO_OUT NNCOSMO_CONFIG NNCOSMO_BIN NNCOSMO_COMMAND NNCOSMO_SHARDS
export NNCOSMO_ARGS=${NNCOSMO_ARGS:-}

logs=$NNCOSMO_WORK/logs
mkdir -p -- "$logs"

# --parsable prints "jobid" or "jobid;cluster".
array_job=$(sbatch --parsable --array="0-$((shards - 1))" \
    --output="$logs/%x-%A_%a.out" "${sbatch_opts[@]}" "$here/ensemble.sbatch")
array_job=${array_job%%;*}
merge_job=$(sbatch --parsable --dependency="afterok:$array_job" --kill-on-invalid-dep=yes \
    --output="$logs/%x-%j.out" "${sbatch_opts[@]}" "$here/merge.sbatch") || {
    scancel "$array_job" || true
    die "submitting the merge failed; cancelled array job $array_job"
}
merge_job=${merge_job%%;*}
echo "ARRAY_JOB=$array_job"
echo "MERGE_JOB=$merge_job"
echo "$prog: $shards shards in array job $array_job, merge job $merge_job; logs in $logs" >&2
((wait_mode)) || exit 0

trap 'echo "$prog: interrupted; jobs $array_job and $merge_job are still queued (scancel $array_job $merge_job)" >&2; exit 130' INT TERM

field() { # field NAME "scontrol -o line": the value, or nothing
    local re="(^| )$1=([^ ]*)"
    if [[ $2 =~ $re ]]; then echo "${BASH_REMATCH[2]}"; fi
}

# Name the array tasks that did not complete, with their logs.
report_array() {
    local line id state
    while read -r line; do
        id=$(field JobId "$line")
        state=$(field JobState "$line")
        [[ $state == COMPLETED ]] && continue
        echo "$prog:   shard $(field ArrayTaskId "$line") (job $id): $state, exit $(field ExitCode "$line"), log $(field StdOut "$line")" >&2
    done < <(scontrol show job -o "$array_job" 2>/dev/null || true)
}

# Exit status for a Slurm "code:signal" ExitCode.
status_of() {
    local code=${1%%:*} sig=${1##*:}
    if [[ $sig =~ ^[0-9]+$ ]] && ((sig > 0)); then
        echo $((128 + sig))
    elif [[ $code =~ ^[0-9]+$ ]] && ((code > 0)); then
        echo "$code"
    else
        echo 1
    fi
}

merge_log="$logs (merge job $merge_job)"
while :; do
    line=$(scontrol show job -o "$merge_job" 2>/dev/null) || line=
    if [[ -z $line ]]; then
        # Purged from slurmctld's memory (MinJobAge): ask accounting if there is one.
        acct=$(sacct -n -X -P -j "$merge_job" -o State,ExitCode 2>/dev/null | head -n 1) || acct=
        [[ -n $acct ]] || die "merge job $merge_job is gone from the queue and accounting has no record; see $logs"
        state=${acct%%|*} state=${state%% *} exitcode=${acct##*|} reason=
    else
        state=$(field JobState "$line")
        reason=$(field Reason "$line")
        exitcode=$(field ExitCode "$line")
        merge_log=$(field StdOut "$line")
    fi
    case $state in
    COMPLETED)
        echo "$prog: merge job $merge_job completed; output in $NNCOSMO_OUT" >&2
        exit 0
        ;;
    PENDING)
        if [[ $reason == DependencyNeverSatisfied ]]; then
            # Clusters that ignore --kill-on-invalid-dep keep it pending forever.
            scancel "$merge_job" 2>/dev/null || true
            echo "$prog: error: a shard failed, so merge job $merge_job can never run (cancelled):" >&2
            report_array
            exit 1
        fi
        ;;
    RUNNING | CONFIGURING | COMPLETING | SUSPENDED | REQUEUED | REQUEUE_HOLD | REQUEUE_FED | RESIZING | SIGNALING | STAGE_OUT | "") ;;
    CANCELLED)
        if [[ $reason == Dependency* ]]; then
            echo "$prog: error: a shard failed, so merge job $merge_job was cancelled:" >&2
            report_array
        else
            echo "$prog: error: merge job $merge_job was cancelled (reason $reason); log $merge_log" >&2
        fi
        exit 1
        ;;
    *)
        echo "$prog: error: merge job $merge_job ended $state (exit $exitcode, reason ${reason:-none}); log $merge_log" >&2
        exit "$(status_of "$exitcode")"
        ;;
    esac
    sleep "$poll"
done
