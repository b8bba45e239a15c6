"""Office-machine clusters: token auth on the scripts' head, and a search that survives losing a node."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
RAY = str(Path(sys.executable).parent / "ray")


def _status(url: str, token: str | None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code
    except urllib.error.URLError:
        return 0  # not listening yet


def test_start_head_requires_the_token_for_jobs_and_dashboard(ray_head, tmp_path: Path) -> None:
    url, env = ray_head
    token_path = Path(env["RAY_AUTH_TOKEN_PATH"])
    token = token_path.read_text()
    assert oct(token_path.stat().st_mode & 0o777) == "0o600" and len(token) == 64
    assert _status(f"{url}/api/version", None) in (401, 403)
    assert _status(f"{url}/api/version", "wrong-token") in (401, 403)
    assert _status(f"{url}/api/version", token) == 200
    no_token = {**env, "RAY_AUTH_MODE": "disabled", "RAY_AUTH_TOKEN_PATH": str(tmp_path / "none")}
    refused = subprocess.run([RAY, "job", "submit", "--address", url, "--", "echo", "pwned"],
                             env=no_token, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0 and "pwned" not in refused.stdout
    allowed = subprocess.run([RAY, "job", "submit", "--address", url, "--", "echo", "hello-from-job"],
                             env=env, capture_output=True, text=True, timeout=300)
    assert allowed.returncode == 0 and "hello-from-job" in allowed.stdout, allowed.stdout + allowed.stderr


def test_join_worker_refuses_mismatched_versions(tmp_path: Path) -> None:
    token = tmp_path / "auth_token"
    token.write_text("x" * 64)
    proc = subprocess.run([str(REPO / "cluster" / "join-worker.sh"), "--address", "127.0.0.1:1",
                           "--versions", "python=3.9.0 ray=2.0.0 sonovis=0.0.1"],
                          env={**os.environ, "RAY_AUTH_TOKEN_PATH": str(token)}, capture_output=True, text=True)
    assert proc.returncode == 3 and "ray=2.0.0" in proc.stderr and "same versions" in proc.stderr


MULTINODE = """
import sys, threading, time
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from sonovis.config import ExperimentConfig, ModelConfig, SearchConfig, TrainConfig
from sonovis.search.tuner import run_search

prepared, runs = sys.argv[1], Path(sys.argv[2])
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
cluster.wait_for_nodes()
ray.init(address=cluster.address)

base = ExperimentConfig(model=ModelConfig(hidden_size=64, conv_channels=64, embed_dim=64), train=TrainConfig())
search = SearchConfig(trials=4, max_epochs=4, scheduler="fifo", max_failures=3,
                      space={"train.lr": {"loguniform": [1e-4, 3e-3]}})
outcome = []  # Ray starts and stops nodes only from the main thread, so the search runs in another
driver = threading.Thread(target=lambda: outcome.append(run_search(search, base, prepared, runs)))
driver.start()
while driver.is_alive() and not list((runs / "search").glob("trial_*/checkpoint_000001")):
    time.sleep(0.2)
cluster.remove_node(workers[0], allow_graceful=False)  # a worker's owner takes the machine back mid-search
later = cluster.add_node(num_cpus=1)  # and another machine joins
print("KILLED", workers[0].node_id, "JOINED", later.node_id, flush=True)
driver.join()
print("TRIALS", outcome[0].trials, flush=True)
"""


@pytest.mark.slow
def test_search_survives_a_worker_node_leaving(prepared_builtin: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run([sys.executable, "-c", MULTINODE, str(prepared_builtin), str(runs)], env=env,
                          capture_output=True, text=True, timeout=1200)
    assert "TRIALS 4" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    killed, joined = proc.stdout.split("KILLED ")[1].split()[0:3:2]
    results = pd.concat([pd.read_json(p, lines=True) for p in (runs / "search").glob("trial_*/result.json")])
    assert results["node_id"].nunique() >= 2  # trials ran on more than one node
    assert joined in set(results["node_id"])  # the machine that joined mid-search got trials
    assert set(results.groupby("trial_id")["training_iteration"].max()) == {4}  # every trial finished
    hit = results[results["node_id"] == killed]["trial_id"].unique()
    assert len(hit) >= 1
    resumed = results[results["trial_id"].isin(hit) & (results["resumed_from_epoch"] > 0)]
    assert len(resumed) >= 1 and (resumed["node_id"] != killed).all()  # restarted elsewhere from a checkpoint
