"""What a running sonovis Ray node listens on, as the Markdown table of cluster/README.md.

  python cluster/ports.py [--temp-dir DIR]      (DIR: the node's --temp-dir, default /tmp/ray)

It lists the LISTEN sockets of every process of that node (cluster/node.py finds them) and
knocks on each from this machine without the token: an HTTP port must answer 401/403, a gRPC
port UNAUTHENTICATED to a read-only call (gRPC's own health check answers anyone: it says
only "serving"). README's table is this output for `cluster/start-head.sh` on 127.0.0.1 with
a job running; tests/search/test_sockets.py compares the two, so the claim cannot drift.
"""

from __future__ import annotations

import argparse
import re
import socket
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import node  # noqa: E402  (cluster/node.py)

# Read-only calls, one or two per Ray gRPC service: with the token they would only read.
GRPC_PROBES = {
    "GCS": ["ray.rpc.NodeInfoGcsService/GetAllNodeInfo", "ray.rpc.InternalKVGcsService/InternalKVKeys"],
    "node manager": ["ray.rpc.NodeManagerService/GetSystemConfig", "ray.rpc.NodeManagerService/GetNodeStats"],
    "object manager": ["ray.rpc.ObjectManagerService/Pull"],
    "core worker": ["ray.rpc.CoreWorkerService/NumPendingTasks", "ray.rpc.CoreWorkerService/GetCoreWorkerStats"],
    "agent": ["ray.rpc.LogService/ListLogs", "ray.rpc.ReporterService/HealthCheck"],
    "client": ["ray.rpc.RayletDriver/ClusterInfo"],
}
HTTP_PATHS = ("/api/version", "/metrics")
FLAGS = {  # port role -> the start-head.sh / join-worker.sh option that sets it
    "gcs": "`--port` (6379)", "dashboard": "`--dashboard-port` (8265)",
    "agent_http": "`--agent-port` (52365)", "client": "`--client-port` (10001)",
}


def _address(ip: str) -> str:
    ip = ip.removeprefix("::ffff:")
    return "every interface" if ip in ("0.0.0.0", "::") else ip


def _http(ip: str, port: int) -> list[int] | None:
    """Status codes for HTTP_PATHS without a token; None if the port does not speak HTTP/1."""
    codes = []
    for path in HTTP_PATHS:
        try:
            with socket.create_connection((ip, port), timeout=10) as s:
                s.sendall(f"GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n".encode())
                head = s.recv(64)
        except OSError:
            return None
        match = re.match(rb"HTTP/1\.[01] (\d{3})", head)
        if not match:
            return None
        codes.append(int(match.group(1)))
    return codes


def _grpc(ip: str, port: int) -> tuple[str, str]:
    """(service, token) for a gRPC port: token 'yes' when it refuses an untokened call."""
    import grpc

    target = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    with grpc.insecure_channel(target) as channel:
        for service, methods in GRPC_PROBES.items():
            for method in methods:
                try:
                    channel.unary_unary(f"/{method}")(b"", timeout=10)
                    return service, "no"
                except grpc.RpcError as err:
                    code = err.code()
                if code == grpc.StatusCode.UNAUTHENTICATED:
                    return service, "yes"
                if code not in (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAVAILABLE,
                                grpc.StatusCode.DEADLINE_EXCEEDED):
                    return service, "no"
    return "?", "?"


def _roles(procs) -> dict[int, str]:
    """The configured ports of this node's processes (from their command lines) -> role."""
    roles = {}
    for p in procs:
        line = node._cmdline(p)
        for pattern, role in ((r"gcs_server .*--gcs_server_port=(\d+)", "gcs"),
                              (r"dashboard/dashboard\.py .*--port=(\d+)", "dashboard"),
                              (r"--listen-port=(\d+)", "agent_http"),
                              (r"ray\.util\.client\.server .*--port=(\d+)", "client")):
            for found in re.findall(pattern, line):
                if int(found):
                    roles[int(found)] = role
    return roles


def _what(name: str, line: str, service: str, kind: str, token: str) -> tuple[str, str]:
    """(what it is, which process) for one listening socket."""
    if name == "gcs_server":
        return "GCS (cluster control)", "gcs_server"
    if name == "raylet":
        return f"raylet: {service}", "raylet"
    if "dashboard/dashboard.py" in line:
        return "dashboard + job API", "dashboard.py"
    if "ray.util.client.server" in line:
        return "Ray client server (unused by sonovis)", "ray.util.client.server"
    if name == "ray::DashboardAgent":
        if kind == "grpc":
            return "dashboard agent: gRPC (metrics, logs)", name
        return ("dashboard agent: job agent" if token == "yes" else "metrics exporter (Prometheus)"), name
    if name == "ray::RuntimeEnvAgent":
        return "runtime-env agent", name
    if service == "core worker":
        return "every worker and driver (core worker)", "ray::… workers, job drivers"
    return f"{service} ({kind})", name


def table(temp_dir: Path) -> list[tuple[str, str, str, str, str]]:
    """Rows (what, process, listens on, port, token), one per kind of socket, sorted."""
    import psutil

    procs = node.processes(temp_dir)
    pids = {p.pid: p for p in procs}
    roles = _roles(procs)
    rows = set()
    for conn in psutil.net_connections(kind="inet"):
        if conn.status != psutil.CONN_LISTEN or conn.pid not in pids:
            continue
        p, ip, port = pids[conn.pid], conn.laddr.ip, conn.laddr.port
        target = ip.removeprefix("::ffff:")
        if target in ("0.0.0.0", "::"):
            target = "127.0.0.1" if conn.family == socket.AF_INET or ip == "::" else "::1"
        codes = _http(target, port)
        if codes is not None:
            kind, service = "http", "http"
            token = "yes" if all(c in (401, 403) for c in codes) else "no"
        else:
            kind = "grpc"
            service, token = _grpc(target, port)
        try:
            name = p.name()
        except psutil.NoSuchProcess:
            continue
        what, process = _what(name, node._cmdline(p), service, kind, token)
        label = FLAGS[roles[port]] if port in roles else "any free port"
        rows.add((what, process, _address(ip), label, token))
    return sorted(rows)


def markdown(rows) -> str:
    lines = ["| what | process | listens on | port | token required |", "|---|---|---|---|---|"]
    lines += [f"| {' | '.join(row)} |" for row in rows]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--temp-dir", type=Path, default=Path("/tmp/ray"))
    args = parser.parse_args()
    rows = table(args.temp_dir)
    if not rows:
        print(f"ports.py: no Ray of {args.temp_dir} is running here", file=sys.stderr)
        return 1
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
