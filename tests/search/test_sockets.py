"""What listens where, read from the sockets (psutil), not from Ray's flags; and leaving a cluster.

- a private local Ray (sonovis.runtime.connect) listens on loopback only, and leaves the
  token file 0600 even when it was 0644;
- the head from cluster/start-head.sh listens as cluster/README.md's port table says
  (the table is cluster/ports.py's output, derived here again from the live head);
- cluster/leave-worker.sh stops its own node's Ray and no other Ray on the machine.

Every Ray started here is stopped by its process group or its --temp-dir: never `ray stop`,
which would end other people's Ray on a shared machine.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "cluster"))
import node  # noqa: E402  (cluster/node.py)
import ports  # noqa: E402  (cluster/ports.py)

LOCAL_RAY = r"""
import json, os, psutil, ray
from sonovis.runtime import connect
connect(num_cpus=1)
assert ray.get(ray.remote(lambda: os.getpid()).remote()) > 0  # a worker ran, so one is listening
me = psutil.Process()
procs = {p.pid: p for p in [me, *me.children(recursive=True)]}
rows = [[procs[c.pid].name(), c.laddr.ip, c.laddr.port] for c in psutil.net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.pid in procs]
print("SOCKETS " + json.dumps(rows), flush=True)
ray.shutdown()
"""


def _loopback(ip: str) -> bool:
    return ipaddress.ip_address(ip.removeprefix("::ffff:")).is_loopback


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _plain_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    return {**env, **extra}


def test_local_ray_listens_on_loopback_only_and_keeps_the_token_private(tmp_path: Path) -> None:
    home = tmp_path / "home"
    token = home / ".ray" / "auth_token"
    token.parent.mkdir(parents=True)
    token.write_text("ab" * 32)
    token.chmod(0o644)  # as an earlier `ray` or an editor may have left it
    proc = subprocess.run([sys.executable, "-c", LOCAL_RAY], env=_plain_env(HOME=str(home), RAY_AUTH_MODE="token"),
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert "SOCKETS " in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = json.loads(proc.stdout.split("SOCKETS ")[1].splitlines()[0])
    names = {name for name, _, _ in rows}
    assert {"gcs_server", "raylet", "ray::DashboardAgent", "ray::RuntimeEnvAgent"} <= names, rows
    assert len(rows) >= 8, rows  # GCS, raylet x2, driver, worker, agents, metrics, dashboard
    exposed = [row for row in rows if not _loopback(row[1])]
    assert not exposed, f"listening beyond loopback: {exposed}"
    assert oct(token.stat().st_mode & 0o777) == "0o600" and token.read_text() == "ab" * 32


def test_a_new_token_is_private_from_the_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sonovis.runtime import private_token

    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "ray" / "auth_token"))
    path = private_token(create=True)
    assert path == tmp_path / "ray" / "auth_token" and len(path.read_text()) == 64
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert private_token(create=True).read_text() == path.read_text()  # never replaced


def _api(url: str, token: str, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(f"{url}{path}", data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"{}")


def _readme_table() -> set[tuple[str, ...]]:
    text = (REPO / "cluster" / "README.md").read_text()
    section = text.split("## Ports", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| what ")]
    return {tuple(cell.strip() for cell in line.strip().strip("|").split("|")) for line in rows}


def test_start_head_listens_as_the_readme_says(ray_head) -> None:
    url, env = ray_head
    token = Path(env["RAY_AUTH_TOKEN_PATH"]).read_text()
    hold = "import ray, time; ray.init(); ray.get(ray.remote(lambda: 1).remote()); print('READY', flush=True); time.sleep(900)"
    job = _api(url, token, "/api/jobs/", {"entrypoint": f'python -c "{hold}"'})["submission_id"]
    try:  # a job's driver and a worker listen too
        deadline = time.time() + 300
        while "READY" not in _api(url, token, f"/api/jobs/{job}/logs").get("logs", ""):
            assert time.time() < deadline, _api(url, token, f"/api/jobs/{job}")
            time.sleep(2)
        rows = ports.table(ray_head.temp_dir)
    finally:
        _api(url, token, f"/api/jobs/{job}/stop", {})
    print(ports.markdown(rows))
    driver = subprocess.run(  # a driver outside the job API reaches the head on 127.0.0.1, not on the LAN address
        [sys.executable, "-c", "import ray; from sonovis.runtime import connect; connect(); "
                               "print('CPUS', ray.cluster_resources()['CPU'])"],
        env={**{k: v for k, v in env.items() if k != "RAY_AUTH_MODE"},  # as a user's shell: sonovis asks for the token
             "RAY_ADDRESS": ray_head.gcs, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=300)
    assert "CPUS 2.0" in driver.stdout, driver.stdout[-2000:] + driver.stderr[-3000:]
    assert all(address == "127.0.0.1" for _, _, address, _, _ in rows), rows
    assert all(token == "yes" for *_, token in rows), rows
    assert set(rows) == _readme_table(), "cluster/README.md's port table is not what listens: " \
                                         "paste the table printed above (cluster/ports.py's output)"


def _start_other_ray(temp_dir: Path, log: Path) -> subprocess.Popen:
    """An unrelated Ray of the machine's owner (its own --temp-dir and ports), on loopback."""
    for _ in range(4):
        other = subprocess.Popen(
            [sys.executable, str(REPO / "cluster" / "node.py"), "start", "--head", "--node-ip-address=127.0.0.1",
             f"--port={_free_port()}", f"--ray-client-server-port={_free_port()}", "--include-dashboard=false",
             f"--dashboard-port={_free_port()}",
             f"--dashboard-agent-listen-port={_free_port()}", "--num-cpus=1", f"--temp-dir={temp_dir}",
             "--disable-usage-stats", "--block"],
            env=_plain_env(RAY_AUTH_MODE="disabled"), start_new_session=True, stdout=open(log, "w"),
            stderr=subprocess.STDOUT)
        deadline = time.time() + 300
        while other.poll() is None and "block forever" not in log.read_text():
            assert time.time() < deadline, log.read_text()[-3000:]
            time.sleep(1)
        if other.poll() is None:
            return other
        node.kill(temp_dir)  # Ray gave up on its own start (a busy machine): again
    raise AssertionError(log.read_text()[-3000:])


def _nodes(url: str, token: str) -> dict[str, str]:
    listed = _api(url, token, "/api/v0/nodes?limit=100&detail=false")
    return {n["node_id"]: n["state"] for n in listed["data"]["result"]["result"]}


def test_leave_worker_stops_its_node_and_no_other_ray(ray_head, tmp_path: Path) -> None:
    url, env = ray_head
    token = Path(env["RAY_AUTH_TOKEN_PATH"]).read_text()
    worker_dir = Path(tempfile.mkdtemp(prefix="sv-w-", dir="/tmp"))
    other_dir = Path(tempfile.mkdtemp(prefix="sv-o-", dir="/tmp"))
    other = None
    try:
        other = _start_other_ray(other_dir, tmp_path / "other-ray.log")
        for _ in range(4):
            joined = subprocess.run([str(REPO / "cluster" / "join-worker.sh"), "--address", ray_head.gcs, "--num-cpus",
                                     "1", "--temp-dir", str(worker_dir)], env=env, capture_output=True, text=True,
                                    timeout=600)
            if joined.returncode == 0:
                break
            node.kill(worker_dir)  # Ray gave up on its own start (a busy machine): again
        assert joined.returncode == 0, joined.stdout[-2000:] + joined.stderr[-3000:]
        joined_node = json.loads((worker_dir / "sonovis-node.json").read_text())
        deadline = time.time() + 120
        while _nodes(url, token).get(joined_node["node_id"]) != "ALIVE":
            assert time.time() < deadline, _nodes(url, token)
            time.sleep(2)
        worker_ports = ports.table(worker_dir)  # join-worker.sh on 127.0.0.1 listens on loopback only, too
        assert worker_ports and all(row[2] == "127.0.0.1" and row[4] == "yes" for row in worker_ports), worker_ports
        kinds = {row[0] for row in worker_ports}
        head_only = {"GCS (cluster control)", "dashboard + job API", "Ray client server (unused by sonovis)"}
        assert kinds <= {row[0] for row in _readme_table()} - head_only, worker_ports  # as README says
        assert {"raylet: node manager", "raylet: object manager", "runtime-env agent"} <= kinds, worker_ports
        worker_pids = {p.pid for p in node.processes(worker_dir)}
        other_procs, head_procs = node.processes(other_dir), node.processes(ray_head.temp_dir)
        assert worker_pids and other_procs and head_procs
        assert not worker_pids & {p.pid for p in other_procs + head_procs}

        left = subprocess.run([str(REPO / "cluster" / "leave-worker.sh"), "--temp-dir", str(worker_dir),
                               "--grace", "5"], env=env, capture_output=True, text=True, timeout=300)
        assert left.returncode == 0 and ": drained" in left.stdout, left.stdout + left.stderr
        assert not node.processes(worker_dir)
        assert not [pid for pid in worker_pids if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"]
        assert all(p.is_running() for p in other_procs), "leave-worker.sh stopped an unrelated Ray"
        assert all(p.is_running() for p in head_procs), "leave-worker.sh stopped the head on this machine"
        deadline = time.time() + 120
        while _nodes(url, token).get(joined_node["node_id"]) != "DEAD":
            assert time.time() < deadline, _nodes(url, token)
            time.sleep(2)
    finally:
        if other is not None:
            other.kill()  # its `ray start --block`; node.kill below ends the Ray it started
            other.wait()
        for temp_dir in (worker_dir, other_dir):
            node.kill(temp_dir)
            subprocess.run(["rm", "-rf", str(temp_dir)], check=False)
