"""The searcher tells Optuna how each trial really ended (Ray's OptunaSearch says COMPLETE for trials ASHA
stopped early and for trials that raised after reporting)."""

from __future__ import annotations

import optuna
import pytest
from ray.tune.search.optuna import OptunaSearch

from trainables.records.results import EVALUATION_DONE, FAILURE_REASON, TRIAL_NUMBER_KEY, failure_reason
from trainables.records.selection import tie_broken
from trainables.sweep.searcher import PruningAwareOptunaSearch

METRIC = "val/knn/acc/frac_1.0"


def _drive(searcher_cls, tmp_path):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    searcher = searcher_cls(
        space={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)},
        metric=METRIC,
        mode="max",
        sampler=optuna.samplers.TPESampler(seed=0),
        study_name="s",
        storage=storage,
    )
    for trial_id in ("finished", "pruned", "failed"):
        assert "lr" in searcher.suggest(trial_id)
    for epoch in (1, 2):
        for trial_id in ("finished", "pruned", "failed"):
            if trial_id == "pruned" and epoch == 2:
                continue
            searcher.on_trial_result(trial_id, {METRIC: 0.5 + 0.1 * epoch, "training_iteration": epoch})
    searcher.on_trial_complete("finished", {METRIC: 0.9, "training_iteration": 2, EVALUATION_DONE: 1})
    searcher.on_trial_complete("pruned", {METRIC: 0.6, "training_iteration": 1})
    searcher.on_trial_complete(
        "failed",
        {METRIC: 0.7, "training_iteration": 2, FAILURE_REASON: "CollapseError: embeddings collapsed"},
        error=True,
    )
    return optuna.load_study(study_name="s", storage=storage)


def test_pruned_and_failed_trials_reach_optuna_as_such(tmp_path):
    study = _drive(PruningAwareOptunaSearch, tmp_path)
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL]
    assert study.trials[0].value == pytest.approx(0.9)
    assert study.trials[1].intermediate_values == {1: pytest.approx(0.6)}
    assert study.best_trial.number == 0


def test_a_trial_run_again_after_a_resume_keeps_its_first_verdict(tmp_path):
    """A trial that ended after Tune last saved its state, before the driver died, is run again on --resume: the
    restored searcher reports its epochs and tells Optuna a second time, which must not fail the trial (nor
    the sweep); Optuna keeps the first verdict."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    searcher = PruningAwareOptunaSearch(
        space={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)},
        metric=METRIC,
        mode="max",
        study_name="s",
        storage=storage,
    )
    searcher.suggest("t")
    searcher.on_trial_complete("t", {METRIC: 0.9, "training_iteration": 2, EVALUATION_DONE: 1})
    searcher._completed_trials.discard("t")  # as restored from the state Tune saved before the trial ended
    searcher.on_trial_result("t", {METRIC: 0.7, "training_iteration": 2})  # its epochs are reported again
    searcher.on_trial_complete("t", {METRIC: 0.8, "training_iteration": 2, EVALUATION_DONE: 1})
    searcher._completed_trials.discard("t")
    searcher.on_trial_complete("t", None, error=True)
    (trial,) = optuna.load_study(study_name="s", storage=storage).trials
    assert trial.state == optuna.trial.TrialState.COMPLETE and trial.value == pytest.approx(0.9)


def test_rays_own_searcher_still_has_the_bug_we_fix(tmp_path):
    # If Ray fixes this upstream, this test fails and PruningAwareOptunaSearch can be retired.
    study = _drive(OptunaSearch, tmp_path)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 3


def test_failure_reason_prefers_the_reported_reason_then_the_traceback():
    assert failure_reason(None, {FAILURE_REASON: "CollapseError: x"}) == "CollapseError: x"
    traceback = (
        "Traceback (most recent call last):\n  File ...\nselfsup.pretrain.NonFiniteLossError: loss became "
        "nan at epoch 3, step 2\n\nThe above exception ...\nray.exceptions.RayTaskError: boom"
    )
    assert failure_reason(traceback) == "NonFiniteLossError: loss became nan at epoch 3, step 2"
    assert failure_reason("ValueError: something else") == "ValueError: something else"
    assert failure_reason(None) == "unknown error (no traceback recorded)"


@pytest.mark.parametrize("mode,values", [("max", [0.75, 0.75, 0.75, 0.5]), ("min", [0.25, 0.25, 0.25, 0.5])])
def test_equal_objectives_rank_by_trial_number_whatever_order_trials_finish(tmp_path, mode, values):
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp_path / 'optuna.db'}")
    searcher = PruningAwareOptunaSearch(
        space={"lr": optuna.distributions.FloatDistribution(1e-4, 1e-2, log=True)},
        metric=METRIC,
        mode=mode,
        sampler=optuna.samplers.TPESampler(seed=0),
        study_name="ties",
        storage=storage,
    )
    configs = [searcher.suggest(f"t{number}") for number in range(4)]
    assert [config[TRIAL_NUMBER_KEY] for config in configs] == [0, 1, 2, 3]
    for number in (2, 3, 0, 1):  # the tied trials finish latest-created first
        final = tie_broken(values[number], configs[number][TRIAL_NUMBER_KEY], mode)  # as the trial reports it
        searcher.on_trial_complete(f"t{number}", {METRIC: final, EVALUATION_DONE: 1})
    study = optuna.load_study(study_name="ties", storage=storage)
    assert study.best_trial.number == 0
    # The tie-break is invisible at the objective's resolution.
    assert [t.value for t in study.trials] == pytest.approx(values, abs=1e-9)
    assert len({t.value for t in study.trials}) == 4
