"""The search: the space, the trainable, Ray Tune with a pruned-aware OptunaSearch and ASHA, ablations and strategies.

Imports ``train`` (a trial is ``fit()`` plus ``tune.report``), ``data``'s shard loading and ``runtime``.
"""

EXPERIMENT = "search"  # Tune's folder under a search's --out, and its Optuna study's name
STUDY_FILE = "optuna.db"  # the study, beside that folder: optuna-dashboard, `report` and --warm-start read it
