"""Ray's OptunaSearch, telling Optuna the truth about how each trial ended; Optuna's GridSampler, usable by
ask and tell (``AskTellGridSampler``).

Ray's ``OptunaSearch.on_trial_complete`` tells Optuna COMPLETE with the last reported value whenever the
last result has the metric, including trials ASHA stopped after a few epochs and trials that raised. TPE
would then treat a 2-epoch score as a finished observation. Here a trial is COMPLETE only when it ran its
downstream evaluation, PRUNED when the scheduler stopped it (its per-epoch values stay in the study as
intermediate values, which is how Optuna's samplers use pruned trials), FAIL when it raised.

A sweep resumed after its driver died (``tune.py --resume``) gets back the searcher Tune last saved; trials the
dead driver asked Optuna for after that save are still RUNNING in the study. ``restore`` finds them and
``suggest`` hands them out first, so the resumed sweep runs those points rather than asking for new ones: the
study never holds an abandoned copy of a point beside the one that ran.

It also hands each trial its Optuna trial number (``selection.TRIAL_NUMBER_KEY`` in the config), which the
trial folds into its final objective value as the tie-break of ``selection.py``.
"""
from __future__ import annotations

from typing import Optional

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from trainables.results import FAILED, FINISHED, PRUNED, TRIAL_NUMBER_KEY, outcome

_STATES = {FINISHED: TrialState.COMPLETE, PRUNED: TrialState.PRUNED, FAILED: TrialState.FAIL}


class PruningAwareOptunaSearch(OptunaSearch):
    _orphans: list[int] = []  # Optuna trial ids asked for after the last save a resumed sweep restored

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        known = {trial.number for trial in self._ot_trials.values()}
        self._orphans = [trial._trial_id for trial in self._ot_study.get_trials(deepcopy=False,
                                                                               states=(TrialState.RUNNING,))
                         if trial.number not in known]

    def suggest(self, trial_id: str) -> Optional[dict]:
        if trial_id not in self._ot_trials and self._orphans:
            self._ot_trials[trial_id] = optuna.Trial(self._ot_study, self._orphans.pop(0))
        config = super().suggest(trial_id)
        if isinstance(config, dict):
            config[TRIAL_NUMBER_KEY] = self._ot_trials[trial_id].number
        return config

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        state = _STATES[outcome(result, error)]
        value = result.get(self.metric) if (result and state == TrialState.COMPLETE) else None
        ot_trial = self._ot_trials[trial_id]
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL  # finished without the objective: nothing to learn from
        self._ot_study.tell(ot_trial, value, state=state)
        self._completed_trials.add(trial_id)


class AskTellGridSampler(optuna.samplers.GridSampler):
    """Optuna's ``GridSampler`` as Ray Tune drives it, by ask and tell.

    ``GridSampler.after_trial`` calls ``study.stop()`` once every cell has been visited, which only works inside
    ``study.optimize``; Ray's ``OptunaSearch`` tells results outside it, where ``stop()`` raises RuntimeError
    and the last trial's result never reaches the study. Here the sweep's length is the grid's size
    (``budget.trials``, checked when the search space is loaded), so Tune ends the sweep and nothing needs
    stopping.
    """

    def after_trial(self, study, trial, state, values) -> None:
        pass
