"""The model: speech encoder, image projection, text encoder, denoising head, and the losses.

Pure PyTorch: it reads a ``Batch`` and returns embeddings and losses. Imports only ``config`` and
``errors``; it knows nothing of shards, engines, training loops or Ray.
"""

import os

# oneDNN, behind PyTorch's CPU convolutions, keeps a compiled kernel and its buffers for each input
# shape it meets, up to 1,024 of them. Every batch here pads to a new length, so the cache only
# grows: 0.5-0.7 GiB of a training process, for kernels that are rarely met again (rebuilding one
# costs less than the measurement's noise; benchmarks/train_memory.py). oneDNN reads this at its
# first convolution, which comes after this import; a value set by the user is kept.
KERNEL_CACHE_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
os.environ.setdefault(KERNEL_CACHE_VARIABLE, "0")
