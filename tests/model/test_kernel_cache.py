"""The speech encoder does not keep a compiled convolution for every batch length it has met."""

from __future__ import annotations

import os
import subprocess
import sys

from sonovis.model import KERNEL_CACHE_VARIABLE

# A fresh process (oneDNN reads its cache capacity once): encode batches of 60 different lengths,
# as training and evaluation do, and print the growth of unique memory in MiB.
CHILD = r"""
import psutil, torch
from sonovis.config import ModelConfig
from sonovis.model.encoders import SpeechEncoder
torch.set_num_threads(1)
encoder, proc = SpeechEncoder(ModelConfig(), 40).eval(), psutil.Process()
with torch.inference_mode():
    encoder.frames(torch.zeros(16, 100, 40), torch.full((16,), 100))
    start = proc.memory_full_info().uss
    for frames in range(200, 1400, 20):
        encoder.frames(torch.zeros(16, frames, 40), torch.full((16,), frames))
print((proc.memory_full_info().uss - start) / 2**20)
"""


def growth_mib(**env: str) -> float:
    base = {k: v for k, v in os.environ.items() if k != KERNEL_CACHE_VARIABLE}
    done = subprocess.run([sys.executable, "-c", CHILD], env={**base, **env}, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def test_convolution_kernels_are_not_cached_per_length() -> None:
    kept = growth_mib()
    cached = growth_mib(**{KERNEL_CACHE_VARIABLE: "1024"})  # oneDNN's default: what sonovis turns off
    # How much the default cache keeps varies by machine (340 MiB here, 112 on CI's fresh machine): the
    # test needs it to be measurable, and sonovis' setting to keep well under half of it.
    assert cached > 60, f"oneDNN's cache kept only {cached:.0f} MiB: nothing left to test"
    assert kept < min(80, cached / 2), f"the encoder kept {kept:.0f} MiB over 60 batch lengths ({cached:.0f} cached)"
