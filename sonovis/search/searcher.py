"""The searcher behind every search: Ray Tune's OptunaSearch, told which trials ASHA cut short.

Kept apart from the tuner because it is the one place sonovis reaches into OptunaSearch's
internals (its study and trial maps), so a Ray upgrade that changes them breaks one small file.
"""

from __future__ import annotations

from typing import Any

import optuna
from ray.tune.search.optuna import OptunaSearch

from sonovis.search.clock import completed

ORPHAN_REASON = "asked for by a search driver that stopped before the trial started"


class PrunedAwareOptunaSearch(OptunaSearch):
    """OptunaSearch that tells Optuna a trial ASHA stopped early was *pruned*, not complete.

    Stock OptunaSearch reports an early-stopped trial as COMPLETE with its low early score,
    so TPE would learn from truncated runs as if they were finished. As PRUNED (with every
    epoch's value as an intermediate value and the stopping epoch recorded), TPE ranks it
    below finished trials and by how far it got, which is what it means. Tune hands the
    result that triggered a stop only to ``on_trial_complete``, so that epoch is reported here.
    """

    def __init__(self, *args: Any, max_epochs: int, max_cpu_minutes: float = 0.0, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.max_epochs, self.max_cpu_minutes = max_epochs, max_cpu_minutes
        self.reported: dict[str, int] = {}  # trial id -> last epoch told to Optuna

    def restore(self, checkpoint_path: str) -> None:
        """Reconcile the restored searcher with the study, which the killed driver kept writing to.

        Trials the study finished after the searcher's last save are not told twice; trials asked
        for after that save never reached Tune and are marked FAIL with the reason, so nothing is
        left RUNNING and TPE ignores them.
        """
        super().restore(checkpoint_path)
        finished = {t.number for t in self._ot_study.get_trials(deepcopy=False) if t.state.is_finished()}
        self._completed_trials |= {tid for tid, t in self._ot_trials.items() if t.number in finished}
        known = {t.number for t in self._ot_trials.values()}
        for orphan in self._ot_study.get_trials(deepcopy=False, states=[optuna.trial.TrialState.RUNNING]):
            if orphan.number not in known:
                live = optuna.Trial(self._ot_study, orphan._trial_id)
                live.set_user_attr("orphaned", ORPHAN_REASON)
                self._ot_study.tell(live, state=optuna.trial.TrialState.FAIL)

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        super().on_trial_result(trial_id, result)
        self.reported[trial_id] = result["training_iteration"]

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        if error or not result or self.metric not in result or trial_id in self._completed_trials:
            return super().on_trial_complete(trial_id, result, error)
        epochs = result["training_iteration"]
        if self.reported.get(trial_id) != epochs:
            self.on_trial_result(trial_id, result)
        if completed(result, self.max_epochs, self.max_cpu_minutes):
            return super().on_trial_complete(trial_id, result, error)
        ot_trial = self._ot_trials[trial_id]
        ot_trial.set_user_attr("stopped_at_epoch", epochs)
        self._ot_study.tell(ot_trial, state=optuna.trial.TrialState.PRUNED)
        self._completed_trials.add(trial_id)
