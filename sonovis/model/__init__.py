"""The model: speech encoder, image projection, text encoder, denoising head, and the losses.

Pure PyTorch: it reads a ``Batch`` and returns embeddings and losses. Imports only ``config`` and
``errors``; it knows nothing of shards, engines, training loops or Ray.
"""
