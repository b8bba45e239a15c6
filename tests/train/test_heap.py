"""The trainer's heap trims really hand freed memory back to the operating system (on glibc)."""

from __future__ import annotations

import ctypes.util
import platform

import psutil
import pytest

from sonovis.train.heap import release_free_heap


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or not ctypes.util.find_library("c"),
                    reason="malloc_trim is glibc's")
def test_freed_heap_goes_back_to_the_system() -> None:
    """Blocks below the mmap threshold, freed but for a few that pin the heap (as batches of
    changing sizes leave it), stay in the process until the trim."""
    proc = psutil.Process()
    blocks = [bytearray(60_000 + i % 997) for i in range(5_000)]  # ~300 MB, each block touched (zeroed)
    kept = blocks[::100] + [blocks[-1]]
    held = proc.memory_full_info().uss
    del blocks
    freed = proc.memory_full_info().uss
    release_free_heap()
    trimmed = proc.memory_full_info().uss
    assert held - freed < 50 * 2**20, "glibc returned the freed blocks by itself: nothing left to test"
    assert freed - trimmed > 200 * 2**20
    del kept  # they pinned the heap until here
