# Shared by the cluster scripts: which ray, the token, and the versions every node must share.
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$repo/.venv/bin/ray" ]; then
  export PATH="$repo/.venv/bin:$PATH"  # jobs' `python` must be the pinned install, on every node
  RAY="$repo/.venv/bin/ray"; PY="$repo/.venv/bin/python"
else
  RAY=ray; PY=python3
fi
export RAY_AUTH_MODE=token
export RAY_AUTH_TOKEN_PATH=${RAY_AUTH_TOKEN_PATH:-$HOME/.ray/auth_token}
# Ray's metrics exporter answers /metrics to anyone, on every interface of a LAN node: off
# (sonovis reads its metrics from Tune's results, not from Prometheus).
export RAY_enable_metrics_collection=0
# The dashboard's and the autoscaler's own Prometheus exporters have no switch in Ray 2.60 and
# bind every interface of a LAN head: an impossible port makes both fail to start (one logged error).
export DASHBOARD_METRIC_PORT=-1 AUTOSCALER_METRIC_PORT=-1

priority=()  # a command prefix for Ray's processes, e.g. (nice -n 19): every trial inherits it
ray_start() {  # `ray start "$@"` in place of this shell, a loopback --node-ip-address kept loopback (cluster/node.py)
  exec "${priority[@]}" "$PY" "$repo/cluster/node.py" start "$@" --disable-usage-stats
}
# A worker's Ray lives in a folder of its own, so that leave-worker.sh can tell its processes
# from any other Ray on the machine (Ray's Unix sockets must fit in 107 bytes: keep it short).
WORKER_TEMP_DIR=${SONOVIS_RAY_TEMP_DIR:-$HOME/.cache/sonovis/ray}

ensure_token() {  # a random 256-bit token, readable only by its owner
  if [ ! -s "$RAY_AUTH_TOKEN_PATH" ]; then
    mkdir -p "$(dirname "$RAY_AUTH_TOKEN_PATH")"
    (umask 077 && "$PY" -c 'import secrets; print(secrets.token_hex(32), end="")' > "$RAY_AUTH_TOKEN_PATH")
  fi
  chmod 600 "$RAY_AUTH_TOKEN_PATH"
}

require_token() {
  [ -s "$RAY_AUTH_TOKEN_PATH" ] || {
    echo "no Ray token at $RAY_AUTH_TOKEN_PATH: copy it from the head (scp head:.ray/auth_token $RAY_AUTH_TOKEN_PATH)" >&2
    exit 2
  }
}

cluster_versions() {
  "$PY" -c 'import platform, ray, sonovis; print(f"python={platform.python_version()} ray={ray.__version__} sonovis={sonovis.__version__}")'
}
