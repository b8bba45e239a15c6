"""Joining a Ray cluster or starting a private local one — the one place that decides how.

Ray's internal gRPC servers listen on every interface whatever address it is given,
so what keeps a local Ray private is token authentication, which Ray (>= 2.52) turns on
for a new local cluster unless ``RAY_AUTH_MODE`` says otherwise; we warn when it does.
The dashboard and job API bind to 127.0.0.1. Without an address, ``ray.init`` would join
the most recent cluster started on this machine (even a dead one, and then hang); a
private local Ray has to be asked for explicitly.
"""

from __future__ import annotations

import os

import ray


def connect(address: str | None = None, num_cpus: int | None = None, dashboard: bool = True) -> None:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local Ray on this machine."""
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS")
    mode = os.environ.get("RAY_AUTH_MODE", "token")  # unset: Ray >= 2.52 turns token auth on for a local Ray
    if mode != "token":
        print(f"warning: RAY_AUTH_MODE={mode}: Ray's ports accept anyone who can reach this machine, "
              "and its job API runs arbitrary code", flush=True)
    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        ray.init(
            address="local",  # never the last `ray start` cluster of this machine, which Ray would otherwise join
            num_cpus=num_cpus,
            include_dashboard=dashboard,
            dashboard_host="127.0.0.1",
            _node_ip_address="127.0.0.1",
            log_to_driver=True,
            configure_logging=False,
        )


def cluster_cpus() -> int:
    return int(ray.cluster_resources().get("CPU", 1))
