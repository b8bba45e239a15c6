#!/usr/bin/env bash
# Join this office machine to a sonovis Ray cluster as a worker, with token authentication.
#
#   cluster/join-worker.sh --address HEAD_IP:6379 --versions 'python=… ray=… sonovis=…' [--num-cpus N]
#                          [--memory BYTES] [--ip MY_IP]
#
# --num-cpus and --memory (what trials may reserve, search.trial_memory_gb each) leave the rest of
# the machine to its owner. Ray runs at the lowest CPU and I/O priority (nice 19, ionice idle), and
# every trial process inherits it, so the owner's programs always come first. The token must already be in
# $RAY_AUTH_TOKEN_PATH (default ~/.ray/auth_token), copied from the head. Every node must run
# the same Python, Ray and sonovis: --versions (printed by start-head.sh) is checked first,
# because a mismatch otherwise fails later with confusing errors.
set -euo pipefail

address="" expected="" cpus="" memory="" ip="" block=""
while [ $# -gt 0 ]; do
  case "$1" in
    --address) address=$2; shift 2 ;;
    --versions) expected=$2; shift 2 ;;
    --num-cpus) cpus=$2; shift 2 ;;
    --memory) memory=$2; shift 2 ;;
    --ip) ip=$2; shift 2 ;;
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
args=(--address="$address")
[ -n "$cpus" ] && args+=(--num-cpus="$cpus")
[ -n "$memory" ] && args+=(--memory="$memory")
[ -n "$ip" ] && args+=(--node-ip-address="$ip")
low=(nice -n 19)
command -v ionice >/dev/null && ionice -c3 true 2>/dev/null && low+=(ionice -c3)
exec "${low[@]}" "$RAY" start "${args[@]}" $block
