#!/usr/bin/env bash
# Take this worker out of the cluster when its owner needs the machine back.
#
#   cluster/leave-worker.sh [--grace SECONDS]
#
# Trials running here lose at most the epochs since their last checkpoint: Tune restarts
# them from that checkpoint on another node (search.max_failures). Rejoin later with
# join-worker.sh; the search hands the returning CPUs new trials.
set -euo pipefail
grace=30
[ "${1:-}" = "--grace" ] && grace=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
exec "$RAY" stop --grace-period "$grace"
