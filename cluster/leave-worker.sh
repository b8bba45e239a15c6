#!/usr/bin/env bash
# Take this worker out of the cluster when its owner needs the machine back.
#
#   cluster/leave-worker.sh [--grace SECONDS] [--temp-dir DIR]
#
# Asks the head to drain this node (no new trials come here; Ray's DrainNode, reason
# preemption, deadline GRACE), waits up to GRACE seconds (default 30) for the trials running
# here, then stops the Ray processes of the sonovis node started by join-worker.sh in DIR
# (default ~/.cache/sonovis/ray) and no others: never `ray stop`, which ends every Ray on the
# machine. Trials cut short lose at most the epochs since their last checkpoint: Tune
# restarts them from it on another node (search.max_failures). Rejoin later with
# join-worker.sh; the search hands the returning CPUs new trials.
set -euo pipefail
grace=30 temp_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --grace) grace=$2; shift 2 ;;
    --temp-dir) temp_dir=$2; shift 2 ;;
    *) echo "leave-worker.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
exec "$PY" "$here/node.py" leave --temp-dir "${temp_dir:-$WORKER_TEMP_DIR}" --grace "$grace"
