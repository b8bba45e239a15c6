#!/usr/bin/env bash
# Start the head of a sonovis Ray cluster on this machine, with token authentication.
#
#   cluster/start-head.sh --ip 192.168.1.10 [--num-cpus 2] [--port 6379] [--dashboard-port 8265]
#                         [--dashboard-host 127.0.0.1] [--agent-port 52365] [--client-port 10001]
#                         [--temp-dir DIR] [--block]
#
# Unauthenticated Ray clusters have been taken over in the wild: the job API runs arbitrary
# code. So this script always starts Ray with RAY_AUTH_MODE=token and a random token kept in
# a file only you can read; the dashboard stays on 127.0.0.1 unless you choose otherwise
# (it then still requires the token). Without --ip the head is 127.0.0.1 and listens on
# loopback only (cluster/README.md: Ports); metrics export and usage stats are off.
set -euo pipefail

ip=127.0.0.1 port=6379 dash_port=8265 dash_host=127.0.0.1 agent_port=52365 client_port=10001 cpus="" temp_dir="" block=""
while [ $# -gt 0 ]; do
  case "$1" in
    --ip) ip=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --num-cpus) cpus=$2; shift 2 ;;
    --dashboard-port) dash_port=$2; shift 2 ;;
    --dashboard-host) dash_host=$2; shift 2 ;;
    --agent-port) agent_port=$2; shift 2 ;;  # the node's job agent; change it to run two clusters on one machine
    --client-port) client_port=$2; shift 2 ;;  # Ray's client server (unused by sonovis), likewise
    --temp-dir) temp_dir=$2; shift 2 ;;
    --block) block=--block; shift ;;
    *) echo "start-head.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"
ensure_token
versions=$(cluster_versions)

args=(--head --node-ip-address="$ip" --port="$port" --dashboard-host="$dash_host" --dashboard-port="$dash_port"
      --dashboard-agent-listen-port="$agent_port" --ray-client-server-port="$client_port" --include-dashboard=true)
[ -n "$cpus" ] && args+=(--num-cpus="$cpus")
[ -n "$temp_dir" ] && args+=(--temp-dir="$temp_dir")

cat <<MSG
sonovis head: $ip:$port   dashboard: http://$dash_host:$dash_port   ($versions)
token: $RAY_AUTH_TOKEN_PATH (mode 600). Give it to workers and job submitters over a safe channel, e.g.
  scp $RAY_AUTH_TOKEN_PATH worker:.ray/auth_token
join a worker:   cluster/join-worker.sh --address $ip:$port --versions '$versions' [--num-cpus N]
submit the job:  RAY_AUTH_MODE=token ray job submit --address http://$dash_host:$dash_port --working-dir . -- python jobs/tune.py ...
MSG
ray_start "${args[@]}" $block
