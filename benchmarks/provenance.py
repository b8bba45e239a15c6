"""Where a result came from: commit, date, command line and machine, for every result JSON a benchmark writes.

    from provenance import provenance   # benchmarks/ is on sys.path when a benchmark runs
    json.dumps({..., "provenance": provenance(sys.argv)})

Standard library only, so it can run (and be tested) without the project's environment.
"""

from __future__ import annotations

import datetime
import os
import platform
import shlex
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
# Settings read from the environment that change what a CPU-minute buys (thread pools, oneDNN's
# kernel cache): a result names the ones that were set.
RUNTIME_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "ONEDNN_PRIMITIVE_CACHE_CAPACITY")


def _git(*args: str) -> str | None:
    """Output of a git command in this repository, or None when git or the repository is missing."""
    try:
        done = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip()


def memory_gib() -> float | None:
    """Total memory from /proc/meminfo (Linux), in GiB; None where it cannot be read."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)  # the value is in kB (KiB)
    except (OSError, ValueError, IndexError):
        pass
    return None


def cpu() -> dict[str, Any]:
    """The CPU's model name and whether it does bf16 natively (what `train.precision = "auto"` asks), from
    /proc/cpuinfo: a CPU-minute budget buys more epochs on a faster CPU, so results compare on one model only."""
    model, flags = None, set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model is None:
                model = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return {"cpu": model, "native_bf16": bool(flags & {"avx512_bf16", "amx_bf16"}) if flags else None}


def provenance(argv: list[str]) -> dict[str, Any]:
    """Commit (``"dirty": true`` with uncommitted changes to tracked files), ISO date, command line (with the
    runtime variables set), machine."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    out: dict[str, Any] = {"commit": commit}
    if status:
        out["dirty"] = True
    out.update({
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([*(f"{k}={os.environ[k]}" for k in RUNTIME_VARIABLES if k in os.environ),
                               "python", *argv]),
        "machine": {"cores": os.cpu_count(), "memory_gib": memory_gib(), **cpu(), "platform": platform.platform(),
                    "python": platform.python_version()},
    })
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(provenance(sys.argv), indent=1))
