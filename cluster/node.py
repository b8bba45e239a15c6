"""This machine's node of a sonovis Ray cluster, for the cluster scripts (run by their Python).

  node.py start RAY-START-ARGS...        `ray start`, keeping a loopback --node-ip-address loopback
  node.py procs --temp-dir DIR           the processes of the Ray started with --temp-dir DIR
  node.py leave --temp-dir DIR [--grace S]
                                         drain that node, then stop its processes and no others

Ray listens on loopback only when a node's IP is 127.0.0.1, but `ray start` and `ray.init`
replace a loopback IP with the machine's LAN address; `start` keeps it. With a LAN IP,
Ray 2.60's C++ servers (GCS, raylet, workers) and the agent's gRPC port listen on every
interface: Ray binds those either to loopback or to all, never to one address.

A node is known by its --temp-dir: every Ray process of it names its session folder
(DIR/session_latest) on its command line, or descends from one that does, or names the
node's id. `ray stop` would instead end every Ray process on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import psutil

LOOPBACK = ("127.0.0.1", "::1", "localhost")
SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # false: Ray leaves a loopback IP as it is
AGENTS = ("ray::DashboardAgent", "ray::RuntimeEnvAgent", "ray::IDLE")


def _flag(args: list[str], name: str) -> str | None:
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def start(args: list[str]) -> int:
    """`ray start ARGS`; a loopback --node-ip-address stays loopback, for this process and Ray's."""
    import ray.scripts.scripts as cli
    from ray._private import services

    ip = _flag(args, "--node-ip-address")
    if ip in LOOPBACK:
        services.resolve_ip_for_localhost = lambda host: host  # what was asked for, also in --address
        os.environ[SINGLE_MACHINE] = "0"  # Ray's processes, and the jobs' drivers, keep it too
    sys.argv = ["ray", "start", *args]
    try:
        cli.main()
    except SystemExit as stop:
        if stop.code not in (0, None):
            raise
    temp_dir = _flag(args, "--temp-dir")
    if temp_dir and "--block" not in args:
        record(Path(temp_dir))
    return 0


def session_dir(temp_dir: Path) -> Path | None:
    latest = Path(temp_dir).expanduser() / "session_latest"
    return Path(os.path.realpath(latest)) if latest.is_symlink() or latest.exists() else None


def _cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return ""


def processes(temp_dir: Path) -> list[psutil.Process]:
    """Every live process of the Ray node started with --temp-dir ``temp_dir`` (none: [])."""
    session = session_dir(temp_dir)
    if session is None:
        return []
    temp = str(Path(temp_dir).expanduser())
    marks = {str(session), temp.rstrip("/") + "/session_", os.path.realpath(temp) + "/session_"}
    me = os.getpid()
    found: dict[int, psutil.Process] = {}
    everyone = [p for p in psutil.process_iter() if p.pid != me]
    for p in everyone:
        line = _cmdline(p)
        if any(mark in line for mark in marks) or f" --temp-dir={temp} " in f" {line} ":
            found[p.pid] = p
    node_ids = {m for p in found.values() for m in re.findall(r"--node[-_]id=([0-9a-f]{56})", _cmdline(p))}
    for p in everyone:  # the client server names the node, not the session
        if p.pid not in found and any(n in _cmdline(p) for n in node_ids):
            found[p.pid] = p
    for p in list(found.values()):  # workers rename themselves (ray::IDLE) but are the raylet's children
        try:
            found.update({c.pid: c for c in p.children(recursive=True) if c.pid != me})
        except psutil.NoSuchProcess:
            pass
    return [p for p in found.values() if p.is_running()]


def _raylet(procs: list[psutil.Process]) -> tuple[str | None, str | None]:
    for p in procs:
        line = _cmdline(p)
        if "/raylet/raylet " in line or line.startswith("raylet"):
            node = re.search(r"--node_id=([0-9a-f]{56})", line)
            gcs = re.search(r"--gcs-address=(\S+)", line)
            return (node.group(1) if node else None), (gcs.group(1) if gcs else None)
    return None, None


def record(temp_dir: Path) -> None:
    """Write what this node is (session, node id, head, pids) to DIR/sonovis-node.json."""
    procs = processes(temp_dir)
    node_id, gcs = _raylet(procs)
    info = {"session_dir": str(session_dir(temp_dir)), "node_id": node_id, "gcs_address": gcs,
            "pids": sorted(p.pid for p in procs)}
    (Path(temp_dir).expanduser() / "sonovis-node.json").write_text(json.dumps(info, indent=1) + "\n")


def _busy(procs: list[psutil.Process]) -> dict[psutil.Process, str]:
    """This node's workers that run something (trials are ray::ImplicitFunc…), by name; not agents or idle ones."""
    busy = {}
    for p in procs:
        try:
            name = p.name() if p.name().startswith("ray::") else _cmdline(p)
        except psutil.NoSuchProcess:
            continue
        if name.startswith("ray::") and not name.startswith(AGENTS):
            busy[p] = name
    return busy


def drain(node_id: str, gcs: str, grace: int) -> str:
    """Ask the head to drain ``node_id`` (preemption, deadline ``grace`` s): no new work comes here."""
    import ray._raylet
    from ray.core.generated import autoscaler_pb2

    deadline_ms = (time.time_ns() // 1_000_000) + grace * 1000
    try:
        accepted, why = ray._raylet.GcsClient(address=gcs).drain_node(
            node_id, autoscaler_pb2.DRAIN_NODE_REASON_PREEMPTION,
            "sonovis leave-worker.sh: the owner takes the machine back", deadline_ms)
    except Exception as err:  # the head is gone or unreachable: stopping is all that is left
        return f"not drained ({type(err).__name__}: {err})"
    return "drained" if accepted else f"drain refused: {why}"


def _stop(procs: list[psutil.Process], sig: int, wait: float) -> list[psutil.Process]:
    for p in procs:
        try:
            p.send_signal(sig)
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=wait)
    return alive


def kill(temp_dir: Path) -> None:
    """SIGKILL every process of the node started with --temp-dir ``temp_dir``, no drain (tests clean up with it)."""
    _stop(processes(temp_dir), signal.SIGKILL, 15)


def leave(temp_dir: Path, grace: int) -> int:
    procs = processes(temp_dir)
    if not procs:
        print(f"leave-worker: no sonovis Ray runs here (nothing under {temp_dir})")
        return 0
    node_id, gcs = _raylet(procs)
    state = drain(node_id, gcs, grace) if node_id and gcs else "no raylet found: not drained"
    print(f"leave-worker: node {node_id} of the cluster at {gcs}: {state}", flush=True)
    started = time.time()
    while time.time() < started + grace and _busy(processes(temp_dir)):
        time.sleep(0.5)
    busy = _busy(processes(temp_dir))
    if busy:  # killed first: they hold the CPUs, and each has its last epoch's checkpoint on the storage
        print(f"leave-worker: grace of {grace}s over, killing {', '.join(sorted(set(busy.values())))}; "
              "Tune restarts those trials from their last checkpoints on other nodes", flush=True)
        _stop(list(busy), signal.SIGKILL, 5)
    print(f"leave-worker: CPUs free {time.time() - started:.1f} s after the drain began", flush=True)
    raylets = [p for p in processes(temp_dir) if "raylet" in p.name()]
    _stop(raylets, signal.SIGTERM, 15)  # the raylet tells the head it leaves, and ends its workers
    rest = processes(temp_dir)
    alive = _stop(rest, signal.SIGTERM, 10)
    alive = _stop(alive, signal.SIGKILL, 5)
    left = processes(temp_dir)
    print(f"leave-worker: stopped this node's Ray ({len(procs)} processes, session {session_dir(temp_dir)}); "
          f"{'still running: ' + str([p.pid for p in left]) if left else 'other Ray on this machine untouched'}")
    return 1 if left else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["start"]:
        return start(argv[1:])
    parser = argparse.ArgumentParser(prog="node.py")
    parser.add_argument("command", choices=["procs", "leave"])
    parser.add_argument("--temp-dir", type=Path, required=True)
    parser.add_argument("--grace", type=int, default=30)
    args = parser.parse_args(argv)
    if args.command == "procs":
        for p in processes(args.temp_dir):
            print(p.pid, p.name())
        return 0
    return leave(args.temp_dir, args.grace)


if __name__ == "__main__":
    sys.exit(main())
