"""Training one configuration: batches, augmentation, the Trainer and ``fit()``, metrics, evaluation, checkpoints.

Runs and tests without a cluster. Imports ``model`` and, from ``data``, only the shard loading and the
held-out voice rule (never an engine). No Ray here: a search trial calls ``fit()``.
"""
