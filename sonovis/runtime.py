"""Joining a Ray cluster or starting a private local one — the one place that decides how.

A private local Ray listens on loopback only. Ray's servers (GCS, raylet, workers, the
dashboard agent, the runtime-env agent, the metrics exporter) listen on 127.0.0.1 exactly
when the node's IP is 127.0.0.1, and on every interface otherwise; but ``ray.init`` turns
a loopback ``_node_ip_address`` into the machine's LAN address unless
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is false (Ray's switch for single-machine Ray on
Windows and macOS). So a local Ray is started with that switch off (and Ray's usage
statistics off), for Ray's own processes only; a cluster address on 127.0.0.1 is joined
there too. tests/search/test_sockets.py checks the sockets, not these flags.

Token authentication (Ray >= 2.52, on for a new local cluster unless ``RAY_AUTH_MODE``
says otherwise) guards whatever listens; we warn when it is off. The token file is kept
readable by its owner only (0600), whoever wrote it first. Without an address,
``ray.init`` would join the most recent cluster started on this machine (even a dead one,
and then hang); a private local Ray has to be asked for explicitly.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

import ray

LOOPBACK = "127.0.0.1"
_SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # false: Ray keeps a loopback node IP as it is
_USAGE_STATS = "RAY_USAGE_STATS_ENABLED"
# The dashboard's and autoscaler's Prometheus exporters answer /metrics to anyone and have no switch
# in Ray 2.60: an impossible port makes both fail to start (cluster/common.sh does the same).
_NO_EXPORTERS = {"DASHBOARD_METRIC_PORT": "-1", "AUTOSCALER_METRIC_PORT": "-1"}


_DASHBOARD = {"url": ""}  # what ray.init said of the Ray this process joined, for the progress lines


def connect(address: str | None = None, num_cpus: int | None = None, dashboard: bool = True) -> str:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), else start a local Ray on this machine;
    the dashboard's address ("" when there is none)."""
    if ray.is_initialized():
        return _DASHBOARD["url"]
    address = address or os.environ.get("RAY_ADDRESS")
    mode = os.environ.get("RAY_AUTH_MODE", "token")  # unset: Ray >= 2.52 turns token auth on for a local Ray
    if mode != "token":
        print(f"warning: RAY_AUTH_MODE={mode}: Ray's ports accept anyone who can reach them, "
              "and its job API runs arbitrary code", flush=True)
    else:
        private_token(create=not address)
        if address and "RAY_AUTH_MODE" not in os.environ:
            _join_with_token()
    if address:
        host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
        with _loopback_node() if host in ("127.0.0.1", "localhost", "::1") else contextlib.nullcontext():
            context = ray.init(address=address, log_to_driver=True)  # a head on 127.0.0.1 is reached there
    else:
        with _loopback_node():
            context = ray.init(
                address="local",  # never the last `ray start` cluster of this machine, which Ray would otherwise join
                num_cpus=num_cpus,
                include_dashboard=dashboard,
                dashboard_host=LOOPBACK,
                _node_ip_address=LOOPBACK,
                log_to_driver=True,
                configure_logging=False,
            )
    if mode == "token":
        private_token(create=False)  # Ray may have written it itself, with the umask's mode
    _DASHBOARD["url"] = f"http://{context.dashboard_url}" if context.dashboard_url else ""
    return _DASHBOARD["url"]


def _join_with_token() -> None:
    """Send the token when joining a cluster even if ``RAY_AUTH_MODE`` is unset.

    Ray turns token auth on by itself only for a local cluster it starts; joining an explicit
    address with the mode unset it sends no token, and every sonovis cluster requires one. The
    mode is cached in Ray's config when ray is imported, so Ray's own switch refreshes it.
    """
    from ray._private.authentication.authentication_token_setup import _enable_token_auth

    _enable_token_auth()


def token_path() -> Path:
    """Where Ray reads the token: ``RAY_AUTH_TOKEN_PATH``, else ``~/.ray/auth_token``."""
    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token").expanduser()


def private_token(create: bool) -> Path | None:
    """Make the token file 0600 (creating a 256-bit one first if asked and there is none); its path."""
    if os.environ.get("RAY_AUTH_TOKEN"):  # the token itself is in the environment: no file is read
        return None
    path = token_path()
    if create and not (path.exists() and path.stat().st_size):
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    try:
        if path.exists() and path.stat().st_mode & 0o077:
            path.chmod(0o600)
    except OSError as err:  # someone else's file: say so, Ray decides whether it may use it
        print(f"warning: {path} stays readable by others: {err}", flush=True)
    return path if path.exists() else None


@contextlib.contextmanager
def _loopback_node():
    """While Ray starts its processes, a loopback node IP stays loopback (see the module's docstring)."""
    from ray._private import ray_constants

    saved = {name: os.environ.get(name) for name in (_SINGLE_MACHINE, _USAGE_STATS, *_NO_EXPORTERS)}
    saved_flag = ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_SINGLE_MACHINE] = "0"  # Ray's processes, started now, inherit it
    os.environ.setdefault(_USAGE_STATS, "0")  # and do not report usage to Ray's makers
    os.environ.update(_NO_EXPORTERS)
    ray_constants.ENABLE_RAY_CLUSTER = False  # this process read it when it imported ray
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def cluster_cpus() -> int:
    return int(ray.cluster_resources().get("CPU", 1))
