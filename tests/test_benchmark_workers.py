"""A benchmark's worker processes end with it: a killed benchmark leaves nothing training on the cores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
PARENT = """
import multiprocessing, os, sys, time
sys.path.insert(0, {benchmarks!r})
from voices import exit_with_parent

def arm(parent):
    exit_with_parent(parent, every_s=0.1)
    time.sleep(120)  # an arm still training

if __name__ == "__main__":
    worker = multiprocessing.get_context("spawn").Process(target=arm, args=(os.getpid(),))
    worker.start()
    print(worker.pid, flush=True)
    time.sleep(120)
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_an_arm_process_exits_when_its_benchmark_is_killed(tmp_path: Path) -> None:
    script = tmp_path / "parent.py"
    script.write_text(PARENT.format(benchmarks=str(REPO / "benchmarks")))
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    worker = int(parent.stdout.readline())
    time.sleep(1.0)
    assert not _gone(worker)  # alive while its parent is
    os.kill(parent.pid, signal.SIGKILL)  # as `kill -9` or the OOM killer would: no chance to clean up
    parent.wait()
    deadline = time.time() + 20
    while not _gone(worker) and time.time() < deadline:
        time.sleep(0.2)
    assert _gone(worker), f"arm process {worker} outlived its killed benchmark"
