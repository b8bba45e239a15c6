"""Several hosts: nodes of different sizes get the trials they can hold, and (slow) a real
multi-host cluster in network namespaces with agents that lend and reclaim their machines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

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
