"""Ray's OptunaSearch, telling Optuna the truth about how each trial ended; Optuna's GridSampler, usable by
ask and tell (``AskTellGridSampler``).

Ray's ``OptunaSearch.on_trial_complete`` tells Optuna COMPLETE with the last reported value whenever the
last result has the metric, including trials ASHA stopped after a few epochs and trials that raised. TPE
would then treat a 2-epoch score as a finished observation. Here a trial is COMPLETE only when it ran its
downstream evaluation, PRUNED when the scheduler stopped it (its per-epoch values stay in the study as
intermediate values, which is how Optuna's samplers use pruned trials), FAIL when it failed.

A sweep resumed after its driver died (``tune.py --resume``) gets back the searcher Tune last saved; trials the
dead driver asked Optuna for after that save are still RUNNING in the study. ``restore`` finds them and
``suggest`` hands them out first, so the resumed sweep runs those points rather than asking for new ones: the
study never holds an abandoned copy of a point beside the one that ran. Trials that crashed (told FAIL, marked
``sslsweep_crashed``) are resumed by Tune from their checkpoints; a finished Optuna trial cannot be reopened, so
each carries on in a new Optuna trial of the same point, marked ``sslsweep_retry_of`` (what Optuna's own
``RetryFailedTrialCallback`` does for trials whose heartbeat stopped).

It also hands each trial its Optuna trial number (``selection.TRIAL_NUMBER_KEY`` in the config), which the
trial folds into its final objective value as the tie-break of ``selection.py``.
"""

from __future__ import annotations

from typing import Optional

import optuna
from optuna.trial import TrialState
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch

from trainables.records.results import FAILED, FINISHED, PRUNED, TRIAL_NUMBER_KEY, outcome
from trainables.tracking.stores import OPTUNA_VARIABLE, redact, with_credentials

_STATES = {FINISHED: TrialState.COMPLETE, PRUNED: TrialState.PRUNED, FAILED: TrialState.FAIL}
CRASHED_ATTR = "sslsweep_crashed"  # a FAIL that was a crash (Tune resumes it), not sslsweep's own verdict
RETRY_OF_ATTR = "sslsweep_retry_of"  # the number of the crashed Optuna trial a retry carries on


class CredentialFreeRDBStorage(optuna.storages.RDBStorage):
    """Optuna's ``RDBStorage``, pickled without the password of its URL.

    Tune pickles the searcher, and with it the study's storage, into ``searcher-state-*.pkl`` under
    ``SSLSWEEP_RAY_STORAGE`` (often shared storage). The pickle keeps the redacted URL; unpickled (``--resume``),
    the storage reads the full one from ``SSLSWEEP_OPTUNA_STORAGE`` where it runs (``stores.with_credentials``).
    """

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "url": redact(self.url)}

    def __setstate__(self, state: dict) -> None:
        super().__setstate__({**state, "url": with_credentials(state["url"], OPTUNA_VARIABLE)})


class PruningAwareOptunaSearch(OptunaSearch):
    _orphans: list[int] = []  # Optuna trial ids asked for after the last save a resumed sweep restored
    reopened: set[str] = set()  # Tune trial ids of crashed trials a resumed sweep carries on (retries)

    def restore(self, checkpoint_path: str) -> None:
        super().restore(checkpoint_path)
        trials = self._ot_study.get_trials(deepcopy=False)
        by_number = {trial.number: trial for trial in trials}
        # A retry an earlier resume began (its driver died too before Tune saved the searcher again) goes on.
        open_retries = {
            trial.user_attrs[RETRY_OF_ATTR]: trial
            for trial in trials
            if RETRY_OF_ATTR in trial.user_attrs and trial.state == TrialState.RUNNING
        }
        for trial_id, ot_trial in list(self._ot_trials.items()):
            frozen = by_number[ot_trial.number]
            if frozen.state == TrialState.FAIL and frozen.user_attrs.get(CRASHED_ATTR):
                if frozen.number in open_retries:
                    retry = optuna.Trial(self._ot_study, open_retries[frozen.number]._trial_id)
                else:
                    self._ot_study.enqueue_trial(frozen.params, user_attrs={RETRY_OF_ATTR: frozen.number})
                    retry = self._ot_study.ask(fixed_distributions=self._space)
                self._ot_trials[trial_id] = retry
                self._completed_trials.discard(trial_id)
                self.reopened = {*self.reopened, trial_id}
        known = {trial.number for trial in self._ot_trials.values()}
        self._orphans = [
            trial._trial_id
            for trial in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
            if trial.number not in known
        ]

    def suggest(self, trial_id: str) -> Optional[dict]:
        if trial_id not in self._ot_trials and self._orphans:
            self._ot_trials[trial_id] = optuna.Trial(self._ot_study, self._orphans.pop(0))
        config = super().suggest(trial_id)
        if isinstance(config, dict):
            config[TRIAL_NUMBER_KEY] = self._ot_trials[trial_id].number
        return config

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        try:
            super().on_trial_result(trial_id, result)
        except optuna.exceptions.UpdateFinishedTrialError:
            # The trial ended after Tune last saved its state and before the driver died, so the resumed sweep
            # runs it again from its checkpoint (see on_trial_complete); Optuna already has its values.
            pass

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        if trial_id in self._completed_trials or trial_id not in self._ot_trials:
            return super().on_trial_complete(trial_id, result, error)
        state = _STATES[outcome(result, error)]
        value = result.get(self.metric) if (result and state == TrialState.COMPLETE) else None
        ot_trial = self._ot_trials[trial_id]
        if state == TrialState.COMPLETE and value is None:
            state = TrialState.FAIL  # finished without the objective: nothing to learn from
        try:
            if error:
                ot_trial.set_user_attr(CRASHED_ATTR, True)
            self._ot_study.tell(ot_trial, value, state=state)
        except (ValueError, RuntimeError):  # "Cannot tell a COMPLETE trial", UpdateFinishedTrialError
            # Told already: the trial ended after Tune last saved its state and before the driver died, so the
            # resumed sweep ran it again; Optuna keeps its first verdict.
            if not any(
                t.number == ot_trial.number and t.state.is_finished() for t in self._ot_study.get_trials(deepcopy=False)
            ):
                raise
        self._completed_trials.add(trial_id)


class ResumableConcurrencyLimiter(ConcurrencyLimiter):
    """Ray's ``ConcurrencyLimiter``, letting the end of a resumed crashed trial reach the searcher.

    The limiter drops the completion of a trial it no longer counts as live, and a trial that crashed left that
    set when it ended. When ``tune.py --resume`` has Tune carry such a trial on, its end would never reach Optuna
    and the retry ``PruningAwareOptunaSearch.restore`` opened for it would stay RUNNING.
    """

    def on_trial_complete(self, trial_id: str, result: Optional[dict] = None, error: bool = False) -> None:
        reopened = getattr(self.searcher, "reopened", set())
        if trial_id not in self.live_trials and trial_id in reopened:
            self.searcher.reopened = reopened - {trial_id}
            return self.searcher.on_trial_complete(trial_id, result=result, error=error)
        return super().on_trial_complete(trial_id, result=result, error=error)


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
