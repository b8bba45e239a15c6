"""Several hosts: nodes of different sizes get the trials they can hold, and (slow) a real
multi-host cluster in network namespaces with agents that lend and reclaim their machines."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")

HETEROGENEOUS = """
import json, sys, time
import ray
from ray import tune
from ray.cluster_utils import Cluster
from sonovis.search.tuner import trainable

GIB = 2**30
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "object_store_memory": 80 * 2**20})
big = cluster.add_node(num_cpus=2, memory=3 * GIB, object_store_memory=80 * 2**20)
small = cluster.add_node(num_cpus=1, memory=GIB // 2, object_store_memory=80 * 2**20)
cluster.wait_for_nodes()
ray.init(address=cluster.address)

def where(config, data):
    time.sleep(1.5)  # long enough that trials overlap and the scheduler must use every node it may
    tune.report({"node": ray.get_runtime_context().get_node_id(), "data": data["n"]})

placed = {}
for memory_gb in (1.0, 0.25):
    grid = tune.Tuner(trainable({"n": 1}, where, memory_gb=memory_gb), param_space={"i": tune.grid_search(list(range(6)))},
                      tune_config=tune.TuneConfig(max_concurrent_trials=3),
                      run_config=tune.RunConfig(storage_path=sys.argv[1], name=f"m{memory_gb}", verbose=0)).fit()
    placed[memory_gb] = [r.metrics["node"] for r in grid]
print("PLACED", json.dumps({"big": big.node_id, "small": small.node_id, "placed": placed}), flush=True)
"""


def test_trials_go_only_to_nodes_with_the_memory_they_declare(tmp_path: Path) -> None:
    """1 GiB trials never land on a node offering 0.5 GiB; 0.25 GiB trials use both nodes' CPUs."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", HETEROGENEOUS, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert "PLACED" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    got = json.loads(proc.stdout.split("PLACED ", 1)[1].splitlines()[0])
    assert len(got["placed"]["1.0"]) == 6 and set(got["placed"]["1.0"]) == {got["big"]}
    assert set(got["placed"]["0.25"]) == {got["big"], got["small"]}


# --- a head and two office PCs, each in its own network and process namespace -----------------

EPOCHS = 8  # ~3.5 s each here: a trial outlasts a drain's grace, so a drained trial must move
LEAVE_WITHIN_S = 8  # the agents' policy: the drain's grace is this less the agent's 2 s margin
SUBNET = "10.77.0"  # lives only inside the namespaces below, never on this machine's interfaces
DRIVER = """
import json, sys, threading, time
from pathlib import Path
import ray
from sonovis.config import ExperimentConfig, ModelConfig, SearchConfig, TrainConfig
from sonovis.runtime import connect
from sonovis.search.tuner import run_search

prepared, runs, address = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
connect(address)
while ray.cluster_resources().get("CPU", 0) < 2:  # both agents have lent their machines
    time.sleep(0.5)

def watch():  # which node is which host, for the test outside the namespaces
    while True:
        nodes = [{"id": n["NodeID"], "ip": n["NodeManagerAddress"], "alive": n["Alive"]} for n in ray.nodes()]
        (runs / "nodes.json.tmp").write_text(json.dumps(nodes))
        (runs / "nodes.json.tmp").rename(runs / "nodes.json")
        time.sleep(0.5)

threading.Thread(target=watch, daemon=True).start()
base = ExperimentConfig(model=ModelConfig(hidden_size=64, conv_channels=64, embed_dim=64), train=TrainConfig())
search = SearchConfig(trials=int(sys.argv[4]), max_epochs=int(sys.argv[5]), scheduler="fifo", max_failures=3,
                      space={"train.lr": {"loguniform": [1e-4, 3e-3]}}, trial_memory_gb=0.5)
print("TRIALS", run_search(search, base, prepared, runs, address=address).trials, flush=True)
"""


PREPARE = """
import sys
from sonovis.config import CorpusConfig, PrepareConfig, SpeechConfig
from sonovis.data.prepare import prepare
prepare(PrepareConfig(out=sys.argv[1], shard_rows=200, corpus=CorpusConfig(kind="builtin", builtin_images=(150, 30, 0)),
                      speech=SpeechConfig(cache_dir=sys.argv[2])))
"""  # tests/conftest.py's prepared_builtin, made on the head host: a Ray there has every port to itself


class Hosts:
    """Network namespaces joined by a bridge in a namespace of their own; each host's processes in a
    PID namespace too, so ``ray stop`` on one host sees only that host's Ray, as on a real PC."""

    def __init__(self, tag: str, names: list[str]):
        self.tag, self.names, self.procs = tag, names, []
        self.inits: dict[str, int] = {}  # host -> PID of its first long-lived process' namespace init
        self.made: list[str] = []
        self.temps: list[str] = []

    def temp(self, name: str) -> str:
        """A short Ray --temp-dir for one host (Ray's socket paths must fit in 107 bytes)."""
        self.temps.append(tempfile.mkdtemp(prefix=f"sv-{name}-", dir="/tmp"))
        return self.temps[-1]

    def ns(self, name: str) -> str:
        return f"{self.tag}-{name}"

    def ip(self, name: str) -> str:
        return f"{SUBNET}.{self.names.index(name) + 1}"

    def up(self) -> None:
        bridge = self.ns("br")
        self._ip("netns", "add", bridge)
        self.made.append(bridge)
        self._ip("-n", bridge, "link", "add", "br0", "type", "bridge")
        self._ip("-n", bridge, "link", "set", "br0", "up")
        for i, name in enumerate(self.names, 1):
            host = self.ns(name)
            self._ip("netns", "add", host)
            self.made.append(host)
            self._ip("-n", bridge, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", host)
            self._ip("-n", bridge, "link", "set", f"v{i}", "master", "br0", "up")
            self._ip("-n", host, "addr", "add", f"{self.ip(name)}/24", "dev", "eth0")
            self._ip("-n", host, "link", "set", "eth0", "up")
            self._ip("-n", host, "link", "set", "lo", "up")

    def cut(self, name: str) -> None:
        self._ip("-n", self.ns("br"), "link", "set", f"v{self.names.index(name) + 1}", "down")

    def argv(self, name: str, cmd: list[str]) -> list[str]:
        """``cmd`` on host ``name``: its network, and the PID namespace of the host's first process
        (a later driver must see the head's raylet, as on one PC), else a new one that dies with ``cmd``."""
        if name in self.inits:
            return ["nsenter", "--target", str(self.inits[name]), "--net", "--pid", "--mount", "--", *cmd]
        return ["ip", "netns", "exec", self.ns(name), "unshare", "--pid", "--fork", "--mount-proc", "--kill-child", *cmd]

    def start(self, name: str, cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        proc = subprocess.Popen(self.argv(name, cmd), env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
        self.procs.append(proc)
        if name not in self.inits:
            deadline = time.time() + 30
            while not (children := Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()):
                assert time.time() < deadline and proc.poll() is None, f"{name}: {cmd} did not start"
                time.sleep(0.05)
            self.inits[name] = int(children[0])  # unshare's child: PID 1 of the host's namespace
        return proc

    def run(self, name: str, cmd: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(self.argv(name, cmd), env=env, capture_output=True, text=True, timeout=timeout)

    def freeze(self, proc: subprocess.Popen) -> None:
        """Stop every process of one host: with its link cut it can no more write to the shared folder."""
        for pid in descendants(proc.pid):
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass

    def down(self) -> None:
        for proc in self.procs:
            proc.kill()  # unshare --kill-child: the host's whole PID namespace goes with it
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for ns in reversed(self.made):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        for folder in self.temps:
            shutil.rmtree(folder, ignore_errors=True)

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [int(c) for c in children.read_text().split()] if children.exists() else []
    return found + [d for c in found for d in descendants(c)]


@pytest.fixture
def hosts():
    tag = f"sv{os.getpid() % 100000}"
    probe = subprocess.run(["ip", "netns", "add", f"{tag}-probe"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"network namespaces are not permitted here (ip netns add: {probe.stderr.strip()})")
    subprocess.run(["ip", "netns", "del", f"{tag}-probe"], capture_output=True)
    made = Hosts(tag, ["head", "w1", "w2", "stranger"])
    try:
        made.up()
        yield made
    finally:
        made.down()


def rows(runs: Path) -> list[dict]:
    """Every epoch every trial has reported so far, from the shared storage."""
    found = []
    for path in (runs / "search").glob("trial_*/result.json"):
        for line in path.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line being written
    return found


def trials_under(proc: subprocess.Popen) -> list[int]:
    """Trial processes (Ray titles them ray::ImplicitFunc...) among a host's processes, seen from outside."""
    found = []
    for pid in descendants(proc.pid):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::ImplicitFunc"):
                found.append(pid)
        except OSError:
            pass
    return found


def mid_trial(results: list[dict], node: str) -> bool:
    """A trial on ``node`` has a checkpoint and more epochs left than a drain's grace can finish."""
    last: dict[str, dict] = {}
    for r in results:
        if r["training_iteration"] >= last.get(r["trial_id"], {}).get("training_iteration", 0):
            last[r["trial_id"]] = r
    return any(r["node_id"] == node and r["training_iteration"] <= EPOCHS - 3 for r in last.values())


def node_of(runs: Path, ip: str, alive: bool = True) -> set[str]:
    try:
        nodes = json.loads((runs / "nodes.json").read_text())
    except (OSError, json.JSONDecodeError):
        return set()
    return {n["id"] for n in nodes if n["ip"] == ip and n["alive"] == alive}


def wait(what: str, until, deadline: float, driver: subprocess.Popen, log: Path) -> None:
    while not until():
        assert driver.poll() is None, f"the search ended before {what}: {log.read_text()[-3000:]}"
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


@pytest.mark.slow
def test_agents_lend_and_reclaim_machines_on_separate_hosts(hosts: Hosts, speech_cache: Path, tmp_path: Path) -> None:
    shared = tmp_path  # one folder every namespace sees: the office's share
    runs, token = shared / "runs", shared / "auth_token"
    runs.mkdir()
    deadline = time.time() + 1500
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    base_env |= {"RAY_AUTH_TOKEN_PATH": str(token), "PYTHONPATH": str(REPO)}
    temp = {name: hosts.temp(name) for name in ("head", "w1", "w2")}
    prepared_builtin, prep_token = shared / "prepared", shared / "prep_token"
    prep_token.write_text("1" * 64)  # the preparing Ray is the head host's own, private one
    made = hosts.run("head", [sys.executable, "-c", PREPARE, str(prepared_builtin), str(speech_cache)],
                     base_env | {"RAY_TMPDIR": temp["head"], "RAY_AUTH_TOKEN_PATH": str(prep_token)}, timeout=900)
    assert made.returncode == 0, made.stdout[-2000:] + made.stderr[-2000:]
    head_env = base_env | {"RAY_TMPDIR": temp["head"], "RAY_health_check_period_ms": "1000",  # a cut link is
                           "RAY_health_check_timeout_ms": "1000", "RAY_health_check_failure_threshold": "3"}  # noticed in ~5 s
    hosts.start("head", [str(REPO / "cluster" / "start-head.sh"), "--ip", hosts.ip("head"), "--num-cpus", "0",
                         "--dashboard-host", hosts.ip("head"), "--temp-dir", temp["head"], "--block"],
                head_env, shared / "head.log")
    addr = f"{hosts.ip('head')}:6379"
    while not (shared / "head.log").read_text().count("Ray runtime started"):
        assert time.time() < deadline, (shared / "head.log").read_text()
        time.sleep(0.5)
    versions = (shared / "head.log").read_text().split("(", 1)[1].split(")", 1)[0]
    agents = {}
    for name in ("w1", "w2"):
        (shared / f"{name}.toml").write_text(
            f'[agent]\naddress = "{addr}"\nversions = "{versions}"\nip = "{hosts.ip(name)}"\nidle_minutes = 0.05\n'
            f'cores = 1\nmemory = "1GiB"\nworking_hours = ""\nmax_foreign_load = 4\nleave_foreign_load = 8\n'
            f'rejoin_after_s = 5\nleave_within_s = {LEAVE_WITHIN_S}\npoll_s = 1\nidle_file = "{shared / name}.idle"\n')
        env = base_env | {"RAY_TMPDIR": temp[name], "RAY_gcs_rpc_server_reconnect_timeout_s": "10"}
        agents[name] = hosts.start(name, [sys.executable, str(REPO / "cluster" / "agent.py"),
                                          "--config", str(shared / f"{name}.toml")], env, shared / f"{name}.log")

    # (c) the token is required across hosts: a host without it can neither join nor submit
    stranger = base_env | {"RAY_TMPDIR": hosts.temp("x")}
    refused = hosts.run("stranger", [str(REPO / "cluster" / "join-worker.sh"), "--address", addr],
                        stranger | {"RAY_AUTH_TOKEN_PATH": str(shared / "none")})
    assert refused.returncode == 2 and "no Ray token" in refused.stderr
    (shared / "wrong").write_text("0" * 64)
    wrong = stranger | {"RAY_AUTH_TOKEN_PATH": str(shared / "wrong"), "RAY_AUTH_MODE": "token"}
    probe = ("import urllib.request as u, urllib.error as e, sys\ntry: u.urlopen(sys.argv[1], timeout=20)\n"
             "except e.HTTPError as x: print('HTTP', x.code)\nelse: print('HTTP 200')")
    url = f"http://{hosts.ip('head')}:8265/api/version"
    wait("the head's job API", lambda: "HTTP" in hosts.run("stranger", [sys.executable, "-c", probe, url], stranger).stdout,
         deadline, hosts.procs[0], shared / "head.log")
    assert hosts.run("stranger", [sys.executable, "-c", probe, url], stranger).stdout.split()[-1] in ("401", "403")
    submit = hosts.run("stranger", [RAY, "job", "submit", "--address", f"http://{hosts.ip('head')}:8265", "--",
                                    "echo", "pwned"], wrong)
    assert submit.returncode != 0 and "pwned" not in submit.stdout
    try:  # a driver with the wrong token is refused (or never gets in)
        joined = hosts.run("stranger", [sys.executable, "-c", f"import ray; ray.init(address='{addr}'); print('IN')"],
                           wrong, timeout=120)
        assert joined.returncode != 0 and "IN" not in joined.stdout
    except subprocess.TimeoutExpired:
        pass

    driver_log = shared / "driver.log"
    driver = hosts.start("head", [sys.executable, "-c", DRIVER, str(prepared_builtin), str(runs), addr, "6", str(EPOCHS)],
                         head_env, driver_log)
    ip1, ip2 = hosts.ip("w1"), hosts.ip("w2")
    wait("both agents to join", lambda: node_of(runs, ip1) and node_of(runs, ip2), deadline, driver, driver_log)
    first_w1 = node_of(runs, ip1).pop()

    # (a) w1's owner comes back mid-trial: the agent drains it, its trials resume on w2, it rejoins later
    wait("a trial on w1 with epochs to go", lambda: mid_trial(rows(runs), first_w1), deadline, driver, driver_log)
    assert trials_under(agents["w1"])
    touched = time.time()
    (shared / "w1.idle").touch()
    wait("w1's trials to stop", lambda: not trials_under(agents["w1"]), deadline, driver, driver_log)
    freed_s = time.time() - touched
    wait("w1 to leave", lambda: not node_of(runs, ip1), deadline, driver, driver_log)
    gone_s = time.time() - touched
    wait("w1 to rejoin with new trials", lambda: any(r["node_id"] not in (first_w1,) and r["node_id"] in node_of(runs, ip1)
                                                     for r in rows(runs)), deadline, driver, driver_log)

    # (b) w2's network cable is pulled mid-trial (its share with it): Ray declares it dead, trials move on
    w2 = node_of(runs, ip2).pop()
    wait("a trial on w2 with epochs to go", lambda: mid_trial(rows(runs), w2), deadline, driver, driver_log)
    cut = time.time()
    hosts.cut("w2")
    hosts.freeze(agents["w2"])
    wait("Ray to declare w2 dead", lambda: w2 in node_of(runs, ip2, alive=False), deadline, driver, driver_log)
    dead_s = time.time() - cut
    driver.wait(timeout=max(1, deadline - time.time()))
    assert "TRIALS 6" in driver_log.read_text(), driver_log.read_text()[-3000:]

    results = rows(runs)
    last_epoch = {}
    for r in results:
        last_epoch[r["trial_id"]] = max(last_epoch.get(r["trial_id"], 0), r["training_iteration"])
    assert len(last_epoch) == 6 and set(last_epoch.values()) == {EPOCHS}  # no trial lost, every one finished
    redone = {}
    for lost in (first_w1, w2):
        for trial in {r["trial_id"] for r in results if r["node_id"] == lost}:
            before = max(r["training_iteration"] for r in results if r["trial_id"] == trial and r["node_id"] == lost)
            after = [r for r in results if r["trial_id"] == trial and r["node_id"] != lost and r["resumed_from_epoch"] > 0]
            if after and before < EPOCHS:
                resumed = min(r["resumed_from_epoch"] for r in after)
                redone[trial] = before - resumed  # completed epochs trained twice; the one in flight is extra
                assert {r["node_id"] for r in after} - {lost}  # restarted on another node
    assert redone and all(v == 0 for v in redone.values()), redone
    assert freed_s < LEAVE_WITHIN_S + 5, freed_s  # the policy's promise, with a poll and the kill to spare
    figures = {"owner_activity_to_trial_cpus_free_s": round(freed_s, 1), "owner_activity_to_node_gone_s": round(gone_s, 1),
               "link_cut_to_node_dead_s": round(dead_s, 1),
               "completed_epochs_redone": redone, "trials_lost": 6 - len(last_epoch)}
    print("FIGURES", json.dumps(figures))
    w1_log = (shared / "w1.log").read_text()
    assert "agent: joined (" in w1_log and "agent: leaving (owner active" in w1_log, w1_log
    print(w1_log)
