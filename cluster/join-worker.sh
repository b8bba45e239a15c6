#!/usr/bin/env bash
# Join this office machine to a sonovis Ray cluster as a worker, with token authentication.
#
#   cluster/join-worker.sh --address HEAD_IP:6379 --versions 'python=… ray=… sonovis=…' [--num-cpus N]
#                          [--memory BYTES] [--ip MY_IP] [--temp-dir DIR] [--block]
#
# --num-cpus and --memory (what trials may reserve, search.trial_memory_gb each) leave the rest of
# the machine to its owner. Ray runs at the lowest CPU and I/O priority (nice 19, ionice idle), and
# every trial process inherits it, so the owner's programs always come first. The token must already be in
# $RAY_AUTH_TOKEN_PATH (default ~/.ray/auth_token), copied from the head. Every node must run
# the same Python, Ray and sonovis: --versions (printed by start-head.sh) is checked first,
# because a mismatch otherwise fails later with confusing errors. Ray runs in its own folder
# (--temp-dir, default ~/.cache/sonovis/ray), which is how leave-worker.sh finds it and only it.
# A head on 127.0.0.1 is joined on 127.0.0.1 (loopback only); otherwise Ray picks this machine's
# address towards the head, or takes --ip.
set -euo pipefail

address="" expected="" cpus="" memory="" ip="" temp_dir="" block=""
while [ $# -gt 0 ]; do
  case "$1" in
    --address) address=$2; shift 2 ;;
    --versions) expected=$2; shift 2 ;;
    --num-cpus) cpus=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --ip) ip=$2; shift 2 ;;
    --temp-dir) temp_dir=$2; shift 2 ;;
    --block) block=--block; shift ;;
    *) echo "join-worker.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$address" ] || { echo "join-worker.sh: --address HEAD_IP:PORT is required" >&2; exit 2; }

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
require_token
mine=$(cluster_versions)
if [ -n "$expected" ] && [ "$expected" != "$mine" ]; then
  echo "join-worker.sh: this machine has '$mine' but the head has '$expected'; install the same versions (README: one pinned install) before joining" >&2
  exit 3
fi
temp_dir=${temp_dir:-$WORKER_TEMP_DIR}
if [ -n "$("$PY" "$here/node.py" procs --temp-dir "$temp_dir")" ]; then
  echo "join-worker.sh: this machine already runs a sonovis worker (in $temp_dir); cluster/leave-worker.sh first" >&2
  exit 4
fi
mkdir -p "$temp_dir"
case "${address%:*}" in 127.0.0.1|localhost|\[::1\]) ip=${ip:-127.0.0.1} ;; esac
args=(--address="$address" --temp-dir="$temp_dir")
[ -n "$cpus" ] && args+=(--num-cpus="$cpus")
[ -n "$memory" ] && args+=(--memory="$memory")
[ -n "$ip" ] && args+=(--node-ip-address="$ip")
priority=(nice -n 19)
command -v ionice >/dev/null && ionice -c3 true 2>/dev/null && priority+=(ionice -c3)
echo "joining $address from ${ip:-the address Ray picks}, Ray in $temp_dir at nice 19; leave with: cluster/leave-worker.sh${temp_dir:+ --temp-dir $temp_dir}"
ray_start "${args[@]}" $block
