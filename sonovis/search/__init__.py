"""The search: the space, the trainable, Ray Tune with a pruned-aware OptunaSearch and ASHA, ablations and strategies.

Imports ``train`` (a trial is ``fit()`` plus ``tune.report``), ``data``'s shard loading and ``runtime``.
"""
