"""The experiment record stays honest: generated tables match the result files, and every result file says where it came from."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def test_tables_are_up_to_date() -> None:
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "tables.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_result_has_provenance() -> None:
    files = sorted(RESULTS.rglob("*.json"))
    assert files, f"no result files under {RESULTS}"
    for path in files:
        provenance = json.loads(path.read_text()).get("provenance")
        assert isinstance(provenance, dict), f"{path.relative_to(REPO)}: no provenance"
        for key in ("commit", "date", "command", "machine"):
            assert provenance.get(key), f"{path.relative_to(REPO)}: provenance lacks {key}"


def test_provenance_names_the_cpu_a_budget_was_spent_on() -> None:
    """A CPU-minute budget buys more epochs on a faster CPU: a new result says which CPU it ran on."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    from provenance import provenance

    machine = provenance(["benchmarks/x.py"])["machine"]
    cpuinfo = Path("/proc/cpuinfo").read_text()
    assert machine["cpu"] and f"model name\t: {machine['cpu']}" in cpuinfo
    assert machine["native_bf16"] == any(flag in cpuinfo.split() for flag in ("avx512_bf16", "amx_bf16"))
