"""Trial throughput with 1 and 2 simulated worker nodes, measured side by side in one run.

Each "office machine" is a Ray node of 1 CPU started by ``ray.cluster_utils.Cluster`` on
this machine (the head gets 0 CPUs, as in cluster/README.md where the head only schedules).
The same FIFO search of identical trials runs on each cluster; with 2 nodes every trial's
node must first fetch the prepared data from the object store, which is the cost that
grows with machines on a real network.

    .venv/bin/python benchmarks/cluster_speed.py --data PREP [--trials 4] [--epochs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import ray
from ray.cluster_utils import Cluster

from sonovis.config import ExperimentConfig, ModelConfig, SearchConfig, TrainConfig
from sonovis.search.tuner import run_search
from sonovis.table import format_table


def search_on_nodes(nodes: int, data: str, base: ExperimentConfig, trials: int, epochs: int) -> dict[str, float]:
    """Wall seconds and trial-epochs per minute of one search on ``nodes`` single-CPU workers."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    for _ in range(nodes):
        cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address)
    search = SearchConfig(trials=trials, max_epochs=epochs, scheduler="fifo",
                          space={"train.seed": {"choice": [0]}})  # the same training in every trial
    with tempfile.TemporaryDirectory(prefix="sonovis-cluster-bench-", ignore_cleanup_errors=True) as folder:
        runs = Path(folder)
        try:
            t0 = time.perf_counter()
            run_search(search, base, data, runs, echo=lambda _: None)
            wall = time.perf_counter() - t0
        finally:
            ray.shutdown()
            cluster.shutdown()
        results = pd.concat([pd.read_json(p, lines=True) for p in (runs / "search").glob("trial_*/result.json")])
    return {"wall": wall, "per_min": 60 * trials * epochs / wall, "nodes_used": results["node_id"].nunique()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="prepared folder")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    base = ExperimentConfig(model=ModelConfig(hidden_size=64, conv_channels=64, embed_dim=64),
                            train=TrainConfig(epochs=args.epochs))
    data = str(Path(args.data).resolve())
    one = search_on_nodes(1, data, base, args.trials, args.epochs)
    two = search_on_nodes(2, data, base, args.trials, args.epochs)
    print(format_table(
        ["worker nodes (1 CPU each)", "nodes that ran trials", "wall s", "trial-epochs/min"],
        [[1, one["nodes_used"], one["wall"], one["per_min"]], [2, two["nodes_used"], two["wall"], two["per_min"]]],
        title=f"cluster throughput: {args.trials} trials x {args.epochs} epochs"))
    print(f"2 nodes vs 1: {two['per_min'] / one['per_min']:.2f}x trial throughput")


if __name__ == "__main__":
    main()
